"""Verifying the chain, with bounded memory, from its start or from an anchor (a checkpoint).

Two walkers give the same answers (tests compare them):

- in Python, on every backend: batches of plain rows by `seq` (keyset), each record re-hashed
  with `chain.record_hash` in its own `chain_format`; memory is one batch, whatever the log's length;
- on PostgreSQL, in the database, per range of `seq`, in parallel workers: every record re-hashed by
  PostgreSQL's `sha256()` over the same canonical form (format 2: `record_send` of the row; format 1:
  its JSON rebuilt with `to_json`) and linked (prev_hash) to the record `seq - 1` by the primary key;
  only the records with a problem come back to Python, with the record before each, so ten million
  records are checked without moving their bodies over the wire.

A report keeps the first `MAX_PROBLEMS` problems word for word and counts the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone

from sqlalchemy import func, select, text

from bus.message_log.chain import FORMATS, GENESIS, HASHED_COLUMNS, TEXT_COLUMNS, record_hash
from store.models.bus import MessageLogHead, MessageLogRecord

MAX_PROBLEMS = 1000
SQL_RANGE = 1_000_000  # records of `seq` per statement on PostgreSQL


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    first_seq: int = 1  # the first record this verification covered
    last_seq: int = 0  # the chain's last record it saw, and that record's hash
    last_hash: str = GENESIS
    since: int | None = None  # the checkpoint's record it started after (None: from the start)

    @property
    def ok(self) -> bool:
        return not self.problem_count

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


@dataclass(frozen=True)
class Anchor:
    """A record known good: verification goes on from the record after it."""

    seq: int
    record_hash: str


def verify(session, batch: int = 5000, *, since: Anchor | None = None, method: str = "auto") -> VerifyReport:
    """Walk the chain (all of it, or after `since`); report every altered, removed or reordered record.

    `method`: "python", "sql" (PostgreSQL only) or "auto" (sql on PostgreSQL, else python).
    """
    if method == "auto":
        method = "sql" if session.get_bind().dialect.name == "postgresql" else "python"
    report = VerifyReport()
    expected, prev = 1, GENESIS
    if since is not None:
        report.since = since.seq
        expected, prev = since.seq + 1, since.record_hash
        _check_anchor(session, since, report)
    report.first_seq, report.last_seq, report.last_hash = expected, expected - 1, prev
    if method == "sql":
        _walk_sql(session, report, expected, prev)
    else:
        _walk_python(session, report, expected, prev, batch)
    head = session.get(MessageLogHead, 1)
    if head is not None and head.last_seq != report.last_seq:
        report.add(f"the chain ends at record {report.last_seq} but its head says {head.last_seq} "
                   "(records removed at the end?)")
    elif head is not None and head.last_hash != report.last_hash:
        report.add(f"the head's hash is not that of the chain's last record {report.last_seq}")
    return report


def _columns():
    return [getattr(MessageLogRecord, c) for c in HASHED_COLUMNS] + [MessageLogRecord.chain_format,
                                                                      MessageLogRecord.prev_hash,
                                                                      MessageLogRecord.record_hash]


def _intact(values) -> bool:
    row = dict(zip(HASHED_COLUMNS, values[:len(HASHED_COLUMNS)]))
    chain_format, prev_hash, digest = values[len(HASHED_COLUMNS):]
    if chain_format not in FORMATS:
        return False
    if chain_format == 1:
        row["logged_at"] = row["logged_at"].astimezone(timezone.utc).isoformat()
    return record_hash(prev_hash, row, chain_format) == digest


def _check_anchor(session, anchor: Anchor, report: VerifyReport) -> None:
    values = session.execute(select(*_columns()).where(MessageLogRecord.seq == anchor.seq)).first()
    if values is None:
        report.add(f"record {anchor.seq}, where the checkpoint is, is missing")
    elif values[-1] != anchor.record_hash:
        report.add(f"record {anchor.seq} no longer has the hash its checkpoint recorded (the chain was rewritten)")
    elif not _intact(values):
        report.add(f"record {anchor.seq} was altered (its hash does not match its content)")


def _walk_python(session, report: VerifyReport, expected: int, prev: str, batch: int) -> None:
    last_seen = expected - 1
    while True:
        rows = session.execute(select(*_columns()).where(MessageLogRecord.seq > last_seen)
                               .order_by(MessageLogRecord.seq).limit(batch)).all()
        if not rows:
            break
        for values in rows:
            seq, prev_hash, digest = values[0], values[-2], values[-1]
            report.checked += 1
            if seq != expected:
                report.add(f"records {expected}..{seq - 1} are missing")
            if prev_hash != prev:
                report.add(f"record {seq} does not follow the record before it (chain broken)")
            if not _intact(values):
                report.add(f"record {seq} was altered (its hash does not match its content)")
            expected, prev, last_seen = seq + 1, digest, seq
        session.expunge_all()
    report.last_seq, report.last_hash = last_seen, prev


def _format1_sql() -> str:
    """PostgreSQL text equal to `json.dumps(row, sort_keys, ensure_ascii=False, separators=(",", ":"))`."""
    parts = []
    for name in sorted(HASHED_COLUMNS):
        if name == "seq":
            value = "seq::text"
        elif name == "logged_at":  # datetime.isoformat() of a UTC time: microseconds only when not zero
            utc = "(logged_at AT TIME ZONE 'UTC')"
            value = (f"""'"' || to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN date_part('microseconds', """
                     f"""{utc})::bigint % 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00"'""")
        else:  # to_json escapes exactly as Python's json does with ensure_ascii=False
            value = f"coalesce(to_json({name})::text, 'null')"
        parts.append(f"""'"{name}":' || {value}""")
    return " || ',' || ".join(parts)


_FORMAT1 = f"""encode(sha256(convert_to(prev_hash || E'\\n' || '{{' || {_format1_sql()} || '}}', 'UTF8')), 'hex')"""


def _format2_sql(utf8: str) -> str:
    """Format 2 in SQL; `utf8` gives a text column's UTF-8 as bytea: "convert_to({}, 'UTF8')" in any database, or
    "textsend({})" (a third of the CPU) where the database's encoding and the session's client encoding are both
    UTF8 (parallel workers send in the database's encoding: _walk_sql sets the leader's)."""
    return ("encode(sha256(record_send(ROW(2, " + utf8.format("prev_hash") + ", seq::int8, logged_at::timestamptz, "
            + ", ".join(utf8.format(c) for c in TEXT_COLUMNS) + "))), 'hex')")


_FORMAT2 = _format2_sql("convert_to({}, 'UTF8')")


def _altered(format2: str) -> str:
    return f"record_hash IS DISTINCT FROM (CASE chain_format WHEN 2 THEN {format2} WHEN 1 THEN {_FORMAT1} END)"


# One statement per range of `seq`, its work per record all in parallel workers: each record is re-hashed by its
# own format (an unknown format gives NULL: altered) and linked to the record just before it (`seq - 1`, looked
# up by the primary key; none before `first`, where this verification starts), and only the records that are
# altered or not linked so go further (OFFSET 0 keeps that filter in the workers). For those the record before
# them in the log (not necessarily `seq - 1`: a gap) is looked up, and Python says what is wrong, as it says for
# the walker in Python. A window over every record in key order (a Gather Merge into one process) left the
# workers waiting on the leader. At most `_CAP` rows are fetched whole, since PostgreSQL plans no parallel
# workers for a cursor.
_RANGE_TEMPLATE = """
SELECT c.seq, b.seq AS lag_seq, c.prev_hash, b.record_hash AS lag_hash, c.altered FROM (
    SELECT seq, prev_hash, {altered} AS altered
    FROM message_log LEFT JOIN (SELECT seq AS before_seq, record_hash AS before_hash FROM message_log) p
                               ON before_seq = seq - 1 AND before_seq >= :first
    WHERE seq >= :lo AND seq < :hi AND ({altered} OR prev_hash IS DISTINCT FROM before_hash)
    OFFSET 0) c
LEFT JOIN LATERAL (
    SELECT b.seq, b.record_hash FROM message_log b WHERE b.seq < c.seq AND b.seq >= :first ORDER BY b.seq DESC LIMIT 1
) b ON true
ORDER BY c.seq
"""
_SQL_RANGE = _RANGE_TEMPLATE.format(altered=_altered(_format2_sql("textsend({})")))  # a UTF8 database
_SQL_RANGE_ANY = _RANGE_TEMPLATE.format(altered=_altered(_FORMAT2))  # any other
# How many records the range holds, and its last one (the next range's records link to it by the lookup above).
_SQL_SPAN = """
SELECT s.n, s.last, m.record_hash FROM (SELECT count(*) AS n, max(seq) AS last FROM message_log
                                        WHERE seq >= :lo AND seq < :hi) s LEFT JOIN message_log m ON m.seq = s.last
"""
_CAP = 2 * MAX_PROBLEMS + 2
# The planner takes sha256() for as cheap as an addition (procost 1): without the costs it hashes in one process.
# The link is looked up by the primary key in the process that hashes (a nested loop: a hash or merge join would
# read the range twice), and the range is read by the primary key, never by scanning the whole log per range.
# JIT would compile the hashing expressions anew in every process of every range, and they are function calls.
_PARALLEL = ("SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; SET LOCAL enable_hashjoin = off; "
             "SET LOCAL enable_mergejoin = off; SET LOCAL enable_seqscan = off; SET LOCAL jit = off")


def _walk_sql(session, report: VerifyReport, expected: int, prev: str) -> None:
    top = session.execute(select(func.max(MessageLogRecord.seq))).scalar() or 0
    session.execute(text(_PARALLEL))
    statement = _SQL_RANGE_ANY
    if session.execute(text("SHOW server_encoding")).scalar() == "UTF8":
        session.execute(text("SET LOCAL client_encoding = 'UTF8'"))  # textsend's bytes in this process too
        statement = _SQL_RANGE
    first, genesis, lo = expected, prev, expected  # where this verification starts, and the hash before it
    while lo <= top:
        hi = lo + SQL_RANGE
        found = []  # (seq, order, problem) of this range, at most 2 * MAX_PROBLEMS kept, the rest counted
        extra = 0
        for seq, lag_seq, prev_hash, lag_hash, altered in _range_rows(session, statement, first, lo, hi):
            # no record before it since `first`: the one before `first` (the anchor's, or none)
            before_seq, before_hash = (first - 1, genesis) if lag_seq is None else (lag_seq, lag_hash)
            problems = []
            if seq != before_seq + 1:
                problems.append((seq, 0, f"records {before_seq + 1}..{seq - 1} are missing"))
            if prev_hash != before_hash:
                problems.append((seq, 1, f"record {seq} does not follow the record before it (chain broken)"))
            if altered:
                problems.append((seq, 2, f"record {seq} was altered (its hash does not match its content)"))
            for problem in problems:
                if len(found) < 2 * MAX_PROBLEMS:
                    found.append(problem)
                else:
                    extra += 1
        n, last, digest = session.execute(text(_SQL_SPAN), {"lo": lo, "hi": hi}).one()
        if n:
            report.checked += n
            expected, prev = last + 1, digest
        for _, _, problem in sorted(found):
            report.add(problem)
        report.problem_count += extra
        lo = hi
    report.last_seq, report.last_hash = expected - 1, prev


def _range_rows(session, statement: str, first: int, lo: int, hi: int):
    params = {"first": first, "lo": lo, "hi": hi}
    rows = session.execute(text(statement + " LIMIT :cap"), {**params, "cap": _CAP}).all()
    if len(rows) < _CAP:
        return rows
    # Thousands of problems in this range: all of them again, through a cursor (one process, bounded memory).
    return session.execute(text(statement).execution_options(stream_results=True, yield_per=10_000), params)
