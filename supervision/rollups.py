"""Rollups of the supervised steps (issue 18): what the statistics read instead of every raw step.

- `supervision_rollups`: per Beijing day (of the step's start), step, service and system, the
  finished steps' counts (finished, overdue, failed) and a histogram of their durations; and the
  same per week (Monday to Sunday), so a month reads about 4 week rows and a few day rows instead
  of 30. The check adds a step when it closes it (`add_finished`, same transaction); a finished
  step never changes.
- `supervision_satisfaction_rollups` + `supervision_rated_groups`: a rated case counts once in
  each group (all / service / system / step) it has a step in, on the Beijing day of its first
  step there (`credit_rating`, called when the case is rated and when a step of a rated case starts);
  and once in ("rated", "all") on the day it was rated.

Durations histogram: a duration under 1,024 ms is its own bucket (exact); above, buckets are 1/16
of a doubling wide and stand for their geometric middle, so a percentile read from them is within
2.2 % (2^(1/32) - 1) of the exact one. The statistics read raw steps (exact) when the period has few.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
import sys
from array import array
from operator import add
from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, tuple_

from kernel.clock import BEIJING
from store.models.supervision import (CaseSatisfaction, RatedGroup, SatisfactionRollup, SupervisionRollup,
                                      SupervisionStep)

EXACT_BELOW_MS = 1024
PER_DOUBLING = 16
MAX_RELATIVE_ERROR = 2 ** (1 / (2 * PER_DOUBLING)) - 1  # 2.19 %
DIMENSIONS = ("service", "system", "step")
RATED = ("rated", "all")  # every rating, on the Beijing day it was given (the period's satisfaction)
MERGE_CHUNK = 500  # rollup keys read per statement (5 parameters each)


def bucket(ms: int) -> int:
    """The histogram bucket of a duration in ms (non-negative)."""
    ms = max(0, int(ms))
    if ms < EXACT_BELOW_MS:
        return ms
    return EXACT_BELOW_MS + int(math.floor(PER_DOUBLING * math.log2(ms / EXACT_BELOW_MS)))


def value_of(b: int) -> float:
    """The duration a bucket stands for: itself below 1,024 ms, else the bucket's geometric middle."""
    if b < EXACT_BELOW_MS:
        return float(b)
    return EXACT_BELOW_MS * 2 ** ((b - EXACT_BELOW_MS + 0.5) / PER_DOUBLING)


_WORD = "I" if array("I").itemsize == 4 else "L"  # unsigned 32 bits


class Histogram:
    """Counts per bucket, dense from the lowest bucket seen: what the statistics merge day rows into.
    Stored in a rollup row as bytes (`encode`): unsigned 32-bit little-endian words, the first bucket
    then the counts; reading 4,000 rows of these costs a few ms where JSON took 80."""

    __slots__ = ("first", "counts")

    def __init__(self, first: int = 0, counts: list[int] | None = None):
        self.first, self.counts = first, counts or []

    @classmethod
    def decode(cls, stored: bytes | None) -> "Histogram":
        if not stored:
            return cls()
        words = array(_WORD)
        words.frombytes(bytes(stored))
        if sys.byteorder != "little":
            words.byteswap()
        return cls(words[0], words[1:].tolist())

    @classmethod
    def of(cls, counter: dict[int, int]) -> "Histogram":
        if not counter:
            return cls()
        low, high = min(counter), max(counter)
        return cls(low, [counter.get(b, 0) for b in range(low, high + 1)])

    def encode(self) -> bytes:
        words = array(_WORD, [self.first, *self.counts] if self.counts else [])
        if sys.byteorder != "little":
            words.byteswap()
        return words.tobytes()

    def add(self, other: "Histogram") -> None:
        if not other.counts:
            return
        if not self.counts:
            self.first, self.counts = other.first, list(other.counts)
            return
        low = min(self.first, other.first)
        high = max(self.first + len(self.counts), other.first + len(other.counts))
        if low < self.first or high > self.first + len(self.counts):
            self.counts = [0] * (self.first - low) + self.counts + [0] * (high - self.first - len(self.counts))
            self.first = low
        offset, n = other.first - self.first, len(other.counts)
        self.counts[offset:offset + n] = map(add, self.counts[offset:offset + n], other.counts)

    def as_dict(self) -> dict[int, int]:
        return {self.first + i: c for i, c in enumerate(self.counts) if c}


def histogram_percentile(histogram, q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks, as
    statistics.percentile does, of the values the buckets stand for; None if empty."""
    if not isinstance(histogram, Histogram):
        histogram = Histogram.of(histogram)
    cumulative = list(accumulate(histogram.counts))
    total = cumulative[-1] if cumulative else 0
    if total == 0:
        return None
    rank = (total - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    # The value at 0-based position p is in the first bucket whose running count exceeds p.
    at_low = value_of(histogram.first + bisect_right(cumulative, low))
    at_high = value_of(histogram.first + bisect_right(cumulative, high))
    return at_low + (at_high - at_low) * (rank - low)


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def group_keys(step: str, service: str | None, system: str | None) -> list[tuple[str, str]]:
    """The groups a step counts in, as the statistics name them ("-" for none)."""
    return [("all", "all"), ("service", service or "-"), ("system", system or "-"), ("step", step)]


# ------------------------------------------------------------------------------ finished steps
def week_of(day: date) -> date:
    """The Monday of a Beijing day's week (the day of its week row)."""
    return day - timedelta(days=day.weekday())


def finished_rows(steps) -> dict[tuple, dict]:
    """Rollup rows (pure) from finished steps given as (started_at, step, service, system, duration_ms,
    overdue, failed): {(span, day, step, service, system): {finished, overdue, failed, histogram}},
    each step in its day's row (span "D") and its week's (span "W", day = the Monday)."""
    out: dict[tuple, dict] = {}
    for started_at, step, service, system, duration_ms, overdue, failed in steps:
        day = beijing_day(started_at)
        for key in (("D", day, step, service or "", system or ""), ("W", week_of(day), step, service or "", system or "")):
            row = out.get(key)
            if row is None:
                row = out[key] = {"finished": 0, "overdue": 0, "failed": 0, "histogram": Counter()}
            row["finished"] += 1
            row["overdue"] += 1 if overdue else 0
            row["failed"] += 1 if failed else 0
            if duration_ms is not None:
                row["histogram"][bucket(duration_ms)] += 1
    return out


def spans(first: date, end: date) -> tuple[tuple[date, date], list[tuple[date, date]]]:
    """The days [first, end) as the whole weeks inside (one range of Mondays) and the days around them:
    what a period reads, a week row standing for seven day rows."""
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    weeks = max(0, (end - monday).days // 7)
    if weeks == 0:
        return (first, first), [(first, end)]
    week_end = monday + timedelta(days=7 * weeks)
    return (monday, week_end), [(first, monday), (week_end, end)]


def _merge_into(session, rows: dict[tuple, dict]) -> None:
    # Only the check writes here, under its cursor lock (one writer), so read-modify-write is safe. The rows
    # the batch adds to are read in one statement per MERGE_CHUNK keys (a get per key autoflushed the
    # previous key's change first: two round trips a group, most of a check's time).
    table = SupervisionRollup
    existing: dict[tuple, SupervisionRollup] = {}
    keys = list(rows)
    with session.no_autoflush:
        for i in range(0, len(keys), MERGE_CHUNK):
            for row in session.scalars(select(table).where(
                    tuple_(table.span, table.day, table.step, table.service, table.system).in_(keys[i:i + MERGE_CHUNK]))):
                existing[(row.span, row.day, row.step, row.service, row.system)] = row
    for (span, day, step, service, system), add in rows.items():
        row = existing.get((span, day, step, service, system))
        if row is None:
            session.add(SupervisionRollup(span=span, day=day, step=step, service=service, system=system,
                                          finished=add["finished"],
                                          overdue=add["overdue"], failed=add["failed"],
                                          histogram=Histogram.of(add["histogram"]).encode()))
            continue
        histogram = Histogram.decode(row.histogram)
        histogram.add(Histogram.of(add["histogram"]))
        row.finished += add["finished"]
        row.overdue += add["overdue"]
        row.failed += add["failed"]
        row.histogram = histogram.encode()


def add_finished(session, steps: list[SupervisionStep]) -> None:
    """Count steps the check has just closed (in its transaction)."""
    if steps:
        session.flush()
        _merge_into(session, finished_rows((s.started_at, s.step, s.service, s.system, s.duration_ms, s.overdue,
                                            s.outcome == "failed") for s in steps))


# -------------------------------------------------------------------------------- satisfaction
def _upsert(session, model, keys: dict, increments: dict) -> None:
    """Add `increments` to the row of `keys`, creating it: one atomic statement on both backends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = model.__table__
    statement = insert(table).values(**keys, **increments)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={k: table.c[k] + statement.excluded[k] for k in increments})
    session.execute(statement)


def _insert_new(session, model, values: dict, keys: list[str]) -> bool:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    result = session.execute(insert(model.__table__).values(**values).on_conflict_do_nothing(index_elements=keys))
    return result.rowcount == 1


def case_groups(steps) -> dict[tuple[str, str], date]:
    """(pure) The groups of a case's steps, given as (started_at, step, service, system), each with
    the Beijing day of the case's first step in it."""
    groups: dict[tuple[str, str], date] = {}
    for started_at, step, service, system in steps:
        day = beijing_day(started_at)
        for group in group_keys(step, service, system):
            if group not in groups or day < groups[group]:
                groups[group] = day
    return groups


def credit_rating(session, case_id: str | None) -> None:
    """Count a rated case in every group it has a step in and was not counted in yet (idempotent)."""
    if not case_id:
        return
    rating = session.get(CaseSatisfaction, case_id)
    if rating is None:
        return
    session.flush()
    steps = session.execute(select(SupervisionStep.started_at, SupervisionStep.step, SupervisionStep.service,
                                   SupervisionStep.system).where(SupervisionStep.case_id == case_id)).all()
    groups = case_groups(steps)
    groups[RATED] = beijing_day(rating.rated_at)  # the period's ratings, by the day they were given
    for (dimension, key), day in sorted(groups.items()):
        if _insert_new(session, RatedGroup, {"case_id": case_id, "dimension": dimension, "key": key, "day": day,
                                             "rating": rating.rating}, ["case_id", "dimension", "key"]):
            _upsert(session, SatisfactionRollup, {"day": day, "dimension": dimension, "key": key},
                    {"ratings": 1, "rating_sum": rating.rating})


# ------------------------------------------------------------------------------------- rebuild
def rebuild(session, batch: int = 20000) -> None:
    """Recompute every rollup from the raw steps and ratings (after a migration or a bulk load).
    Streams the steps in primary-key pages; memory grows with the rollups, not the steps."""
    session.execute(delete(SupervisionRollup))
    session.execute(delete(SatisfactionRollup))
    session.execute(delete(RatedGroup))
    rows: dict[tuple, dict] = {}
    last = ""
    while True:
        page = session.execute(select(SupervisionStep.id, SupervisionStep.started_at, SupervisionStep.step,
                                      SupervisionStep.service, SupervisionStep.system, SupervisionStep.duration_ms,
                                      SupervisionStep.overdue, SupervisionStep.outcome)
                               .where(SupervisionStep.ended_at.is_not(None), SupervisionStep.id > last)
                               .order_by(SupervisionStep.id).limit(batch)).all()
        if not page:
            break
        for key, add in finished_rows((r[1], r[2], r[3], r[4], r[5], r[6], r[7] == "failed") for r in page).items():
            merge_rollup(rows, key, add)
        last = page[-1][0]
    _merge_into(session, rows)
    rated: dict[str, list] = {}
    for case_id, rating, rated_at, started_at, step, service, system in session.execute(
            select(CaseSatisfaction.case_id, CaseSatisfaction.rating, CaseSatisfaction.rated_at, SupervisionStep.started_at,
                   SupervisionStep.step, SupervisionStep.service, SupervisionStep.system)
            .outerjoin(SupervisionStep, SupervisionStep.case_id == CaseSatisfaction.case_id)):
        entry = rated.setdefault(case_id, [rating, rated_at, []])
        if started_at is not None:
            entry[2].append((started_at, step, service, system))
    totals: Counter = Counter()
    sums: Counter = Counter()
    for case_id, (rating, rated_at, steps) in rated.items():
        groups = case_groups(steps)
        groups[RATED] = beijing_day(rated_at)
        for (dimension, key), day in groups.items():
            session.add(RatedGroup(case_id=case_id, dimension=dimension, key=key, day=day, rating=rating))
            totals[(day, dimension, key)] += 1
            sums[(day, dimension, key)] += rating
    for (day, dimension, key), n in totals.items():
        session.add(SatisfactionRollup(day=day, dimension=dimension, key=key, ratings=n, rating_sum=sums[(day, dimension, key)]))
    session.flush()


def merge_rollup(into: dict[tuple, dict], key: tuple, add: dict) -> None:
    row = into.get(key)
    if row is None:
        into[key] = {"finished": add["finished"], "overdue": add["overdue"], "failed": add["failed"],
                     "histogram": Counter(add["histogram"])}
        return
    for name in ("finished", "overdue", "failed"):
        row[name] += add[name]
    row["histogram"].update(add["histogram"])


