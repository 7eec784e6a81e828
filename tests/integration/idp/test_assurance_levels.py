"""Assurance levels against the real Keycloak, bus and population-registry simulator (R4, flow 2)."""
from __future__ import annotations

import pytest

from simulators.channels.signin import SignInError


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}

L2_ROUTE = "/api/v1/identity/enterprises"  # registering an enterprise needs L2


def test_l1_citizen_gets_the_rfc9470_challenge_then_passes_after_registry_check(client, people, channels, workers):
    person = people.create("李", "二级")
    tokens = channels.sign_in("web-portal", person)
    me = client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status_code == 200 and me.json["assurance_level"] == 1 and me.json["caller"] == "channel/web-portal"
    assert me.json["resident_id"] != person["resident_id"] and "*" in me.json["resident_id"]

    refused = client.post(L2_ROUTE, json={"uscc": "91340100MA2N00019X", "name": "x", "legal_representative": "李二级"},
                          headers=bearer(tokens))
    assert refused.status_code == 401
    assert refused.json["code"] == "insufficient_user_authentication"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"')
    assert 'acr_values="L2 L3"' in challenge and "error_description=" in challenge

    calls_before = workers.calls("population", "VerifyIdentity")
    verified = client.post("/api/v1/identity/verifications/population-registry", headers=bearer(tokens))
    assert verified.status_code == 200, verified.json
    assert verified.json["level_before"] == 1 and verified.json["assurance_level"] == 2
    assert workers.calls("population", "VerifyIdentity") == calls_before + 1  # through the bus to the registry

    # The old token still says L1; a refreshed one carries L2 and passes the level check.
    assert client.get("/api/v1/me", headers=bearer(tokens)).json["assurance_level"] == 1
    stepped_up = channels.refresh("web-portal", tokens)
    assert client.get("/api/v1/me", headers=bearer(stepped_up)).json["assurance_level"] == 2
    passed = client.post(L2_ROUTE, json={"uscc": "91340100MA2N00019", "name": "x", "legal_representative": "李二级"},
                         headers=bearer(stepped_up))
    assert passed.status_code == 422 and passed.json["code"] == "invalid_identifier"  # past the level gate


def test_registry_mismatch_keeps_the_person_at_l1(client, people, channels, workers):
    person = people.create("王", "不符", in_registry=False)
    workers.admin("/population/_admin/people", {"name": "王真名", "idNumber": person["resident_id"]})
    tokens = channels.sign_in("mobile-app", person)
    refused = client.post("/api/v1/identity/verifications/population-registry", headers=bearer(tokens))
    assert refused.status_code == 422 and refused.json["code"] == "not_verified"
    assert refused.json["details"]["reason"] == "name_mismatch"
    assert person["resident_id"] not in refused.get_data(as_text=True)
    assert client.get("/api/v1/me", headers=bearer(channels.refresh("mobile-app", tokens))).json["assurance_level"] == 1


def test_clerk_in_person_verification_raises_to_l3(client, people, channels, db):
    from sqlalchemy import select

    from store.models.identity import IdentityVerification

    person = people.create("赵", "柜台")
    citizen = channels.sign_in("mobile-app", person)
    clerk = channels.sign_in("service-hall", username="clerk01", password="Hefei-Demo-2026")
    body = {"resident_id": person["resident_id"], "document": "resident_id_card"}

    assert client.post("/api/v1/identity/verifications/in-person", json=body, headers=bearer(citizen)).status_code == 403
    done = client.post("/api/v1/identity/verifications/in-person", json=body, headers=bearer(clerk))
    assert done.status_code == 200, done.json
    assert done.json["assurance_level"] == 3 and done.json["method"] == "in_person"
    # The account is re-bound to the person at the counter (issue 15): earlier sessions are over, and
    # they sign in with the one-time password from the counter, then choose their own.
    assert done.json["rebound"] is True
    with pytest.raises(SignInError):
        channels.refresh("mobile-app", citizen)
    again = channels.sign_in("mobile-app", username=person["resident_id"], password=done.json["initial_password"],
                             new_password="Hefei-Mine-2026x")
    assert client.get("/api/v1/me", headers=bearer(again)).json["assurance_level"] == 3
    with db.unit_of_work() as session:
        record = session.scalars(select(IdentityVerification).where(IdentityVerification.subject == person["id"])).one()
        assert record.level_after == 3 and record.client == "channel/service-hall" and "*" in record.resident_id_masked


def test_clerk_from_another_channel_is_refused(client, channels, people):
    person = people.create()
    clerk_on_portal = channels.sign_in("web-portal", username="clerk01", password="Hefei-Demo-2026")
    r = client.post("/api/v1/identity/verifications/in-person", json={"resident_id": person["resident_id"]},
                    headers=bearer(clerk_on_portal))
    assert r.status_code == 403 and r.json["code"] == "wrong_channel"
