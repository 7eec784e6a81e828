"""Issue 15, finding 12 (gateway parts), replayed on the real stack:

- no rate limits: 100 notice creations in 1.5 s, registrations unthrottled -> 429 + Retry-After;
- unhandled 500s on out-of-range query values (`until=9999-12-31`, a huge `offset`, a huge run id)
  and on 40 concurrent pickup tries (`StaleDataError`) -> a clear 4xx / 409;
- protected POSTs validated the body before the token (an anonymous caller learnt the reason
  codes) -> every protected route answers 401 first.
"""
from __future__ import annotations

import random
import re
import threading
import uuid
from datetime import date

import pytest

from kernel.identifiers import make_resident_id
from store.ratelimit import limit_of
from tests.security.conftest import assert_error
from tests.support.addresses import ADDRESS
from tests.support.gateway_server import gateway_with_simulators
from tests.support.keycloak_users import DEMO_PASSWORD, People, sign_in

PASSWORD = "Limits-Test-2026x"


@pytest.fixture(scope="module")
def clerk(settings):
    return sign_in(settings, "clerk01", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def staff(settings):
    return {"finance": sign_in(settings, "finance01", DEMO_PASSWORD),
            "supervisor": sign_in(settings, "supervisor01", DEMO_PASSWORD)}


def _ip() -> str:
    return f"198.51.100.{random.randint(1, 254)}"


def _wrong_check_character(resident_id: str) -> str:
    """The ID number with a wrong check character: the registration is refused (422), no account is made."""
    return resident_id[:17] + ("0" if resident_id[17] != "0" else "1")


def test_notice_creation_is_rate_limited_per_subject(sec, settings):
    limit = limit_of("notice-create/subject")
    with People(settings, PASSWORD) as people:
        _resident_id, token = people.signed_in("王", level=2)
        codes = []
        # The bucket refills while the loop runs (max_hits per per_seconds): a few more may pass.
        for _ in range(limit.max_hits + 10):
            r = sec.create(token, {"case_id": f"CASE-RL-{uuid.uuid4().hex[:10]}", "items": [{"code": "SJ-YJ-01"}]})
            codes.append(r.status_code)
            if r.status_code == 429:
                break
    assert codes[:limit.max_hits] == [201] * limit.max_hits and set(codes[:-1]) == {201}, codes
    assert_error(r, 429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= limit.per_seconds


def test_registrations_are_rate_limited_per_address(sec):
    limit = limit_of("registration/ip")
    client = sec.app.test_client()
    ip = _ip()
    codes = []
    for n in range(limit.max_hits + 1):
        # Refused later for the check character: the attempt still counts, no account is made.
        r = client.post("/api/v1/identity/registrations", environ_base={"REMOTE_ADDR": ip}, json={
            "resident_id": _wrong_check_character(make_resident_id("110101", date(1990, 3, 7), 100 + n)),
            "family_name": "测", "given_name": "试",
            "password": "Registration-2026x"})
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    assert 429 not in codes[:-1] and len(codes) == limit.max_hits + 1, codes
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    other = client.post("/api/v1/identity/registrations", environ_base={"REMOTE_ADDR": _ip()}, json={
        "resident_id": _wrong_check_character(make_resident_id("110101", date(1990, 3, 7), 99)), "family_name": "测", "given_name": "试", "password": "Registration-2026x"})
    assert other.status_code != 429  # another address is not throttled


@pytest.mark.parametrize("role,path", [
    ("supervisor", "/api/v1/supervision/statistics?until=9999-12-31"),
    ("supervisor", "/api/v1/supervision/statistics?since=0001-01-01&until=0001-01-02"),
    ("finance", "/api/v1/reconciliation/discrepancies?offset=99999999999999999999"),
    ("finance", "/api/v1/reconciliation/discrepancies?run_id=9223372036854775808"),
    ("finance", "/api/v1/reconciliation/discrepancies?since=9999-12-31"),
    ("finance", "/api/v1/reconciliation/runs?until=9999-12-31"),
    ("finance", "/api/v1/reconciliation/runs/99999999999999"),
    ("finance", "/api/v1/reconciliation/runs/99999999999999/export"),
    ("finance", "/api/v1/reconciliation/discrepancies/99999999999999"),
])
def test_out_of_range_query_values_are_a_clear_4xx(sec, staff, role, path):
    r = sec.client.get(path, headers={"Authorization": f"Bearer {staff[role]}"})
    assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.get_json()["code"] and r.get_json()["message"]


@pytest.fixture(scope="module")
def sqlite_gateway(settings, tmp_path_factory):
    """The gateway on the default database of `make run` (SQLite, where the tester saw StaleDataError:
    SQLite has no row locks, so concurrent updates of one leg collide on its version column)."""
    from store import migrate
    from store.db import Database

    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite-gateway') / 'govlink.sqlite3'}"
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    with gateway_with_simulators(settings, database_url=url) as (app, _gateway_url, _sim_url):
        yield app


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_forty_concurrent_pickup_tries_answer_cleanly(sec, request, clerk, citizen, backend):
    app = sec.app if backend == "postgresql" else request.getfixturevalue("sqlite_gateway")
    created = app.test_client().post("/api/v1/logistics/legs", headers={"Authorization": f"Bearer {clerk}"}, json={
        "case_id": f"CASE-PU-{uuid.uuid4().hex[:10]}", "service_code": "340100-GA-JSZ-01", "kind": "results",
        "carrier": "sf", "address": ADDRESS, "applicant_key": citizen[0]})
    assert created.status_code == 201, created.get_json()
    leg = created.get_json()
    wrong = "000000" if leg["pickup_code"] != "000000" else "111111"
    statuses, start = [], threading.Barrier(40)

    def attempt():
        client = app.test_client()
        start.wait()
        r = client.post(f"/api/v1/logistics/legs/{leg['id']}/pickup", json={"code": wrong},
                        headers={"Authorization": f"Bearer {clerk}"})
        statuses.append((r.status_code, (r.get_json() or {}).get("code")))

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == 40
    assert all(status in (409, 422, 423, 503) for status, _code in statuses), statuses
    assert sum(1 for status, _ in statuses if status == 422) <= 5  # the attempts limit held
    right = app.test_client().post(f"/api/v1/logistics/legs/{leg['id']}/pickup", json={"code": leg["pickup_code"]},
                                   headers={"Authorization": f"Bearer {clerk}"})
    assert right.status_code == 423  # locked after the wrong tries


def _protected_operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("post", "put", "patch", "delete") and operation.get("security"):
                yield method, re.sub(r"\{[^}]+\}", "1", path)


def test_every_protected_route_authenticates_before_it_reads_the_body(sec):
    spec = sec.client.get("/api/openapi.json").get_json()
    operations = list(_protected_operations(spec))
    assert ("post", "/api/v1/payments") in operations and len(operations) >= 10
    wrong = []
    for method, path in operations:
        for body in ({"nonsense": True, "rating": 99, "payer_key": "x"}, None):
            r = sec.client.open(path, method=method.upper(), json=body,
                                headers={"Idempotency-Key": "anonymous-probe-1"})
            if r.status_code != 401 or r.get_json().get("code") != "invalid_token":
                wrong.append((method, path, r.status_code, (r.get_json() or {}).get("code")))
        bad_json = sec.client.open(path, method=method.upper(), data=b'{"a": ', content_type="application/json")
        if bad_json.status_code != 401:
            wrong.append((method, path, bad_json.status_code, "malformed body"))
    assert not wrong, wrong
