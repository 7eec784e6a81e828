"""Reads at city scale (issue 18), on the city month of bench/city.py.

    python -m bench.city_reads --scale 0.1     # 1/10 of the city; --scale 1.0 the whole city

Uses the database bench/city.py wrote (`city.CITY_DATABASE`); generates it first when it is missing or was
made at another scale or on another day. The gateway app (routes.app.create_app, the real one, on
that database) answers in process through Flask's test client, with tokens of the demo supervisor
and finance users from the real Keycloak. Prints:

- `RESULT city_supervision_stats_ms=<p95>`: 20 requests of GET /api/v1/supervision/statistics for
  the month's 30 days (target < 1,000);
- `RESULT city_metrics_ms=<p95>`: 20 scrapes of /metrics (target < 300), with govlink_supervision_up 1
  (with the scrape token, GOVLINK_METRICS_TOKEN);
- `RESULT city_timeline_p99_ms=<p99>`: GET /api/v1/supervision/cases/{id}/timeline of 1,000 random
  cases (target < 50); before it, EXPLAIN of every timeline lookup by case id must show no
  sequential scan of a big table;
- `RESULT city_discrepancy_page_ms=<p95>`: paging (500 a page, `next_url`) through every open
  discrepancy (100,000 at full scale; target < 500).
"""
from __future__ import annotations

import argparse
import os
import random
import time
from datetime import timedelta

import psycopg

from bench import city

SUPERVISOR, FINANCE, PASSWORD = "supervisor01", "finance01", "Hefei-Demo-2026"  # config/realm.py demo_users()
MOBILE_REDIRECT = "http://127.0.0.1/mobile/cb"
BIG_ROWS = 10_000  # a sequential scan of a smaller table (service_calls is empty here) is the planner's right call


def percentile(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, max(0, round(q / 100 * len(data) + 0.5) - 1))]


def ensure_city(scale: float, seed: int) -> str:
    """The city database at this scale, seed and day (generated unless it is already there)."""
    url = city.city_url(city.DEFAULT_URL)
    today = city.datetime.now(city.BEIJING).date()
    marker = city.marker(scale, seed, today)
    try:
        with psycopg.connect(url) as conn:
            found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                 "WHERE datname = current_database()").fetchone()[0]
    except psycopg.OperationalError:
        found = None
    if found != marker:
        r = city.generate(city.DEFAULT_URL, scale, seed)
        print(city.result_line(r, scale))
    else:  # made before a newer migration: bring its schema (and indexes) up to date
        from store import migrate
        from store.db import Database

        database = Database(url)
        migrate.upgrade(database)
        database.dispose()
    return url


def token(settings, username: str) -> str:
    from simulators.channels.signin import Browserless

    return Browserless(settings.issuer).sign_in("mobile-app", MOBILE_REDIRECT, username=username,
                                                password=PASSWORD)["access_token"]


def explain_timeline(url: str, case_id: str) -> list[str]:
    """EXPLAIN every timeline lookup by case id: the big tables each read by an index."""
    queries = [
        ("SELECT body FROM message_log WHERE case_id = %s ORDER BY seq", (case_id,)),
        ("SELECT * FROM payment_notices WHERE case_id = %s", (case_id,)),
        ("SELECT l.* FROM shipment_legs l JOIN shipments s ON s.id = l.shipment_id WHERE s.case_id = %s", (case_id,)),
        ("SELECT * FROM service_calls WHERE case_id = %s", (case_id,)),
        ("SELECT * FROM supervision_steps WHERE case_id = %s", (case_id,)),
    ]
    problems = []
    with psycopg.connect(url) as conn:
        big = {name for name, rows in conn.execute("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'")
               if rows >= BIG_ROWS}
        for sql, params in queries:
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params))
            for table in big:
                if f"Seq Scan on {table} " in plan:
                    problems.append(f"{sql}: sequential scan of {table}")
    return problems


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def run(scale: float, seed: int) -> dict:
    url = ensure_city(scale, seed)
    os.environ["GOVLINK_DATABASE_URL"] = url
    from config.settings import Settings
    from bootstrap.gateway import create_app

    settings = Settings.from_env()
    app = create_app(settings)
    client = app.test_client()
    sup = {"Authorization": f"Bearer {token(settings, SUPERVISOR)}"}
    fin = {"Authorization": f"Bearer {token(settings, FINANCE)}"}
    today = city.datetime.now(city.BEIJING).date()
    first, last = today - timedelta(days=30), today - timedelta(days=1)
    out = {}

    def statistics_call():
        r = client.get(f"/api/v1/supervision/statistics?since={first}&until={last}", headers=sup)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        out["steps"] = r.get_json()["totals"]["steps"]

    statistics_call()  # warm: imports, connection pool, caches of the database
    out["stats_ms"] = percentile([timed(statistics_call) for _ in range(20)], 95)

    scrape_headers = {"Authorization": f"Bearer {settings.metrics_token}"}  # /metrics wants the scrape token

    def scrape():
        r = client.get("/metrics", headers=scrape_headers)
        assert r.status_code == 200, r.status_code
        out["up"] = "govlink_supervision_up 1.0" in r.get_data(as_text=True)

    scrape()
    out["metrics_ms"] = percentile([timed(scrape) for _ in range(20)], 95)

    with psycopg.connect(url) as conn:
        cases = [r[0] for r in conn.execute("SELECT case_id FROM payment_notices ORDER BY random() LIMIT 1000")]
    out["plan_problems"] = explain_timeline(url, cases[0])
    rng = random.Random(seed)
    rng.shuffle(cases)

    def timeline(case_id):
        r = client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=sup)
        assert r.status_code == 200, (case_id, r.status_code)

    timeline(cases[0])
    out["timeline_p99_ms"] = percentile([timed(lambda c=c: timeline(c)) for c in cases], 99)

    pages, seen, next_url = [], 0, "/api/v1/reconciliation/discrepancies?status=open&limit=500"
    while next_url:
        started = time.perf_counter()
        r = client.get(next_url, headers=fin)
        pages.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        body = r.get_json()
        seen += len(body["discrepancies"])
        next_url = body["next_url"]
    out["pages"], out["discrepancies"] = len(pages), seen
    out["page_ms"] = percentile(pages, 95)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reads at city scale (issue 18)")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_CITY_SCALE", "0.1")))
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    r = run(args.scale, args.seed)
    print(f"city reads (scale {args.scale:g}): statistics over {r['steps']} steps; {r['discrepancies']} open discrepancies "
          f"in {r['pages']} pages; timeline plans: {'; '.join(r['plan_problems']) or 'every lookup by an index'}")
    print(f"RESULT city_supervision_stats_ms={r['stats_ms']:.0f}")
    print(f"RESULT city_metrics_ms={r['metrics_ms']:.0f} supervision_up={1 if r['up'] else 0}")
    print(f"RESULT city_timeline_p99_ms={r['timeline_p99_ms']:.1f}")
    print(f"RESULT city_discrepancy_page_ms={r['page_ms']:.0f}")
    if r["plan_problems"] or not r["up"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
