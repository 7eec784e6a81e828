"""The token bucket of store/ratelimit.py (pure decision) and the limits files."""
from pathlib import Path

import pytest
import yaml

from store.ratelimit import Limit, RateLimitConfigError, RateLimited, load_limits, parse_limits, take

LIMIT = Limit("x", "subject", max_hits=5, per_seconds=60)


def test_a_full_bucket_allows_a_burst_then_refuses_with_the_wait():
    tokens = 5.0
    for _ in range(5):
        allowed, tokens, _wait = take(tokens, 0, LIMIT)
        assert allowed
    allowed, tokens, wait = take(tokens, 0, LIMIT)
    assert not allowed and wait == 12  # one token per 12 s


def test_the_bucket_refills_evenly_and_never_beyond_max_hits():
    allowed, tokens, _ = take(0.0, 12, LIMIT)
    assert allowed and tokens == pytest.approx(0.0)
    assert take(0.0, 10_000, LIMIT)[1] == pytest.approx(4.0)
    assert take(0.0, 6, LIMIT)[0] is False and take(0.0, 6, LIMIT)[2] == 6


def test_a_refused_hit_takes_nothing():
    allowed, tokens, _ = take(0.5, 0, LIMIT)
    assert not allowed and tokens == 0.5


@pytest.mark.parametrize("spec", [{"key": "who", "max_hits": 1, "per_seconds": 1},
                                  {"key": "ip", "max_hits": 0, "per_seconds": 1},
                                  {"key": "ip", "max_hits": 1, "per_seconds": 0},
                                  {"key": "ip", "max_hits": 1}])
def test_bad_limits_are_refused_naming_the_limit(spec):
    with pytest.raises(RateLimitConfigError, match="limits.l"):
        parse_limits({"limits": {"l": spec}})


def test_the_shipped_and_the_test_limits_name_the_same_limits():
    root = Path(__file__).resolve().parents[2]
    shipped = load_limits(str(root / "config" / "rate_limits.yaml"))
    tests = parse_limits(yaml.safe_load((root / "tests" / "support" / "rate_limits.yaml").read_text()))
    assert set(shipped) == set(tests) >= {"verify-identity/subject", "notice-create/subject", "registration/ip"}
    assert all(shipped[n].key == tests[n].key for n in shipped)


def test_buckets_full_again_are_pruned_so_the_table_holds_only_recent_keys(tmp_path):
    """A city's addresses and people over months must not pile up: each new bucket removes buckets
    unused for the longest window (full again), oldest first, and keeps every recent one."""
    from datetime import datetime, timedelta, timezone

    from store import migrate
    from store.db import Database
    from store.ratelimit import PRUNE_BATCH, hit

    db = Database(f"sqlite:///{tmp_path / 'limits.sqlite3'}")
    migrate.upgrade(db)
    limit = Limit("registration/ip", "ip", 10, 600)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    for n in range(PRUNE_BATCH + 20):  # yesterday's callers
        hit(db, limit, f"203.0.113.{n}", now=start)
    hit(db, limit, "198.51.100.1", now=start + timedelta(days=1, seconds=-30))  # a recent caller: a new bucket
    assert db_count(db) == PRUNE_BATCH + 20 + 1 - PRUNE_BATCH  # one batch of the stale ones went, oldest first
    later = start + timedelta(days=1)
    hit(db, limit, "198.51.100.2", now=later)  # the next new bucket takes the rest
    assert db_count(db) == 2
    hit(db, limit, "198.51.100.3", now=later)
    assert db_count(db) == 3  # the recent caller's bucket and the two new ones stay
    for _ in range(9):  # the recent caller's bucket kept its state: one hit taken, nine left
        hit(db, limit, "198.51.100.1", now=later)
    with pytest.raises(RateLimited):
        hit(db, limit, "198.51.100.1", now=later)
    db.dispose()


def db_count(db) -> int:
    from sqlalchemy import func, select

    from store.models.guard import RateLimitBucket

    with db.unit_of_work() as session:
        return session.execute(select(func.count()).select_from(RateLimitBucket)).scalar_one()
