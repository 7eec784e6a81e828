"""`govlink connectors describe` and `govlink connectors check` on the three real WSDLs, over real HTTP."""
from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from connectors.access import AccessRights
from connectors.cli import connectors
from connectors.registry import Registry
from tests.support.wsdl_responders import serve

# department -> (a call to make with the generated declaration, unchanged, and what it answers)
CALLS = {
    "tv": ("get-tvstation-string", {"the_area_id": 34},
           {"get_tvstation_string_result": {"string": ["101@安徽卫视", "102@合肥电视台"]}}),
    "customers": ("get-customers-by-name", {"name": "Smith"}, None),
    "greeter": ("send-receive-data", {"in": {"elem1": "x", "elem2": "y", "elem3": 1}},
                {"out": {"elem1": "y", "elem2": "x", "elem3": 2}}),
}


@pytest.fixture(scope="module")
def departments():
    started = {name: serve(name) for name in CALLS}
    yield {name: responder for name, (responder, _stop) in started.items()}
    for _responder, stop in started.values():
        stop()


def _describe(url: str) -> str:
    result = CliRunner().invoke(connectors, ["describe", url])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("name", CALLS)
def test_describe_output_works_as_a_declaration_with_its_grant(departments, tmp_path, name):
    responder = departments[name]
    text = _describe(responder.wsdl_url())
    service = yaml.safe_load(text)["service"]
    directory = tmp_path / "connectors"
    directory.mkdir()
    (directory / f"{service}.yaml").write_text(text, encoding="utf-8")  # no edits at all

    grant = re.search(r"^#   - (\{clients: .*\})$", text, re.M).group(1)
    (tmp_path / "access.yaml").write_text(f"grants:\n  - {grant}\n", encoding="utf-8")
    registry = Registry.load(directory, environ={})
    try:
        rights = AccessRights.load(tmp_path / "access.yaml", catalogue=registry.catalogue())
        operation, payload, expected = CALLS[name]
        rights.check("channel/service-hall", service, operation)
        answer = registry.get(service).call(operation, payload)
        if expected is not None:
            assert answer == expected
        else:
            assert answer["return"][0]["customer_id"] == 0 and answer["return"][0]["birth_date"] == "2009-08-02"
            assert answer["return"][1]["num_orders"] is None and answer["return"][1]["address"] == []
    finally:
        registry.close()
    result = CliRunner().invoke(connectors, ["check", str(directory / f"{service}.yaml")])
    assert result.exit_code == 0, result.output
    assert f"{service}" in result.output and "ok" in result.output


def test_describe_lists_every_port_and_chooses_soap_11(departments):
    text = _describe(departments["tv"].wsdl_url())
    assert "ChinaTVprogramWebService/ChinaTVprogramWebServiceSoap: soap11, binding ChinaTVprogramWebServiceSoap  <- chosen" in text
    assert "ChinaTVprogramWebService/ChinaTVprogramWebServiceHttpGet: http-get" in text
    declaration = yaml.safe_load(text)
    assert declaration["port"] == "ChinaTVprogramWebServiceSoap"
    assert declaration["operations"]["get-tvprogram-string"]["request"] == {
        "the_tvchannel_id": "theTVchannelID", "the_date": "theDate", "user_id": "userID"}
    text12 = CliRunner().invoke(connectors, ["describe", departments["tv"].wsdl_url(), "--port",
                                             "ChinaTVprogramWebServiceSoap12"]).output
    assert yaml.safe_load(text12)["port"] == "ChinaTVprogramWebServiceSoap12"


def test_describe_of_a_help_page_says_what_to_fix(departments):
    url = departments["tv"].wsdl_url().split("?")[0]
    result = CliRunner().invoke(connectors, ["describe", url])
    assert result.exit_code == 1
    assert f"wsdl {url} is an HTML page (a service help page?), not a WSDL" in result.output


def test_check_reports_every_problem_exactly_and_exits_1(departments, tmp_path):
    good = yaml.safe_load(_describe(departments["customers"].wsdl_url()))
    bad = dict(good, service="customers-bad")
    bad["operations"] = {"find": {"operation": "getCustomersByName", "request": {"who": "customerName"},
                                  "response": {"return[].customerID": "ids[]"}},
                         "remove": {"operation": "deleteCustomer"}}
    for data in (good, bad):
        (tmp_path / f"{data['service']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("service: broken\nkind: soap\n", encoding="utf-8")
    result = CliRunner().invoke(connectors, ["check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    path = tmp_path / "customers-bad.yaml"
    assert f"{path}: operations.find.request: request field 'customerName' is not in the WSDL; it has: name; " \
           f"operations.find.response: response field 'return[].customerID' is not in the WSDL; it has: " \
           f"return[].address[], return[].birthDate, return[].customerId, return[].name, return[].numOrders, " \
           f"return[].revenue, return[].test, return[].type" in lines
    assert f"{path}: operations.remove.operation: customers-bad: operation deleteCustomer (for remove) is not in port " \
           f"CustomerServicePort of the WSDL; it has getCustomersByName, updateCustomer." in lines
    assert any(line.startswith(f"{tmp_path / 'broken.yaml'}: ") and "department" in line for line in lines)
    assert re.search(r"customer-service-service\s+soap\s+CustomerServiceService/CustomerServicePort \(soap11\)\s+2\s+ok",
                     result.output)
    assert "3 problems in 3 declarations." in result.output


def test_check_passes_on_the_shipped_declarations(sim, monkeypatch):
    monkeypatch.setenv("GOVLINK_SIMULATORS_URL", sim.base_url)
    result = CliRunner().invoke(connectors, ["check"])
    assert result.exit_code == 0, result.output
    assert re.search(r"population-registry\s+soap\s+\S+ \(soap11\)\s+2\s+ok", result.output)
