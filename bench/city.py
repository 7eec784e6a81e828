"""A city's month of traffic (issue 18), written into a PostgreSQL database of its own.

    python -m bench.city --scale 0.1             # 100,000 cases (1/10 of the city; the default)
    python -m bench.city --scale 1.0             # the issue's city: see the numbers below

At `--scale 1.0`: 1,000,000 cases over the 30 Beijing days before today, arriving with a daily
rhythm (busy 9-11 and 14-17 Beijing time, quiet at night) and a weekly one (Saturday a third of a
weekday, Sunday a quarter); about 5,000,000 supervised steps (3.4 department replies, 1 payment and
0.3 + 0.3 results dispatch and delivery a case; some late, some failed, the recent ones partly
still open); about 10,000,000 message-log records, chained with the project's own
`bus.message_log.record_hash` (so `govlink audit verify` accepts the chain); 1,000,000 payment
notices; 300,000 delivery legs (one shipment each); ratings of a third of the finished cases and
complaints about 0.5 % of them; and a reconciliation run with 100,000 open discrepancies (for the
finance lists; already at --scale 0.1, scaled down below it). The supervision rollups are written as the check would have kept them.

Seeded (`--seed`, default 18): the same seed and scale give the same data, except the month's
dates, which end yesterday (Beijing). The database (`--database`, default BENCH_CITY_DATABASE, else
govlink_city, or govlink_city_NAME when GOVLINK_DATABASE_URL names govlink_test_NAME, on its server) is dropped, created and migrated with Alembic first, so the schema
is the real one; rows go in with COPY, in the models' shape. Prints `RESULT city generated
cases=... steps=... log=... seconds=...` and the database's size.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import psycopg

from bench.city_db import CITY_DATABASE, DEFAULT_URL, city_url, fresh_database, marker  # noqa: F401 (used by the benches)
from bus.message_log.chain import GENESIS, _row, record_hash
from kernel.clock import BEIJING
from kernel.identifiers import make_resident_id
from supervision.rollups import RATED, Histogram, case_groups, finished_rows, merge_rollup

UTC = timezone.utc


DEPARTMENTS = ["population-registry", "enterprise-registry", "e-licence", "social-security", "housing-fund",
               "civil-affairs", "tax-records", "vehicle-registry", "marriage-registry", "education-records",
               "medical-insurance", "property-registry"]
ITEMS = [f"340100-{d}-{n:02d}" for d in ("GA-JSZ", "GA-HJ", "MZ-HY", "ZJ-BDC", "RS-SB", "SW-NS") for n in range(1, 6)]
AGENCIES = [f"3401{n:04d}" for n in range(1, 21)]
CARRIERS = ["sf", "ems"]
HOURS = [0.1, 0.05, 0.03, 0.03, 0.05, 0.1, 0.3, 0.7, 1.4, 2.0, 2.1, 1.8, 0.9, 1.1, 1.9, 2.0, 1.9, 1.4, 0.8, 0.6,
         0.5, 0.4, 0.25, 0.15]  # Beijing hour of day
WEEKDAY = [1.0, 1.0, 1.0, 1.0, 0.95, 0.35, 0.25]  # Monday .. Sunday


class Copier:
    """One COPY stream per table, each on a connection of its own (they stay open together)."""

    def __init__(self, url: str, tables: dict[str, list[str]]):
        self.conns, self.copies, self._cms, self.counts = {}, {}, {}, Counter()
        for table, columns in tables.items():
            conn = psycopg.connect(url, autocommit=False)
            cm = conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN")
            self.conns[table], self._cms[table] = conn, cm
            self.copies[table] = cm.__enter__()

    def row(self, table: str, values: tuple) -> None:
        self.copies[table].write_row(values)
        self.counts[table] += 1

    def close(self) -> None:
        for table, cm in self._cms.items():
            cm.__exit__(None, None, None)
            self.conns[table].commit()
            self.conns[table].close()


TABLES = {
    "message_log": ["seq", "message_id", "direction", "type", "service", "client", "user_masked", "correlation_id",
                    "case_id", "logged_at", "body", "prev_hash", "record_hash"],
    "supervision_steps": ["id", "step", "case_id", "service", "system", "thread", "start_message_id", "start_type",
                          "started_at", "due_at", "escalate_at", "end_message_id", "end_type", "ended_at",
                          "duration_ms", "outcome", "overdue", "warned_at", "escalated_at", "created_at"],
    "payment_notices": ["id", "agency_code", "agency_name", "adm_div_code", "payer_key", "payer_kind", "payer_name",
                        "items", "total_fen", "paid_fen", "refunded_fen", "case_id", "due_at", "status", "payment_code",
                        "platform", "platform_ref", "pay_url", "created_by", "created_at", "updated_at", "version"],
    "shipments": ["id", "case_id", "service_code", "applicant_key", "applicant_kind", "applicant_subject", "created_by",
                  "created_at"],
    "shipment_legs": ["id", "shipment_id", "kind", "carrier", "state", "tracking_status", "last_raw_code",
                      "signed_by_other", "sender", "recipient", "weight_g", "postage_fen", "payment_notice_id",
                      "waybill_no", "pickup_code_hash", "pickup_attempts", "picked_up_verified_at", "error_code",
                      "error_message", "created_by", "created_at", "updated_at", "booked_at", "closed_at",
                      "last_event_at", "last_polled_at", "version"],
    "supervision_satisfaction": ["case_id", "rating", "comment", "subject", "rated_at"],
    "supervision_rated_groups": ["case_id", "dimension", "key", "day", "rating"],
    "supervision_complaints": ["id", "case_id", "subject", "filer_masked", "text", "status", "assignee", "reply",
                               "replied_by", "replied_at", "closed_at", "history", "created_at", "updated_at"],
}
ADDRESS = json.dumps({"name": "王**", "phone": "139****0000", "province": "安徽省", "city": "合肥市", "district": "蜀山区",
                      "detail": "长江西路***号"}, ensure_ascii=False)


class City:
    def __init__(self, scale: float, seed: int, today: date):
        self.rng = random.Random(seed)
        self.uuid_rng = random.Random(seed + 1)
        self.cases = max(1, round(1_000_000 * scale))
        self.discrepancies = max(1, round(100_000 * min(1.0, scale * 10)))  # the 100,000 from 1/10 on
        self.today = today
        self.first = today - timedelta(days=30)  # the month: the 30 Beijing days before today
        self.now = datetime.combine(today, datetime.min.time(), tzinfo=BEIJING).astimezone(UTC)
        slots, weights = [], []
        for d in range(30):
            day = self.first + timedelta(days=d)
            for h in range(24):
                slots.append(datetime(day.year, day.month, day.day, h, tzinfo=BEIJING).astimezone(UTC))
                weights.append(WEEKDAY[day.weekday()] * HOURS[h])
        self.slots, self.cum = slots, list(_accumulate(weights))
        self.seq, self.prev = 0, GENESIS
        self.rollups: dict[tuple, dict] = {}
        self.ratings: Counter = Counter()
        self.rating_sums: Counter = Counter()
        self.steps = 0

    def uid(self) -> str:
        return str(uuid.UUID(int=self.uuid_rng.getrandbits(128), version=4))

    def starts(self) -> list[datetime]:
        """Every case's submission time, in order (daily and weekly rhythm)."""
        rng = self.rng
        picks = rng.choices(self.slots, cum_weights=self.cum, k=self.cases)
        return sorted(p + timedelta(seconds=rng.random() * 3600) for p in picks)

    def log(self, out: Copier, envelope: dict, direction: str, at: datetime) -> None:
        self.seq += 1
        row = _row(self.seq, envelope, direction, at)
        digest = record_hash(self.prev, row)
        out.row("message_log", (row["seq"], row["message_id"], direction, row["type"], row["service"], row["client"],
                                row["user_masked"], row["correlation_id"], row["case_id"], at, row["body"], self.prev,
                                digest))
        self.prev = digest

    def envelope(self, type_, at, case_id, *, service=None, operation=None, correlation_id=None, causation_id=None,
                 payload=None, client="GOV/11340100002987128A/case-system") -> dict:
        mid = self.uid()
        return {"message_id": mid, "correlation_id": correlation_id or mid, "causation_id": causation_id, "type": type_,
                "client": client, "service": service, "operation": operation, "user": None, "case_id": case_id,
                "issued_at": at.isoformat(), "request_hash": None, "payload": payload or {}}

    def step(self, out: Copier, case_id, name, service, system, thread, start_mid, start_type, started, limit, escalate,
             end: tuple | None, groups: list) -> None:
        """end: (message id, type, ended_at, outcome) or None (still open)."""
        due, esc = started + limit, started + max(limit, escalate)
        if end is None:
            overdue, ended_at, duration, outcome, end_mid, end_type = self.now > due, None, None, None, None, None
        else:
            end_mid, end_type, ended_at, outcome = end
            duration = int((ended_at - started).total_seconds() * 1000)
            overdue = ended_at > due
        warned = due + timedelta(seconds=60) if overdue and end is None else None
        escalated = esc + timedelta(seconds=60) if end is None and self.now > esc + timedelta(seconds=60) else None
        out.row("supervision_steps", (self.uid(), name, case_id, service, system, thread, start_mid, start_type, started,
                                      due, esc, end_mid, end_type, ended_at, duration, outcome, overdue, warned,
                                      escalated, started))
        self.steps += 1
        groups.append((started, name, service, system))
        if end is not None:
            for key, add in finished_rows([(started, name, service, system, duration, overdue,
                                            outcome == "failed")]).items():
                merge_rollup(self.rollups, key, add)

    def case(self, out: Copier, n: int, at: datetime) -> None:
        rng = self.rng
        case_id = f"CITY-{at.astimezone(BEIJING):%Y%m%d}-{n:07d}"
        groups: list = []
        finished = True
        for _ in range(3 + (rng.random() < 0.4)):  # department calls (3.4 a case)
            dept = rng.choice(DEPARTMENTS)
            call = self.envelope("service.call", at, case_id, service=dept, operation="query", payload={"q": n})
            self.log(out, call, "in", at)
            took = timedelta(milliseconds=min(600_000, int(rng.lognormvariate(6.6, 1.1))))  # median ~0.7 s
            end = None
            if at + took < self.now and rng.random() > 0.002:
                failed = rng.random() < 0.03
                reply = self.envelope("service.call.failed" if failed else "service.result", at + took, case_id,
                                      service=dept, operation="query", correlation_id=call["correlation_id"],
                                      causation_id=call["message_id"],
                                      payload={"error": {"code": "department_error"}} if failed else {"ok": True})
                self.log(out, reply, "out", at + took)
                end = (reply["message_id"], reply["type"], at + took, "failed" if failed else "ok")
            else:
                finished = False
            self.step(out, case_id, "department-reply", dept, dept, call["message_id"], call["message_id"],
                      "service.call", at, timedelta(seconds=30), timedelta(seconds=300), end, groups)
            at = at + took + timedelta(seconds=rng.randrange(5, 600))
        # The payment notice (one a case).
        agency = rng.choice(AGENCIES)
        notice_id = self.uid()
        amount = rng.choice([1000, 2000, 5000, 8000, 10000, 20000])
        registered = self.envelope("payment.registered", at, case_id, correlation_id=notice_id,
                                   payload={"agency_code": agency, "notice_id": notice_id, "amount_fen": amount})
        self.log(out, registered, "out", at)
        pay_after = timedelta(seconds=int(rng.lognormvariate(9.5, 1.4)))  # median ~3.6 h
        paid = at + pay_after < self.now and pay_after < timedelta(days=9)
        end, status, paid_fen = None, "pending", 0
        if paid:
            paid_env = self.envelope("payment.paid", at + pay_after, case_id, correlation_id=notice_id,
                                     payload={"notice_id": notice_id, "status": "paid"})
            self.log(out, paid_env, "out", at + pay_after)
            end, status, paid_fen = (paid_env["message_id"], "payment.paid", at + pay_after, "ok"), "paid", amount
        elif at + timedelta(days=9) < self.now:
            expired = self.envelope("payment.expired", at + timedelta(days=9), case_id, correlation_id=notice_id,
                                    payload={"notice_id": notice_id, "status": "expired"})
            self.log(out, expired, "out", at + timedelta(days=9))
            end, status = (expired["message_id"], "payment.expired", at + timedelta(days=9), "failed"), "expired"
        else:
            finished = False
        self.step(out, case_id, "payment", agency, "payment/nontax", notice_id, registered["message_id"],
                  "payment.registered", at, timedelta(days=7), timedelta(days=10), end, groups)
        payer = make_resident_id("340104", date(1950, 1, 1) + timedelta(days=n % 18000), n % 999 + 1)
        out.row("payment_notices", (notice_id, agency, "合肥市某执收单位", "340100", payer, "resident", "王**",
                                    json.dumps([{"code": "103", "name": "工本费", "unit": "件", "unit_price_fen": amount,
                                                 "quantity": 1, "amount_fen": amount}], ensure_ascii=False),
                                    amount, paid_fen, 0, case_id, at + timedelta(days=9), status,
                                    f"34010026{n:012d}", "nontax", None, None, "GOV/11340100002987128A/case-system",
                                    at, at + (pay_after if paid else timedelta(0)), 1))
        # Results by courier for three cases in ten.
        if rng.random() < 0.3:
            leg_id, shipment_id = self.uid(), self.uid()
            carrier = rng.choice(CARRIERS)
            booked_at = at + timedelta(hours=rng.uniform(2, 30))
            item = rng.choice(ITEMS)
            out.row("shipments", (shipment_id, case_id, item, payer, "resident", None, "GOV/case-system", at))
            state, tracking, closed_at = "booked", None, None
            if booked_at < self.now:
                booked = self.envelope("shipment.booked", booked_at, case_id, correlation_id=leg_id,
                                       payload={"kind": "results", "leg_id": leg_id, "service_code": item,
                                                "carrier": carrier})
                self.log(out, booked, "out", booked_at)
                picked = booked_at + timedelta(hours=rng.lognormvariate(2.5, 0.8))
                end_d = None
                if picked < self.now:
                    pick = self.envelope("shipment.picked_up", picked, case_id, correlation_id=leg_id,
                                         payload={"kind": "results", "leg_id": leg_id, "service_code": item,
                                                  "carrier": carrier})
                    self.log(out, pick, "out", picked)
                    end_d, tracking = (pick["message_id"], "shipment.picked_up", picked, "ok"), "picked_up"
                self.step(out, case_id, "results-dispatch", item, f"courier/{carrier}", leg_id, booked["message_id"],
                          "shipment.booked", booked_at, timedelta(days=2), timedelta(days=4), end_d, groups)
                if end_d is not None:
                    delivered = picked + timedelta(hours=rng.lognormvariate(3.4, 0.6))
                    end_v = None
                    if delivered < self.now:
                        dl = self.envelope("shipment.delivered", delivered, case_id, correlation_id=leg_id,
                                           payload={"leg_id": leg_id, "tracking_status": "delivered"})
                        self.log(out, dl, "out", delivered)
                        end_v, tracking, state, closed_at = (dl["message_id"], "shipment.delivered", delivered, "ok"), \
                            "delivered", "closed", delivered
                    else:
                        finished = False
                    self.step(out, case_id, "results-delivery", item, f"courier/{carrier}", leg_id,
                              end_d[0], "shipment.picked_up", picked, timedelta(days=5), timedelta(days=8), end_v, groups)
                else:
                    finished = False
            else:
                finished = False
            out.row("shipment_legs", (leg_id, shipment_id, "results", carrier, state, tracking, None, False, ADDRESS,
                                      ADDRESS, 300, 1200, None, f"{carrier.upper()}{n:012d}",
                                      "scrypt$bench", 0, None, None, None, "GOV/case-system", booked_at, booked_at,
                                      booked_at, closed_at, closed_at, None, 1))
        # Ratings and complaints of finished cases.
        if finished and rng.random() < 0.33:
            rating = rng.choices([1, 2, 3, 4, 5], weights=[3, 4, 10, 33, 50])[0]
            rated_at = min(self.now, at + timedelta(days=1))
            out.row("supervision_satisfaction", (case_id, rating, None, self.uid(), rated_at))
            counted = case_groups(groups)
            counted[RATED] = rated_at.astimezone(BEIJING).date()
            for group, day in counted.items():
                out.row("supervision_rated_groups", (case_id, *group, day, rating))
                self.ratings[(day, *group)] += 1
                self.rating_sums[(day, *group)] += rating
        if rng.random() < 0.005:
            out.row("supervision_complaints", (self.uid(), case_id, self.uid(), "5f0c1e2a…", "办理时间过长。",
                                               rng.choice(["filed", "assigned", "replied", "closed"]), None, None, None,
                                               None, None, "[]", at, at))


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


def write_rollups(conn, city: City) -> None:
    with conn.cursor().copy("COPY supervision_rollups (span, day, step, service, system, finished, overdue, failed,"
                            " histogram) FROM STDIN") as copy:
        for (span, day, step, service, system), r in city.rollups.items():
            copy.write_row((span, day, step, service, system, r["finished"], r["overdue"], r["failed"],
                            Histogram.of(r["histogram"]).encode()))
    with conn.cursor().copy("COPY supervision_satisfaction_rollups (day, dimension, key, ratings, rating_sum)"
                            " FROM STDIN") as copy:
        for (day, dimension, key), n in city.ratings.items():
            copy.write_row((day, dimension, key, n, city.rating_sums[(day, dimension, key)]))


def write_discrepancies(conn, city: City) -> None:
    """One current payments run of yesterday with `city.discrepancies` open discrepancies."""
    day = city.today - timedelta(days=1)
    run_id = conn.execute(
        "INSERT INTO reconciliation_runs (kind, business_date, version, status, input_hash, content_hash, import_ids,"
        " matched_count, matched_amount_fen, discrepancy_count, unmatched_amount_fen, counts, cleared_count, started_by,"
        " started_at, finished_at) VALUES ('payments', %s, 1, 'current', %s, %s, '[]', %s, %s, %s, %s, %s, 0,"
        " 'scheduler', now(), now()) RETURNING id",
        (day, "0" * 64, "0" * 64, city.cases, city.cases * 5000, city.discrepancies, city.discrepancies * 5000,
         json.dumps({"amount_mismatch": city.discrepancies}))).fetchone()[0]
    with conn.cursor().copy("COPY reconciliation_discrepancies (run_id, seq, category, subtype, key, rule,"
                            " left_amount_fen, right_amount_fen, left_records, right_records, fingerprint, status,"
                            " updated_at) FROM STDIN") as copy:
        for i in range(city.discrepancies):
            key = f"34010026{i:012d}"
            copy.write_row((run_id, i + 1, "amount_mismatch", "statement_differs", key, "amount", 5000, 4999,
                            json.dumps([{"payment_code": key, "amount_fen": 5000}]),
                            json.dumps([{"payment_code": key, "amount_fen": 4999}]),
                            hashlib.sha256(key.encode()).hexdigest(), "open", city.now))


def generate(url: str, scale: float, seed: int, name: str = CITY_DATABASE) -> dict:
    started = time.monotonic()
    database_url = fresh_database(url, name)
    today = datetime.now(BEIJING).date()
    city = City(scale, seed, today)
    # The plain indexes (ix_*) are built after the load, at once, as a restore would: faster than
    # keeping them row by row. Keys and unique constraints stay and are checked as rows arrive.
    with psycopg.connect(database_url, autocommit=True) as conn:
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND "
                               "indexname LIKE 'ix\\_%%' AND tablename = ANY(%s)", (list(TABLES),)).fetchall()
        for index, _ in indexes:
            conn.execute(f'DROP INDEX "{index}"')
    out = Copier(database_url, TABLES)
    try:
        for n, at in enumerate(city.starts()):
            city.case(out, n, at)
    finally:
        out.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            conn.execute(definition)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO message_log_head (id, last_seq, last_hash) VALUES (1, %s, %s)", (city.seq, city.prev))
        conn.execute("INSERT INTO supervision_cursor (id, last_seq, checked_at) VALUES (1, %s, now())", (city.seq,))
        write_rollups(conn, city)
        write_discrepancies(conn, city)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker(scale, seed, today)}'")
    return {"url": database_url, "cases": city.cases, "steps": city.steps, "log": city.seq,
            "notices": out.counts["payment_notices"], "legs": out.counts["shipment_legs"],
            "ratings": out.counts["supervision_satisfaction"], "complaints": out.counts["supervision_complaints"],
            "discrepancies": city.discrepancies, "seconds": time.monotonic() - started, "size_mib": size / 2 ** 20,
            "first_day": city.first, "last_day": today - timedelta(days=1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_CITY_SCALE", "0.1")),
                        help="1.0 = the issue's city (1,000,000 cases); default BENCH_CITY_SCALE or 0.1")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--database", default=CITY_DATABASE)
    parser.add_argument("--url", default=DEFAULT_URL, help="a URL of the server (its database name is ignored)")
    args = parser.parse_args(argv)
    r = generate(args.url, args.scale, args.seed, args.database)
    print(f"city: {r['first_day']} .. {r['last_day']} (Beijing), notices={r['notices']} legs={r['legs']} "
          f"ratings={r['ratings']} complaints={r['complaints']} discrepancies={r['discrepancies']}")
    print(f"RESULT city generated cases={r['cases']} steps={r['steps']} log={r['log']} seconds={r['seconds']:.1f} "
          f"size_mib={r['size_mib']:.0f} scale={args.scale:g}")


if __name__ == "__main__":
    main()
