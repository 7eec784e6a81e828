"""The pollers' tick against their history (issue 18): the cost must follow the due work, not the past.

    python -m bench.poll_tick

Two databases of their own (`<city database>_poll_small` and `_poll_city`, dropped, created and
migrated) hold 1,000 and 1,000,000 historic payment notices (paid on the non-tax platform, with
their e-receipts, events published, one in 20 with a refund done), a tenth as many expired in the
last 30 days (their platform checks ahead, within a day), and 300 and 300,000 delivery legs
(delivered, events published), written by SQL in the models' shape. Nothing is due in either. The
real services (`runtime.payments`, `runtime.logistics`) run their
`poll()` 20 times on each; the p50 of the two ticks together is printed as
`RESULT city_poll_tick_ms small=... city=... ratio=...` (target city < 2 x small).
Before that, EXPLAIN of every query of the payments and logistics polls, the outbox resend and the
supervision check on the city database must show no sequential scan of a table of history.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics as stats
import time
from datetime import datetime, timedelta, timezone

import psycopg

from bench import city

SIZES = {"small": 1_000, "city": 1_000_000}
TICKS = 20

FILL = [
    """INSERT INTO payment_notices (id, agency_code, agency_name, adm_div_code, payer_key, payer_kind, payer_name, items,
        total_fen, paid_fen, refunded_fen, case_id, due_at, status, payment_code, platform, created_by, created_at,
        updated_at, version)
       SELECT 'n-' || lpad(g::text, 34, '0'), '34010001', '合肥市某执收单位', '340100', 'KEY' || g %% 1000, 'resident', '王**',
        '[]', 5000, 5000, 0, 'HIST-' || g, now() - interval '40 days' - g * interval '1 second', 'paid',
        '3401002530' || lpad(g::text, 10, '0'), 'nontax', 'GOV/case-system', now() - interval '50 days' - g * interval '1 second',
        now() - interval '45 days' - g * interval '1 second', 3
       FROM generate_series(1, %(n)s) g""",
    # A tenth as many expired in the last 30 days (a payment may still reach them): each asked after when its
    # platform_check_at comes, within a day; none due while the bench runs (the writing alone takes minutes
    # at the city's size). Payment codes in the default profile's layout (division, year, 30, sequence).
    """INSERT INTO payment_notices (id, agency_code, agency_name, adm_div_code, payer_key, payer_kind, payer_name, items,
        total_fen, paid_fen, refunded_fen, case_id, due_at, status, payment_code, platform, created_by, created_at,
        updated_at, platform_check_at, version)
       SELECT 'x-' || lpad(g::text, 34, '0'), '34010001', '合肥市某执收单位', '340100', 'KEY' || g %% 1000, 'resident', '王**',
        '[]', 5000, 0, 0, 'HIST-X' || g, now() - (g %% 2500000) * interval '1 second', 'expired',
        '3401002630' || lpad(g::text, 10, '0'), 'nontax', 'GOV/case-system',
        now() - interval '9 days' - (g %% 2500000) * interval '1 second',
        now() - (g %% 2500000) * interval '1 second', now() + interval '1 hour' + (g %% 82800) * interval '1 second', 2
       FROM generate_series(1, %(n)s / 10) g""",
    """INSERT INTO payment_receipts (notice_id, ebill_code, ebill_no, check_code, issue_date, download_url, fetched_at)
       SELECT 'n-' || lpad(g::text, 34, '0'), '34010100', lpad(g::text, 10, '0'), 'abc123', current_date - 45,
        'https://nontax.example/r/' || g, now() - interval '45 days' FROM generate_series(1, %(n)s) g""",
    """INSERT INTO payment_refunds (notice_id, refund_request_id, request_hash, amount_fen, reason, status,
        platform_refund_id, requested_by, created_at, completed_at)
       SELECT 'n-' || lpad(g::text, 34, '0'), 'RR-' || g, repeat('0', 64), 1000, '多缴', 'succeeded', 'RF' || g,
        'finance', now() - interval '44 days', now() - interval '44 days' FROM generate_series(1, %(n)s / 20) g""",
    """INSERT INTO payment_notice_events (notice_id, seq, event_type, from_state, to_state, details, occurred_at,
        message_id, envelope, published_at)
       SELECT 'n-' || lpad(g::text, 34, '0'), 1, 'payment.paid', 'registered', 'paid', '{}',
        now() - interval '45 days', gen_random_uuid()::text, '{}', now() - interval '45 days'
       FROM generate_series(1, %(n)s) g""",
    """INSERT INTO shipments (id, case_id, service_code, applicant_key, applicant_kind, created_by, created_at)
       SELECT 's-' || lpad(g::text, 34, '0'), 'HIST-' || g, '340100-GA-JSZ-01', 'KEY' || g %% 1000, 'resident',
        'GOV/case-system', now() - interval '50 days' FROM generate_series(1, %(legs)s) g""",
    """INSERT INTO shipment_legs (id, shipment_id, kind, carrier, state, signed_by_other, sender, recipient, weight_g,
        postage_fen, waybill_no, pickup_code_hash, pickup_attempts, created_by, created_at, updated_at, booked_at,
        closed_at, last_event_at, last_polled_at, version)
       SELECT 'l-' || lpad(g::text, 34, '0'), 's-' || lpad(g::text, 34, '0'), 'results', 'sf', 'delivered', false, '{}',
        '{}', 200, 1200, 'SF' || lpad(g::text, 12, '0'), '', 0, 'GOV/case-system', now() - interval '50 days',
        now() - interval '45 days', now() - interval '49 days', now() - interval '45 days', now() - interval '45 days',
        now() - interval '46 days', 4
       FROM generate_series(1, %(legs)s) g""",
    """INSERT INTO shipment_leg_events (leg_id, event_type, details, occurred_at, message_id, envelope, published_at)
       SELECT 'l-' || lpad(g::text, 34, '0'), 'shipment.delivered', '{}', now() - interval '45 days',
        gen_random_uuid()::text, '{}', now() - interval '45 days' FROM generate_series(1, %(legs)s) g""",
]


def fill(url: str, n: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in FILL:
            conn.execute(sql, {"n": n, "legs": n * 3 // 10})
        conn.execute("VACUUM ANALYZE")


class Captured:
    """The statements a tick runs (SQLAlchemy's before_cursor_execute), to EXPLAIN them afterwards."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.statements: dict[str, object] = {}
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            self.statements.setdefault(statement, parameters)

    def sequential_scans(self, label: str) -> list[str]:
        """Each captured SELECT's plan: a sequential scan of a table of 10,000 rows or more is a problem."""
        from sqlalchemy import text

        problems = []
        with self.engine.connect() as conn:
            big = {name for name, rows in conn.execute(text("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'"))
                   if rows >= 10_000}
            for statement, parameters in self.statements.items():
                plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
                first = " ".join(statement.split())[:90]
                problems += [f"{label}: {first}...: sequential scan of {t}" for t in sorted(big)
                             if f"Seq Scan on {t} " in plan]
        return problems


def runtime_on(url: str):
    from bootstrap.runtime import Runtime
    from config.settings import Settings

    return Runtime(Settings.from_env({**os.environ, "GOVLINK_DATABASE_URL": url}), name="bench-poll")


def tick_ms(url: str, explain: bool) -> tuple[float, dict, list[str]]:
    """p50 of TICKS ticks of both pollers (the real services, on `url`); and the plans' problems."""
    runtime = runtime_on(url)
    payments, logistics = runtime.payments, runtime.logistics
    captured = Captured(runtime.db.engine)
    reports = {"payments": payments.poll().as_dict(), "logistics": logistics.poll().as_dict()}  # warm
    problems = captured.sequential_scans("poll") if explain else []
    from sqlalchemy import event

    event.remove(runtime.db.engine, "before_cursor_execute", captured._seen)
    times = []
    for _ in range(TICKS):
        started = time.perf_counter()
        payments.poll()
        logistics.poll()
        times.append((time.perf_counter() - started) * 1000)
    runtime.db.dispose()
    return stats.median(times), reports, problems


def busy(reports: dict) -> list[str]:
    """What a tick did ("payments.paid=3", "payments.errors=31"): nothing is due in the bench's history, so a
    tick that did anything measured other work than the one the figure claims."""
    return [f"{poller}.{key}={len(value) if isinstance(value, list) else value}"
            for poller, report in reports.items() for key, value in report.items() if value]


def supervision_check_plans(scale: float) -> list[str]:
    """EXPLAIN the supervision check's queries on the city month: its cursor moved to the chain's end, then
    a hundred department calls appended (the ingest's batch statements read the steps and the log)."""
    from bench.city_reads import ensure_city
    from bench.supervision_ingest import entries
    from bus.message_log.chain import append
    from supervision.check import run_check

    url = ensure_city(scale, 18)
    with psycopg.connect(url, autocommit=True) as conn:  # records other benches appended are not traffic
        conn.execute("UPDATE supervision_cursor SET last_seq = (SELECT last_seq FROM message_log_head)")
    runtime = runtime_on(url)
    with runtime.db.transaction() as conn:
        append(conn, entries(random.Random(18), 100, datetime.now(timezone.utc) - timedelta(minutes=5)))
    captured = Captured(runtime.db.engine)
    started = time.perf_counter()
    report = run_check(runtime, publish=False)  # the queries, without waiting for RabbitMQ's confirms
    print(f"supervision check on the city month: {(time.perf_counter() - started) * 1000:.0f} ms ({report})")
    problems = captured.sequential_scans("supervision.check")
    if report.started != 100:
        problems.append(f"supervision.check started {report.started} of the 100 calls' steps")
    runtime.db.dispose()
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The pollers' tick against their history (issue 18)")
    parser.add_argument("--reuse", action="store_true", help="use the two databases of a previous run as they are")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_CITY_SCALE", "0.1")))
    args = parser.parse_args(argv)
    results, plans = {}, []
    for label, n in SIZES.items():
        name = f"{city.CITY_DATABASE}_poll_{label}"
        if args.reuse:
            from store import migrate
            from store.db import Database

            url = city.city_url(city.DEFAULT_URL, name)
            database = Database(url)
            migrate.upgrade(database)
            database.dispose()
        else:
            started = time.monotonic()
            url = city.fresh_database(city.DEFAULT_URL, name)
            fill(url, n)
            print(f"{label}: {n} historic notices, {n * 3 // 10} legs written in {time.monotonic() - started:.0f} s")
        results[label], reports, problems = tick_ms(url, explain=label == "city")
        plans += problems + [f"{label}: nothing is due, yet the tick did {work}" for work in busy(reports)]
        print(f"{label}: tick p50 {results[label]:.1f} ms; {reports}")
    plans += supervision_check_plans(args.scale)
    print(f"plans: {'; '.join(plans) or 'no sequential scan of history in the polls, relays and the supervision check'}")
    print(f"RESULT city_poll_tick_ms small={results['small']:.1f} city={results['city']:.1f} "
          f"ratio={results['city'] / results['small']:.2f}")
    if plans:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
