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
is the real one; rows go in with COPY, in the models' shape (bench/city_load.py: keys and indexes
dropped first and rebuilt after the load, COPY FREEZE, no VACUUM). Two worker processes generate
the month in chunks of about 2,000 cases (each chunk seeded from the seed and its first case, so
the data does not depend on the number of workers); the main process chains the log records
(in the chain format chain.append writes, 2, or `--chain-format 1` as before migration 0023: sha256
over chain.record_hash's bytes, written out; each chunk's first records are checked against
bus.envelope.encode and chain.record_hash themselves) and feeds the COPY streams;
at most four chunks are in flight, so memory does not grow with the scale. Prints `RESULT city
generated cases=... steps=... log=... seconds=...` with the database's size, the seconds of the
load and of the index builds, and the main process's peak memory. `--log-only` writes only the
message log (about 10 records a case), for bench/city_audit.py `--database`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import json.encoder
import multiprocessing
import resource
import time
from collections import Counter, deque
from datetime import date, datetime, timedelta, timezone
from hashlib import sha256

import psycopg

from bench.city_db import CITY_DATABASE, DEFAULT_URL, city_url, fresh_database, marker  # noqa: F401 (used by the benches)
from bench.city_load import N, Streams, esc, loosen, tighten
from bus.envelope import encode
from bus.message_log.chain import (CHAIN_FORMAT, FORMAT2_HEAD, GENESIS, INT8, TIMESTAMPTZ, _row, bytea_field,
                                    int8_field, micros, record_hash)
from config.logging import mask_identifiers
from kernel.clock import BEIJING
from kernel.identifiers import make_resident_id
from supervision.rollups import EXACT_BELOW_MS, RATED, Histogram, bucket, case_groups, week_of

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


TABLES = {
    "message_log": ["seq", "message_id", "direction", "type", "service", "client", "user_masked", "correlation_id",
                    "case_id", "logged_at", "body", "prev_hash", "record_hash", "chain_format"],
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
ADDRESS = esc(json.dumps({"name": "王**", "phone": "139****0000", "province": "安徽省", "city": "合肥市",
                          "district": "蜀山区", "detail": "长江西路***号"}, ensure_ascii=False))
ITEMS_JSON = {amount: esc(json.dumps([{"code": "103", "name": "工本费", "unit": "件", "unit_price_fen": amount,
                                       "quantity": 1, "amount_fen": amount}], ensure_ascii=False))
              for amount in (1000, 2000, 5000, 8000, 10000, 20000)}
CLIENT = "GOV/11340100002987128A/case-system"
ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # = bus.envelope.encode, as text
STR = json.encoder.encode_basestring  # a JSON string as json.dumps(ensure_ascii=False) writes it
EIGHT = timedelta(hours=8)  # Beijing (no daylight saving): the Beijing day of a UTC time is (t + 8 h).date()
SELF_CHECK = 20  # each chunk's first records are also encoded and hashed by bus' own functions (must be equal)
CHUNK_CASES = 2000
WORKERS = 2  # processes generating chunks (the main one chains the log and feeds COPY)


def _json(value) -> str:
    return "null" if value is None else STR(value)


def _t(value) -> str:
    return N if value is None else value.isoformat()


class City:
    """The month's plan (`chunks`), and the generator of one chunk of it (`first_n`: its first case)."""

    def __init__(self, scale: float, seed: int, today: date, first_n: int | None = None,
                 chain_format: int = CHAIN_FORMAT, log_only: bool = False):
        self.seed, self.scale, self.chain_format, self.log_only = seed, scale, chain_format, log_only
        self.rng = random.Random(seed if first_n is None else f"{seed}:{first_n}")
        self.uuid_rng = random.Random(seed + 1 if first_n is None else f"{seed}:{first_n}:uuid")
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
        self.records: list = []  # per log record: what its hash needs besides seq and prev_hash (Chain), its line
        self.days: dict[tuple, list] = {}  # (day, step, service, system) -> [finished, overdue, failed, Counter]
        self.ratings: Counter = Counter()
        self.rating_sums: Counter = Counter()
        self.steps = 0
        self.masked = {CLIENT: mask_identifiers(CLIENT)}

    def uid(self) -> str:
        """A random (seeded) version-4 UUID, as str(uuid.UUID(int=..., version=4)) writes it."""
        h = "%032x" % ((self.uuid_rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def chunks(self, size: int = CHUNK_CASES) -> list[tuple[int, list[tuple[int, int]]]]:
        """The month in chunks of about `size` cases, in time order: (first case's number, [(hour slot,
        cases in it)]), the cases spread over the hours with the daily and weekly rhythm."""
        rng, per_slot = self.rng, Counter()
        for done in range(0, self.cases, 100_000):
            per_slot.update(rng.choices(range(len(self.slots)), cum_weights=self.cum, k=min(100_000, self.cases - done)))
        chunks, first, slots, size_now = [], 0, [], 0
        for i in range(len(self.slots)):
            if per_slot[i]:
                slots.append((i, per_slot[i]))
                size_now += per_slot[i]
            if size_now >= size or (i == len(self.slots) - 1 and slots):
                chunks.append((first, slots))
                first, slots, size_now = first + size_now, [], 0
        return chunks

    def starts(self, slots: list[tuple[int, int]]):
        """Each case's submission time in these hour slots, in order."""
        for i, count in slots:
            for second in sorted(self.rng.random() * 3600 for _ in range(count)):
                yield self.slots[i] + timedelta(seconds=second)

    def emit(self, out: Lines, type_: str, at: datetime, case_id: str, direction: str, *, service=None,
             operation=None, correlation_id=None, causation_id=None, payload=None, client=CLIENT) -> str:
        """Log one envelope (its chain's hash is computed in `Chain`); return its message id."""
        mid = self.uid()
        correlation_id = correlation_id or mid
        iso = at.isoformat()
        payload = ENCODE(payload) if payload else "{}"
        # bus.envelope.encode of new_envelope's dict, written out (the self-check below compares)
        body = (f'{{"message_id":"{mid}","correlation_id":{STR(correlation_id)},"causation_id":{_json(causation_id)},'
                f'"type":{STR(type_)},"client":{_json(client)},"service":{_json(service)},'
                f'"operation":{_json(operation)},"user":null,"case_id":{_json(case_id)},"issued_at":"{iso}",'
                f'"request_hash":null,"payload":{payload}}}')
        masked = self.masked.get(client)
        if masked is None:
            masked = self.masked[client] = mask_identifiers(client) or None
        if self.chain_format == 2:  # chain.format2_bytes after the record's prev_hash and seq (Chain adds those)
            key = b"".join((int8_field(TIMESTAMPTZ, micros(at)), bytea_field(mid), bytea_field(direction), bytea_field(type_),
                            bytea_field(service), bytea_field(masked), bytea_field(None), bytea_field(correlation_id),
                            bytea_field(case_id), bytea_field(body)))
        else:  # format 1: chain.record_hash's canonical JSON (keys sorted, no user), written out instead of
            # dumped, in two pieces around the record's seq
            key = (f'{{"body":{STR(body)},"case_id":{_json(case_id)},"client":{_json(masked)},'
                   f'"correlation_id":{_json(correlation_id)},"direction":"{direction}","logged_at":"{iso}",'
                   f'"message_id":"{mid}","seq":', f',"service":{_json(service)},"type":{STR(type_)},"user_masked":null}}')
        # and its line in message_log without seq, hashes and format
        self.records += (key, f"{mid}\t{direction}\t{type_}\t{service or N}\t{masked or N}\t{N}\t"
                              f"{correlation_id}\t{case_id}\t{iso}\t{esc(body)}")
        if len(self.records) <= 2 * SELF_CHECK:
            envelope = {"message_id": mid, "correlation_id": correlation_id, "causation_id": causation_id,
                        "type": type_, "client": client, "service": service, "operation": operation, "user": None,
                        "case_id": case_id, "issued_at": iso, "request_hash": None, "payload": json.loads(payload)}
            assert body == encode(envelope).decode(), "the body differs from bus.envelope.encode"
            row = _row(1, envelope, direction, at)
            assert Chain(self.chain_format).link(key) == record_hash(GENESIS, row, self.chain_format), \
                "the fast hash differs from chain.record_hash"
        return mid

    def step(self, out: Lines, case_id, name, service, system, thread, start_mid, start_type, started, limit,
             escalate, end: tuple | None, groups: list) -> None:
        """end: (message id, type, ended_at, outcome) or None (still open)."""
        due, esc_at = started + limit, started + max(limit, escalate)
        if end is None:
            overdue, ended_at, duration, outcome, end_mid, end_type = self.now > due, None, None, None, None, None
        else:
            end_mid, end_type, ended_at, outcome = end
            duration = int((ended_at - started).total_seconds() * 1000)
            overdue = ended_at > due
        warned = due + MINUTE if overdue and end is None else None
        escalated = esc_at + MINUTE if end is None and self.now > esc_at + MINUTE else None
        s = started.isoformat()
        out.add("supervision_steps",
                f"{self.uid()}\t{name}\t{case_id}\t{service}\t{system}\t{thread}\t{start_mid}\t{start_type}\t{s}\t"
                f"{due.isoformat()}\t{esc_at.isoformat()}\t{end_mid or N}\t{end_type or N}\t{_t(ended_at)}\t"
                f"{N if duration is None else duration}\t{outcome or N}\t{'t' if overdue else 'f'}\t{_t(warned)}\t"
                f"{_t(escalated)}\t{s}\n")
        self.steps += 1
        groups.append((started, name, service, system))
        if end is not None:  # the day's rollup row (supervision.rollups.finished_rows; weeks at the end)
            key = ((started + EIGHT).date(), name, service or "", system or "")
            row = self.days.get(key)
            if row is None:
                row = self.days[key] = [0, 0, 0, Counter()]
            row[0] += 1
            row[1] += overdue
            row[2] += outcome == "failed"
            row[3][duration if duration < EXACT_BELOW_MS else bucket(duration)] += 1

    def case(self, out: Lines, n: int, at: datetime) -> None:
        rng = self.rng
        case_id = f"CITY-{(at + EIGHT):%Y%m%d}-{n:07d}"
        groups: list = []
        finished = True
        for _ in range(3 + (rng.random() < 0.4)):  # department calls (3.4 a case)
            dept = rng.choice(DEPARTMENTS)
            call = self.emit(out, "service.call", at, case_id, "in", service=dept, operation="query", payload={"q": n})
            took = timedelta(milliseconds=min(600_000, int(rng.lognormvariate(6.6, 1.1))))  # median ~0.7 s
            end = None
            if at + took < self.now and rng.random() > 0.002:
                failed = rng.random() < 0.03
                reply_type = "service.call.failed" if failed else "service.result"
                reply = self.emit(out, reply_type, at + took, case_id, "out", service=dept, operation="query",
                                  correlation_id=call, causation_id=call,
                                  payload={"error": {"code": "department_error"}} if failed else {"ok": True})
                end = (reply, reply_type, at + took, "failed" if failed else "ok")
            else:
                finished = False
            self.step(out, case_id, "department-reply", dept, dept, call, call, "service.call", at,
                      THIRTY_S, FIVE_MIN, end, groups)
            at = at + took + timedelta(seconds=rng.randrange(5, 600))
        # The payment notice (one a case).
        agency = rng.choice(AGENCIES)
        notice_id = self.uid()
        amount = rng.choice([1000, 2000, 5000, 8000, 10000, 20000])
        registered = self.emit(out, "payment.registered", at, case_id, "out", correlation_id=notice_id,
                               payload={"agency_code": agency, "notice_id": notice_id, "amount_fen": amount})
        pay_after = timedelta(seconds=int(rng.lognormvariate(9.5, 1.4)))  # median ~3.6 h
        paid = at + pay_after < self.now and pay_after < NINE_DAYS
        end, status, paid_fen = None, "pending", 0
        if paid:
            paid_mid = self.emit(out, "payment.paid", at + pay_after, case_id, "out", correlation_id=notice_id,
                                 payload={"notice_id": notice_id, "status": "paid"})
            end, status, paid_fen = (paid_mid, "payment.paid", at + pay_after, "ok"), "paid", amount
        elif at + NINE_DAYS < self.now:
            expired = self.emit(out, "payment.expired", at + NINE_DAYS, case_id, "out", correlation_id=notice_id,
                                payload={"notice_id": notice_id, "status": "expired"})
            end, status = (expired, "payment.expired", at + NINE_DAYS, "failed"), "expired"
        else:
            finished = False
        self.step(out, case_id, "payment", agency, "payment/nontax", notice_id, registered, "payment.registered", at,
                  SEVEN_DAYS, TEN_DAYS, end, groups)
        payer = make_resident_id("340104", date(1950, 1, 1) + timedelta(days=n % 18000), n % 999 + 1)
        a = at.isoformat()
        out.add("payment_notices",
                f"{notice_id}\t{agency}\t合肥市某执收单位\t340100\t{payer}\tresident\t王**\t{ITEMS_JSON[amount]}\t"
                f"{amount}\t{paid_fen}\t0\t{case_id}\t{(at + NINE_DAYS).isoformat()}\t{status}\t34010026{n:012d}\t"
                f"nontax\t{N}\t{N}\t{CLIENT}\t{a}\t{(at + pay_after).isoformat() if paid else a}\t1\n")
        # Results by courier for three cases in ten.
        if rng.random() < 0.3:
            leg_id, shipment_id = self.uid(), self.uid()
            carrier = rng.choice(CARRIERS)
            booked_at = at + timedelta(hours=rng.uniform(2, 30))
            item = rng.choice(ITEMS)
            out.add("shipments", f"{shipment_id}\t{case_id}\t{item}\t{payer}\tresident\t{N}\tGOV/case-system\t{a}\n")
            state, tracking, closed_at = "booked", None, None
            if booked_at < self.now:
                booked = self.emit(out, "shipment.booked", booked_at, case_id, "out", correlation_id=leg_id,
                                   payload={"kind": "results", "leg_id": leg_id, "service_code": item,
                                            "carrier": carrier})
                picked = booked_at + timedelta(hours=rng.lognormvariate(2.5, 0.8))
                end_d = None
                if picked < self.now:
                    pick = self.emit(out, "shipment.picked_up", picked, case_id, "out", correlation_id=leg_id,
                                     payload={"kind": "results", "leg_id": leg_id, "service_code": item,
                                              "carrier": carrier})
                    end_d, tracking = (pick, "shipment.picked_up", picked, "ok"), "picked_up"
                self.step(out, case_id, "results-dispatch", item, f"courier/{carrier}", leg_id, booked,
                          "shipment.booked", booked_at, TWO_DAYS, FOUR_DAYS, end_d, groups)
                if end_d is not None:
                    delivered = picked + timedelta(hours=rng.lognormvariate(3.4, 0.6))
                    end_v = None
                    if delivered < self.now:
                        dl = self.emit(out, "shipment.delivered", delivered, case_id, "out", correlation_id=leg_id,
                                       payload={"leg_id": leg_id, "tracking_status": "delivered"})
                        end_v, tracking, state, closed_at = (dl, "shipment.delivered", delivered, "ok"), \
                            "delivered", "closed", delivered
                    else:
                        finished = False
                    self.step(out, case_id, "results-delivery", item, f"courier/{carrier}", leg_id,
                              end_d[0], "shipment.picked_up", picked, FIVE_DAYS, EIGHT_DAYS, end_v, groups)
                else:
                    finished = False
            else:
                finished = False
            b = booked_at.isoformat()
            out.add("shipment_legs",
                    f"{leg_id}\t{shipment_id}\tresults\t{carrier}\t{state}\t{tracking or N}\t{N}\tf\t{ADDRESS}\t"
                    f"{ADDRESS}\t300\t1200\t{N}\t{carrier.upper()}{n:012d}\tscrypt$bench\t0\t{N}\t{N}\t{N}\t"
                    f"GOV/case-system\t{b}\t{b}\t{b}\t{_t(closed_at)}\t{_t(closed_at)}\t{N}\t1\n")
        # Ratings and complaints of finished cases.
        if finished and rng.random() < 0.33:
            rating = rng.choices([1, 2, 3, 4, 5], weights=[3, 4, 10, 33, 50])[0]
            rated_at = min(self.now, at + ONE_DAY)
            out.add("supervision_satisfaction", f"{case_id}\t{rating}\t{N}\t{self.uid()}\t{rated_at.isoformat()}\n")
            counted = case_groups(groups)
            counted[RATED] = (rated_at + EIGHT).date()
            for (dimension, key), day in counted.items():
                out.add("supervision_rated_groups", f"{case_id}\t{esc(dimension)}\t{esc(key)}\t{day}\t{rating}\n")
                self.ratings[(day, dimension, key)] += 1
                self.rating_sums[(day, dimension, key)] += rating
        if rng.random() < 0.005:
            status = rng.choice(["filed", "assigned", "replied", "closed"])
            out.add("supervision_complaints", f"{self.uid()}\t{case_id}\t{self.uid()}\t5f0c1e2a…\t办理时间过长。\t"
                                              f"{status}\t{N}\t{N}\t{N}\t{N}\t{N}\t[]\t{a}\t{a}\n")


class Lines:
    """A chunk's rows, as COPY text lines per table (the message log's are kept by `City.emit`)."""

    def __init__(self, log_only: bool = False):
        self.tables: dict[str, list[str]] = {table: [] for table in TABLES if table != "message_log"}
        self.log_only = log_only

    def add(self, table: str, line: str) -> None:
        if not self.log_only:
            self.tables[table].append(line)


class Chain:
    """The message log's hash chain, record after record (what bus.message_log.chain.append computes)."""

    def __init__(self, chain_format: int = CHAIN_FORMAT):
        self.seq, self.prev, self.chain_format = 0, GENESIS, chain_format

    def link(self, key) -> str:
        """The next record's hash, from what City.emit kept of it (format 2: its bytes after seq; 1: its JSON)."""
        self.seq += 1
        if self.chain_format == 2:
            data = b"".join((FORMAT2_HEAD, bytea_field(self.prev), int8_field(INT8, self.seq), key))
        else:
            data = f"{self.prev}\n{key[0]}{self.seq}{key[1]}".encode()
        self.prev = sha256(data).hexdigest()
        return self.prev

    def lines(self, records: list) -> str:
        """The COPY text of a chunk's records (City.records: key, line), chained on."""
        out = []
        for i in range(0, len(records), 2):
            prev = self.prev
            digest = self.link(records[i])
            out.append(f"{self.seq}\t{records[i + 1]}\t{prev}\t{digest}\t{self.chain_format}\n")
        return "".join(out)


_CITY: City | None = None  # the plan, shared with the worker processes (forked)


def run_chunk(job: tuple[int, list[tuple[int, int]]]) -> dict:
    """Generate one chunk of the month in a worker process: its rows, records and rollup counts."""
    first_n, slots = job
    city = City(_CITY.scale, _CITY.seed, _CITY.today, first_n, _CITY.chain_format, _CITY.log_only)
    out = Lines(city.log_only)
    for n, at in enumerate(city.starts(slots), first_n):
        city.case(out, n, at)
    return {"tables": {table: ("".join(lines), len(lines)) for table, lines in out.tables.items()},
            "records": city.records, "days": city.days, "ratings": city.ratings,
            "rating_sums": city.rating_sums, "steps": city.steps}


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)
MINUTE, THIRTY_S, FIVE_MIN, ONE_DAY = timedelta(minutes=1), timedelta(seconds=30), timedelta(minutes=5), timedelta(days=1)
TWO_DAYS, FOUR_DAYS, FIVE_DAYS, SEVEN_DAYS, EIGHT_DAYS, NINE_DAYS, TEN_DAYS = (timedelta(days=d)
                                                                              for d in (2, 4, 5, 7, 8, 9, 10))


def _accumulate(values):
    total = 0.0
    for v in values:
        total += v
        yield total


def _bounded(pool, jobs, ahead: int = 2 * WORKERS):
    """pool.imap(run_chunk, jobs) with at most `ahead` chunks in flight: finished chunks wait in memory
    only while the COPY streams catch up, never the whole month."""
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.apply_async(run_chunk, (job,)))
        if len(pending) >= ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def merge_days(into: dict, days: dict) -> None:
    for key, (finished, overdue, failed, histogram) in days.items():
        row = into.setdefault(key, [0, 0, 0, Counter()])
        row[0] += finished
        row[1] += overdue
        row[2] += failed
        row[3].update(histogram)


def rollup_rows(city: City):
    """The supervision_rollups rows (supervision.rollups.finished_rows of every finished step): the
    day rows kept as the steps were made, and the week rows merged from them."""
    weeks: dict[tuple, list] = {}
    for (day, step, service, system), (finished, overdue, failed, histogram) in city.days.items():
        yield ("D", day, step, service, system, finished, overdue, failed, histogram)
        row = weeks.setdefault((week_of(day), step, service, system), [0, 0, 0, Counter()])
        row[0] += finished
        row[1] += overdue
        row[2] += failed
        row[3].update(histogram)
    for (day, step, service, system), (finished, overdue, failed, histogram) in weeks.items():
        yield ("W", day, step, service, system, finished, overdue, failed, histogram)


def write_rollups(conn, city: City) -> None:
    with conn.cursor().copy("COPY supervision_rollups (span, day, step, service, system, finished, overdue, failed,"
                            " histogram) FROM STDIN") as copy:
        for *key, finished, overdue, failed, histogram in rollup_rows(city):
            copy.write_row((*key, finished, overdue, failed, Histogram.of(histogram).encode()))
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


def generate(url: str, scale: float, seed: int, name: str = CITY_DATABASE, *, log_only: bool = False,
             chain_format: int = CHAIN_FORMAT) -> dict:
    started = time.monotonic()
    database_url = fresh_database(url, name)
    today = datetime.now(BEIJING).date()
    city = City(scale, seed, today, chain_format=chain_format, log_only=log_only)
    tables = {"message_log": TABLES["message_log"]} if log_only else TABLES
    # Keys, unique constraints, foreign keys and indexes are put back after the load, each built
    # once (bench/city_load.py), on two connections at once: the message log's, and the rest.
    with psycopg.connect(database_url, autocommit=True) as conn:
        statements = loosen(conn, list(tables))
    global _CITY
    _CITY, chain, steps = city, Chain(chain_format), 0
    out = Streams(database_url, tables)
    try:
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            for part in _bounded(pool, city.chunks()):
                for table, (text, count) in part["tables"].items():
                    if table in tables:
                        out.write(table, text, count)
                records = part["records"]
                out.write("message_log", chain.lines(records), len(records) // 2)
                merge_days(city.days, part["days"])
                city.ratings.update(part["ratings"])
                city.rating_sums.update(part["rating_sums"])
                steps += part["steps"]
    finally:
        out.close()
    city.steps, city.seq, city.prev = steps, chain.seq, chain.prev
    loaded = time.monotonic()
    tighten(database_url, statements, [{"message_log"}, set(tables) - {"message_log"}])
    indexed = time.monotonic()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO message_log_head (id, last_seq, last_hash) VALUES (1, %s, %s)", (city.seq, city.prev))
        conn.execute("INSERT INTO supervision_cursor (id, last_seq, checked_at) VALUES (1, %s, now())", (city.seq,))
        if not log_only:
            write_rollups(conn, city)
            write_discrepancies(conn, city)
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")  # COPY FREEZE left the pages frozen and all-visible: no VACUUM to do
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        label = marker(scale, seed, today) + (f" log-only chain_format={chain_format}" if log_only else "")
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{label}'")
    return {"url": database_url, "cases": city.cases, "steps": city.steps, "log": city.seq,
            "notices": out.counts["payment_notices"], "legs": out.counts["shipment_legs"],
            "ratings": out.counts["supervision_satisfaction"], "complaints": out.counts["supervision_complaints"],
            "discrepancies": city.discrepancies, "seconds": time.monotonic() - started,
            "load_s": loaded - started, "index_s": indexed - loaded,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "size_mib": size / 2 ** 20,
            "first_day": city.first, "last_day": today - timedelta(days=1)}


def result_line(r: dict, scale: float) -> str:
    return (f"RESULT city generated cases={r['cases']} steps={r['steps']} log={r['log']} seconds={r['seconds']:.1f} "
            f"size_mib={r['size_mib']:.0f} scale={scale:g} load_s={r['load_s']:.0f} index_s={r['index_s']:.0f} "
            f"peak_mib={r['peak_mib']:.0f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_CITY_SCALE", "0.1")),
                        help="1.0 = the issue's city (1,000,000 cases); default BENCH_CITY_SCALE or 0.1")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--database", default=CITY_DATABASE)
    parser.add_argument("--url", default=DEFAULT_URL, help="a URL of the server (its database name is ignored)")
    parser.add_argument("--log-only", action="store_true",
                        help="only the message log (its records and head), e.g. for bench.city_audit --database")
    parser.add_argument("--chain-format", type=int, choices=(1, 2), default=CHAIN_FORMAT,
                        help="the log's chain format (default: what chain.append writes; 1: as before migration 0023)")
    args = parser.parse_args(argv)
    r = generate(args.url, args.scale, args.seed, args.database, log_only=args.log_only,
                 chain_format=args.chain_format)
    print(f"city: {r['first_day']} .. {r['last_day']} (Beijing), notices={r['notices']} legs={r['legs']} "
          f"ratings={r['ratings']} complaints={r['complaints']} discrepancies={r['discrepancies']}")
    print(result_line(r, args.scale))


if __name__ == "__main__":
    main()
