"""The supervision check reads the message log faster than the city writes it.

    python -m bench.supervision_ingest

Every department call leaves four records in the message log (the call out and in, the reply in and
out), and the scheduled check (`supervision.check.ingest`) reads each once to start and end the steps it
supervises. If it reads slower than the log grows, the timelines and warnings fall behind for good, and
after an outage its backlog takes as long again to clear. On a fresh database of its own
(`<database>_ingest`) the bench writes CALLS department calls (default 25,000: some 94,000 records)
through `bus.message_log.chain.append` in batches of 500, as the log's writer does (the baseline), then
times the check reading all of them, and prints
`RESULT supervision_ingest records=... write_per_s=... read_per_s=... ratio=... catch_up_hour_s=...`:
ratio is read over write speed; catch_up_hour_s is how long the check takes to read an hour of the
design load (issue 18's steady 100 calls/s: 1,440,000 records). Target: read_per_s >= 4,000, ten times
the design load's 400 records/s, so an hour's backlog clears in six minutes. About one call in eight is
never answered, one in six answered after its deadline, and one reply in ten is logged before its call.
"""
from __future__ import annotations

import os
import random
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import make_url

CALLS = int(os.environ.get("BENCH_INGEST_CALLS", "25000"))
DESIGN_RECORDS_PER_HOUR = 100 * 4 * 3600  # 100 calls/s, four records a call
URL = os.environ.get("GOVLINK_DATABASE_URL", "postgresql://govlink:govlink@127.0.0.1:5432/govlink_bench")


def entries(rng: random.Random, calls: int, start: datetime) -> list[tuple[dict, str]]:
    from bus.envelope import new_envelope

    out = []
    for i in range(calls):
        at = start + timedelta(milliseconds=10 * i)
        call = new_envelope("service.call", {"name": "x"}, client="channel/web-portal", service=f"svc-{i % 40}",
                            operation="verify-identity", case_id=f"CASE-{i // 3}")
        call["issued_at"] = at.isoformat()
        pair = [(call, "out"), (call, "in")]
        if rng.random() > 0.125:
            late = rng.random() < 1 / 6
            reply = new_envelope("service.result" if rng.random() > 0.05 else "service.call.failed", {"match": True},
                                 client="govlink/connector-worker", service=call["service"], case_id=call["case_id"],
                                 causation_id=call["message_id"], correlation_id=call["correlation_id"])
            reply["issued_at"] = (at + timedelta(seconds=45 if late else 0.05)).isoformat()
            answer = [(reply, "in"), (reply, "out")]
            pair = answer + pair if rng.random() < 0.1 else pair + answer
        out.extend(pair)
    return out


def main() -> None:
    from bench.city_db import fresh_database
    from bus.message_log.chain import append
    from store.db import Database
    from supervision.check import CheckReport, ingest
    from supervision.config import load

    url = fresh_database(URL, (make_url(URL).database or "govlink_bench") + "_ingest")
    db = Database(url)
    try:
        log = entries(random.Random(18), CALLS, datetime.now(timezone.utc) - timedelta(hours=2))
        started = time.perf_counter()
        for i in range(0, len(log), 500):
            with db.transaction() as conn:
                append(conn, log[i:i + 500])
        wrote = time.perf_counter() - started
        report = CheckReport()
        started = time.perf_counter()
        ingest(db, load().engine(), report)
        read = time.perf_counter() - started
        if report.read != len(log) or report.started != CALLS:
            raise SystemExit(f"the check read {report.read} of {len(log)} records and started {report.started} "
                             f"of {CALLS} steps")
        print(f"check: {report}; wrote {len(log)} records in {wrote:.1f} s, read them in {read:.1f} s")
        print(f"RESULT supervision_ingest records={len(log)} write_per_s={len(log) / wrote:.0f} "
              f"read_per_s={len(log) / read:.0f} ratio={wrote / read:.2f} "
              f"catch_up_hour_s={DESIGN_RECORDS_PER_HOUR * read / len(log):.0f}")
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
