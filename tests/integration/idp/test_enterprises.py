"""Enterprises as Keycloak organizations keyed on the USCC, registered through the enterprise registry."""
from __future__ import annotations

import uuid

from kernel.identifiers import make_uscc
from idp.keycloak import admin_client


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _new_uscc() -> str:
    body = "MA" + "".join(c for c in uuid.uuid4().hex.upper() if c in "0123456789ABCDEF")[:6]
    return make_uscc(org_body=body)


def _delete_org(settings, uscc):
    admin = admin_client(settings, settings.realm)
    for org in admin.get_organizations({"q": f"uscc:{uscc}"}):
        admin.delete_organization(org["id"])


def test_legal_representative_registers_and_a_member_acts_for_the_enterprise(client, settings, people, channels, workers):
    rep = people.create("周", "法人", level=2)
    colleague = people.create("吴", "员工", level=2)
    uscc = _new_uscc()
    workers.admin("/enterprise/_admin/enterprises", {"uscc": uscc, "name": "合肥测试科技有限公司", "legalRepresentative": "周法人",
                                                     "legalRepresentativeIdNumber": rep["resident_id"]})
    try:
        rep_tokens = channels.sign_in("web-portal", rep)
        calls = workers.calls("enterprise", "VerifyEnterprise")
        r = client.post("/api/v1/identity/enterprises", headers=bearer(rep_tokens),
                        json={"uscc": uscc.lower(), "name": "合肥测试科技有限公司", "legal_representative": "周法人"})
        assert r.status_code == 201, r.json
        assert r.json["uscc"] == uscc and workers.calls("enterprise", "VerifyEnterprise") == calls + 1
        again = client.post("/api/v1/identity/enterprises", headers=bearer(rep_tokens),
                            json={"uscc": uscc, "name": "合肥测试科技有限公司", "legal_representative": "周法人"})
        assert again.status_code == 409

        added = client.post(f"/api/v1/identity/enterprises/{uscc}/members", headers=bearer(rep_tokens),
                            json={"resident_id": colleague["resident_id"]})
        assert added.status_code == 201, added.json

        # The member asks for the `organization` scope: the token then acts for the enterprise.
        acting = channels.sign_in("mobile-app", colleague, scope="openid organization")
        me = client.get("/api/v1/me", headers=bearer(acting)).json
        assert me["acting_for"] == uscc
        plain = channels.sign_in("mobile-app", colleague)
        assert client.get("/api/v1/me", headers=bearer(plain)).json["acting_for"] is None
        listed = client.get("/api/v1/identity/enterprises", headers=bearer(plain)).json
        assert listed == [{"uscc": uscc, "name": "合肥测试科技有限公司"}]
    finally:
        _delete_org(settings, uscc)


def test_registry_refuses_the_wrong_legal_representative(client, settings, people, channels, workers):
    rep = people.create("郑", "冒名", level=2)
    uscc = _new_uscc()
    workers.admin("/enterprise/_admin/enterprises", {"uscc": uscc, "name": "合肥真实有限公司", "legalRepresentative": "郑真人",
                                                     "legalRepresentativeIdNumber": people.new_resident_id()})
    tokens = channels.sign_in("web-portal", rep)
    r = client.post("/api/v1/identity/enterprises", headers=bearer(tokens),
                    json={"uscc": uscc, "name": "合肥真实有限公司", "legal_representative": "郑冒名"})
    assert r.status_code == 422 and r.json["details"]["reason"] == "legal_representative_mismatch"
    assert admin_client(settings, settings.realm).get_organizations({"q": f"uscc:{uscc}"}) == []


def test_bad_uscc_is_refused_by_govlink(client, people, channels):
    rep = people.create("冯", "错码", level=2)
    uscc = _new_uscc()
    bad = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
    r = client.post("/api/v1/identity/enterprises", headers=bearer(channels.sign_in("web-portal", rep)),
                    json={"uscc": bad, "name": "x", "legal_representative": "冯错码"})
    assert r.status_code == 422 and r.json["details"]["rule"] == "checksum"
