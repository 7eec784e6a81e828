"""A new department service works from a YAML file alone: no Python, only a declaration."""
from __future__ import annotations

from connectors.access import AccessRights
from simulators.enterprise import SEED_ENTERPRISES
from simulators.population import SEED_PEOPLE


def test_new_soap_and_rest_services_from_yaml_only(declare, sim, tmp_path):
    company = SEED_ENTERPRISES[1]
    registry = declare(new=[
        {   # the market-regulation registry seen as a "legal person" service with our own names
            "service": "legal-person-lookup",
            "department": "合肥市市场监督管理局",
            "kind": "soap",
            "wsdl": "${GOVLINK_SIMULATORS_URL}/enterprise/soap?wsdl",
            "timeout_seconds": 3,
            "operations": {
                "representative-of": {
                    "operation": "GetRegistration",
                    "request": {"credit_code": "uscc"},
                    "response": {"legalRepresentative": "representative", "name": "organisation.name",
                                 "status": "organisation.status"},
                    "pii": ["credit_code", "representative"],
                },
            },
        },
        {   # the e-licence store's fetch under another name, passing the answer through unmapped
            "service": "licence-archive",
            "department": "合肥市档案馆",
            "kind": "rest",
            "base_url": "${GOVLINK_SIMULATORS_URL}/e-licence",
            "operations": {"fetch": {"method": "GET", "path": "/licences/{number}", "request": {}}},
        },
    ])
    assert registry.services() == ["legal-person-lookup", "licence-archive"]
    answer = registry.get("legal-person-lookup").call("representative-of", {"credit_code": company.uscc})
    assert answer == {"representative": "王芳", "organisation": {"name": company.name, "status": "存续"}}
    licence = registry.get("licence-archive").call("fetch", {"number": "DZZZ-340100-2021-000002"})
    assert licence["licenceName"] == "居民户口簿" and licence["holderId"] == SEED_PEOPLE[0].idNumber
    assert sim.calls("enterprise", "GetRegistration") == 1

    masked = registry.get("legal-person-lookup").masked("representative-of", {"credit_code": company.uscc})
    assert masked["credit_code"] != company.uscc

    rules = tmp_path / "access.yaml"
    rules.write_text("grants:\n  - {clients: [channel/service-hall], service: legal-person-lookup, operations: ['*']}\n")
    rights = AccessRights.load(rules, catalogue=registry.catalogue())
    rights.check("channel/service-hall", "legal-person-lookup", "representative-of")
    assert not rights.allowed("channel/service-hall", "licence-archive", "fetch")
