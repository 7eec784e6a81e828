"""`govlink audit verify` at city scale (issue 18), on the city month of bench/city.py.

    python -m bench.city_audit --scale 0.1

Runs what `govlink audit verify --full`, then `govlink audit verify` do (bus/cli.py), each in a
child process against the city database (timed from its first query, without the start of Python),
and prints
`RESULT city_audit_verify full_s=... full_peak_mib=... incremental_s=... records=... new=...`:
the full verification of the whole chain (time, and the peak resident memory of the verifying
process; targets < 60 s and < 500 MiB at 10,000,000 records), then, after 100,000 new records are
appended through `bus.message_log.chain.append`, the incremental one from the checkpoint the full
one recorded (target < 5 s). Each run appends 100,000 records to the city's log.

    python -m bench.city --log-only --scale 1 --database govlink_city_log    # only the log, ~10M records
    python -m bench.city_audit --database govlink_city_log                   # measured on it as it is
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from bench.city_reads import ensure_city

NEW_RECORDS = 100_000


def run_verify(url: str, full: bool) -> tuple[float, float, dict]:
    """(seconds of the verification, the child's peak RSS in MiB, its report) in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "bench.city_audit", "--child", url] + (["--full"] if full else []),
                          capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"verification failed: {proc.stdout}{proc.stderr[-2000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if not report["ok"]:
        raise SystemExit(f"the city's chain did not verify: {report}")
    # ru_maxrss of children is the largest child so far: only a new maximum is this child's own.
    return report["seconds"], max(peak, before) / 1024, report


def child(url: str, full: bool) -> None:
    """What `govlink audit verify [--full]` does (bus/cli.py), timed without the process's start."""
    from bus.message_log.checkpoint import checkpoint_key, record, verify_from_checkpoint
    from config.settings import Settings
    from store.db import Database

    database = Database(url)
    key = checkpoint_key(Settings.from_env())
    started = time.perf_counter()
    with database.unit_of_work() as session:
        report = verify_from_checkpoint(session, key, full=full)
        record(session, key, report)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "ok": report.ok, "checked": report.checked, "since": report.since,
                      "problems": report.problems[:5]}))


def append_records(url: str, n: int) -> None:
    from bus.envelope import new_envelope
    from bus.message_log.chain import append
    from store.db import Database

    database = Database(url)
    try:
        for start in range(0, n, 5_000):
            with database.unit_of_work() as session:
                append(session, [(new_envelope("service.call", {"i": start + i}, client="channel/web-portal",
                                               service="e-licence"), "in")
                                 for i in range(min(5_000, n - start))])
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="govlink audit verify at city scale (issue 18)")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_CITY_SCALE", "0.1")))
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--database", help="an existing database (e.g. made by bench.city --log-only) instead of "
                                           "the city at --scale")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.full)
    if args.database:
        from bench.city_db import city_url

        url = city_url(name=args.database)
    else:
        url = ensure_city(args.scale, args.seed)
    full_s, full_mib, full = run_verify(url, True)
    append_records(url, NEW_RECORDS)
    inc_s, _, inc = run_verify(url, False)
    print(f"full: {full['checked']} records intact; incremental: {inc['checked']} records after record {inc['since']}")
    records = full["checked"]
    print(f"RESULT city_audit_verify full_s={full_s:.1f} full_peak_mib={full_mib:.0f} incremental_s={inc_s:.2f} "
          f"records={records} new={NEW_RECORDS}")


if __name__ == "__main__":
    main()
