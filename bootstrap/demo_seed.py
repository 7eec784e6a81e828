"""`make run`'s demo seed (issue 20): a day of traffic driven through the real paths, so that every
console has something to show on a fresh clone.

Nothing is inserted behind the system's back. The seed is a client like any other: it signs in on
the realm (the demo accounts of `govlink realm demo-users`, the case-handling subsystem's client
credentials), calls the gateway's HTTP API, pays on the payment simulator's pay page, moves a
waybill along on the courier simulator (which pushes to the gateway's callbacks), downloads the
platform's statement as `govlink payments import-statement` does, and starts the reconciliation from
the API as finance01 would. The gateway, the bus, the connector and logistics workers and the
scheduler do the rest. It leaves:

- department calls over SOAP (population, enterprise registries) and REST (e-licence) in the
  message log; one call the enterprise registry answers with its SOAP fault (`PARKED_FAULT`, its
  database under maintenance): parked with that fault as its reason, its step failed;
- five payment notices: two paid, two paid whose confirmations the platform drops (its switch), so the
  day's statement has payments our ledger does not show as paid, and one left unpaid;
- two courier legs, one delivered, one picked up and still in transit;
- a reconciliation run over the statement, with those discrepancies;
- an overdue supervised step with its warning: a call made while the population registry is down
  (HTTP 500) waits in the retry tiers past its 30 s, the check warns, and it is answered late once the
  registry is back; and a complaint.

Idempotent: a complaint on the demo case means the day was seeded; nothing is added again.
Refused in production (`GOVLINK_ENV=production`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from kernel.clock import beijing_today
from kernel.identifiers import make_resident_id, make_uscc

MOBILE_REDIRECT = "http://127.0.0.1/mobile/cb"  # the mobile-app channel's loopback redirect (config/realm.py)
STAFF_PASSWORD = "Hefei-Demo-2026"  # the demo accounts' (config/realm.py demo_users)
CITIZEN_CASE = "DEMO-CASE-0001"  # the demo citizen's case: verification, a courier leg, the complaint
HELD_CASE = "DEMO-CASE-0002"  # the call the enterprise registry answers with a fault (parked)
# The enterprise registry's fault for that call, as the department sends it (the simulator still serves its WSDL).
PARKED_FAULT = ("Server.RegistryMaintenance", "企业登记数据库维护中，暂停查询")
LATE_CASE = "DEMO-CASE-0005"  # the call answered late (overdue, warned)
OFFICE_CASE = "DEMO-CASE-0003"  # the case-handling subsystem's calls
SECOND_LEG_CASE = "DEMO-CASE-0004"
SERVICE_CODE = "340100-GA-JSZ-01"  # 机动车驾驶证期满换证: results may go by courier (config/services)
STEP_LIMIT_SECONDS = 31  # the department-reply step's limit (config/supervision.yaml) and a second
PERSON = ("张伟", make_resident_id("340104", date(1985, 3, 12), 131))  # in the population simulator's seed
ENTERPRISE = make_uscc(org_body="MA2N0001")  # in the enterprise simulator's seed
ADDRESS = {"name": "王晓明", "phone": "13805511234", "province": "安徽", "city": "合肥市", "district": "包河区",
           "detail": "徽州大道1号 3栋201室"}


class SeedError(RuntimeError):
    """A step of the seed did not get the answer it needs; the message says which and what came back."""


class Refused(SeedError):
    """The seed may not run here (production)."""


@dataclass
class Seed:
    """The seed's clients: the gateway, the simulators, the realm; `say` reports progress."""

    settings: object
    runtime: object
    say: Callable[[str], None] = print
    tokens: dict = field(default_factory=dict)

    def __post_init__(self):
        from kernel.http import http_session

        self.http = http_session(30.0, user_agent="govlink-demo-seed/1.0")
        self.base = self.settings.public_base_url.rstrip("/")
        self.sims = self.settings.simulators_url.rstrip("/")

    # ------------------------------------------------------------------ tokens
    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = self._client_token(who) if who == "case-system" else self._user_token(who)
        return self.tokens[who]

    def _client_token(self, client_id: str) -> str:
        from config.realm import derived_secret

        r = self.http.post(f"{self.settings.issuer}/protocol/openid-connect/token", data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": derived_secret(self.settings, client_id)})
        _expect(r, 200, f"a token for {client_id}")
        return r.json()["access_token"]

    def _user_token(self, username: str) -> str:
        from simulators.channels.signin import Browserless

        return Browserless(self.settings.issuer).sign_in("mobile-app", MOBILE_REDIRECT, username=username,
                                                         password=STAFF_PASSWORD)["access_token"]

    # ------------------------------------------------------------------ HTTP
    def api(self, method: str, who: str, path: str, body=None, *, headers=None, expect=(200, 201), what=""):
        r = self.http.request(method, f"{self.base}/api/v1{path}", json=body,
                              headers={"Authorization": f"Bearer {self.token(who)}", **(headers or {})})
        _expect(r, expect, what or f"{method} {path}")
        return r.json() if r.content else {}

    def control(self, system: str, **changes) -> None:
        _expect(self.http.post(f"{self.sims}/{system}/_control", json=changes), 200, f"the {system} simulator's switch")

    def wait_until(self, probe: Callable[[], object], what: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise SeedError(f"gave up waiting for {what} after {timeout:.0f} s")
            time.sleep(0.5)


def _expect(response, statuses, what: str) -> None:
    statuses = (statuses,) if isinstance(statuses, int) else statuses
    if response.status_code not in statuses:
        raise SeedError(f"{what}: HTTP {response.status_code} {response.text[:300]}")


# ---------------------------------------------------------------------- readiness and the marker
def wait_ready(seed: Seed, seconds: float) -> None:
    """Until the gateway answers ready and the simulators answer (the workers start alongside)."""
    def ready():
        try:
            return (seed.http.get(f"{seed.base}/readyz", timeout=5).status_code == 200
                    and seed.http.get(f"{seed.sims}/population/_control", timeout=5).status_code == 200)
        except Exception:
            return False
    seed.wait_until(ready, "the gateway's /readyz and the simulators", timeout=seconds)


def already_seeded(seed: Seed) -> bool:
    found = seed.api("GET", "supervisor01", f"/supervision/complaints?case_id={CITIZEN_CASE}", what="the complaints")
    return bool(found.get("complaints"))


# ---------------------------------------------------------------------- the day
def department_calls(seed: Seed) -> None:
    """SOAP and REST calls of the case-handling subsystem, answered through the bus."""
    call = seed.api("POST", "case-system", "/services/population-registry/verify-identity",
                    {"payload": {"name": PERSON[0], "id_number": PERSON[1]}, "case_id": OFFICE_CASE},
                    what="population registry verify-identity")
    seed.say(f"  population registry (SOAP) verify-identity: match={call['result'].get('match')}")
    seed.api("POST", "case-system", "/services/enterprise-registry/get-registration",
             {"payload": {"uscc": ENTERPRISE}, "case_id": OFFICE_CASE}, what="enterprise registry get-registration")
    found = seed.api("POST", "case-system", "/services/e-licence/list-licences",
                     {"payload": {"holder_id": ENTERPRISE}, "case_id": OFFICE_CASE}, what="e-licence list-licences")
    seed.say(f"  enterprise registry (SOAP) get-registration; e-licence (REST): {found['result'].get('total')} licence(s)")


def _first_call(seed: Seed, path: str, body: dict, headers: dict, timeout: float = 60.0):
    """The first call of the day: until the connector worker (started alongside the gateway) has
    declared its queues, the bus cannot route it (503); try again for a while."""
    deadline = time.monotonic() + timeout
    while True:
        r = seed.http.post(f"{seed.base}/api/v1{path}", json=body,
                           headers={"Authorization": f"Bearer {seed.token('case-system')}", **headers})
        if r.status_code != 503 or time.monotonic() > deadline:
            return r
        time.sleep(2)


def parked_call(seed: Seed) -> None:
    """The enterprise registry answers its SOAP fault: the asynchronous call is parked with the fault as its
    reason (its step ends failed). It is the registry's first call of the day: the worker reads the WSDL,
    which the department still serves, then meets the fault on the call itself."""
    seed.control("enterprise", mode="fault", fault_code=PARKED_FAULT[0], fault_string=PARKED_FAULT[1])
    try:
        r = _first_call(seed, "/services/enterprise-registry/get-registration",
                        {"payload": {"uscc": ENTERPRISE}, "case_id": HELD_CASE}, {"Prefer": "respond-async"})
        _expect(r, 202, "an asynchronous call")
        accepted = r.json()
        started = time.monotonic()
        status_path = accepted["status_url"].removeprefix("/api/v1")
        seed.wait_until(lambda: seed.api("GET", "case-system", status_path)["status"] == "failed",
                        "the enterprise registry's fault")
    finally:
        seed.control("enterprise", mode="normal")
    seed.say(f"  enterprise registry answered SOAP fault {PARKED_FAULT[0]}: one call parked, its supervised step failed")


def citizen_calls(seed: Seed, citizen: str) -> None:
    seed.api("POST", citizen, "/services/population-registry/verify-identity",
             {"payload": {"name": "王晓明", "id_number": citizen}, "case_id": CITIZEN_CASE},
             what="the citizen's verification")
    seed.say("  the demo citizen checked their name and ID number (mobile app)")


def courier_legs(seed: Seed, citizen: str) -> None:
    """Two results legs by SF Express: postage paid, booked by the logistics worker, scanned along."""
    legs = []
    for case_id in (CITIZEN_CASE, SECOND_LEG_CASE):
        leg = seed.api("POST", citizen, "/logistics/legs", {"case_id": case_id, "service_code": SERVICE_CODE,
                                                           "kind": "results", "carrier": "sf", "address": ADDRESS},
                       expect=201, what="a courier leg")
        _pay(seed, leg["postage"]["pay_url"])
        legs.append(leg)
    booked = [seed.wait_until(lambda leg=leg: _booked(seed, citizen, leg["id"]), "the leg's booking") for leg in legs]
    _advance(seed, booked[0]["waybill_no"], to="80")  # delivered
    _advance(seed, booked[1]["waybill_no"], steps=2)  # picked up, in transit
    seed.say(f"  courier legs: {booked[0]['waybill_no']} delivered, {booked[1]['waybill_no']} in transit")


def _booked(seed: Seed, who: str, leg_id: str):
    leg = seed.api("GET", who, f"/logistics/legs/{leg_id}")
    return leg if leg.get("waybill_no") else None


def _advance(seed: Seed, waybill_no: str, **how) -> None:
    r = seed.http.post(f"{seed.sims}/sf-express/_control/advance", json={"waybill_no": waybill_no, **how})
    _expect(r, 200, "SF Express scans")


def _pay(seed: Seed, pay_url: str) -> None:
    """Pay on the platform's pay page, as the payer would."""
    _expect(seed.http.post(pay_url, data={"pay_mode": "3"}, headers={"Accept": "application/json"}), 200, "paying")


def payments(seed: Seed) -> None:
    """Five notices of the traffic police (case-handling subsystem): two paid, two paid whose confirmations
    the platform drops (the statement's discrepancies, until the poller asks a minute later), one unpaid."""
    notices = []
    for n, qty in enumerate((1, 2, 3, 1, 2), start=1):
        notices.append(seed.api("POST", "case-system", "/payments", {
            "agency_code": "340100-GA-JJ", "payer_key": ENTERPRISE, "payer_name": "合肥示例科技有限公司",
            "case_id": f"DEMO-PAY-{n:04d}", "items": [{"code": "GA-0101", "name": "驾驶证工本费", "unit": "本",
                                                      "unit_price_fen": 1000, "quantity": qty}]},
            headers={"Idempotency-Key": f"demo-seed-notice-{n}"}, expect=(200, 201), what="a payment notice"))
    for notice in notices[:2]:
        _pay(seed, notice["pay_url"])
    seed.control("nontax", callbacks="drop")
    try:
        for notice in notices[2:4]:
            _pay(seed, notice["pay_url"])
    finally:
        seed.control("nontax", callbacks="normal")
    for notice in notices[:2]:
        seed.wait_until(lambda n=notice: seed.api("GET", "case-system", f"/payments/{n['id']}")["status"] == "paid",
                        "a payment's confirmation")
    seed.say("  payment notices: 2 paid, 2 paid with their confirmations lost, 1 unpaid")


def reconciliation(seed: Seed) -> dict:
    """The day's statement, downloaded and kept (as `govlink payments import-statement`), then the run."""
    day = beijing_today()
    statement, _created = seed.runtime.payments.import_statement("nontax", day)
    run = seed.api("POST", "finance01", "/reconciliation/runs", {"kind": "payments", "business_date": day.isoformat()},
                   expect=201, what="the reconciliation run")
    seed.say(f"  statement nontax {day}: {statement.line_count} lines; run {run['id']}: {run['matched_count']} matched, "
             f"{run['discrepancy_count']} discrepancies")
    return run


def complaint(seed: Seed, citizen: str) -> None:
    def filed():
        r = seed.http.post(f"{seed.base}/api/v1/supervision/cases/{CITIZEN_CASE}/complaints",
                           json={"text": "结果寄送太慢，请核实。"}, headers={"Authorization": f"Bearer {seed.token(citizen)}"})
        if r.status_code == 404:  # the case reaches supervision with the message log's next flush
            return None
        _expect(r, 201, "the complaint")
        return r.json()
    seed.wait_until(filed, "the citizen's case to reach supervision")
    seed.say("  the demo citizen filed a complaint")


def overdue_step(seed: Seed) -> None:
    """A call made while the population registry is down waits in the retry tiers past its step's limit;
    the check the scheduler runs every minute (run here, not waited for) warns; the registry comes
    back and the call is answered late (its step ends overdue)."""
    from supervision.check import run_check

    seed.control("population", mode="fail")
    try:
        r = _first_call(seed, "/services/population-registry/verify-identity",
                        {"payload": {"name": PERSON[0], "id_number": PERSON[1]}, "case_id": LATE_CASE},
                        {"Prefer": "respond-async"})
        _expect(r, 202, "an asynchronous call")
        started = time.monotonic()
        status_path = r.json()["status_url"].removeprefix("/api/v1")
        time.sleep(max(0.0, started + STEP_LIMIT_SECONDS - time.monotonic()))
        seed.say(f"  supervision check: {run_check(seed.runtime)}")
    finally:
        seed.control("population", mode="normal")
    seed.wait_until(lambda: seed.api("GET", "case-system", status_path)["status"] == "succeeded",
                    "the late call's answer (its last retry tier)", timeout=180)
    time.sleep(1.0)  # the worker's message-log writer gathers records for up to 0.2 s
    seed.say(f"  population registry back, the call answered late; supervision check: {run_check(seed.runtime)}")


def run(settings, runtime, *, say=print, wait_seconds: float = 0) -> str:
    """Seed the demo day; returns 'seeded' or 'already'. Refused in production."""
    if settings.env == "production":
        raise Refused("the demo seed never runs in production (GOVLINK_ENV=production): it drives made-up "
                      "calls, payments and complaints into the system")
    from config.realm import demo_users

    seed = Seed(settings, runtime, say)
    if wait_seconds:
        wait_ready(seed, wait_seconds)
    if already_seeded(seed):
        return "already"
    started = time.monotonic()
    citizen = demo_users()[0]["username"]
    parked_call(seed)
    department_calls(seed)
    citizen_calls(seed, citizen)
    courier_legs(seed, citizen)
    payments(seed)
    reconciliation(seed)
    complaint(seed, citizen)
    overdue_step(seed)
    say(f"  seeded in {time.monotonic() - started:.0f} s")
    return "seeded"
