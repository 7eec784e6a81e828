"""Rate limits (issue 15, finding 12): token buckets in the database, shared by every process.

A limit (`config/rate_limits.yaml`, or the file GOVLINK_RATE_LIMITS names) allows `max_hits` at
once and refills evenly over `per_seconds`. `hit(db, limit, key)` takes one token from the bucket of
(limit, key) under a row lock, or raises `RateLimited` with the seconds to wait. Buckets are keyed
by a SHA-256 of the limit name and key, so no subject, client or address is stored. Gateways with
several processes (gunicorn workers) and the connector workers share the buckets through the
database; a lost race to create a bucket is retried once. A bucket unused for the longest window
of any limit is full again, the same as no bucket: each new bucket removes up to PRUNE_BATCH such
buckets, so the table holds the keys seen within that window, not every address and person ever.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from config.settings import REPO_ROOT
from store.models.guard import RateLimitBucket

DEFAULT_PATH = REPO_ROOT / "config" / "rate_limits.yaml"
KEY_KINDS = ("subject", "client", "ip")
PRUNE_BATCH = 100


class RateLimitConfigError(ValueError):
    """The limits file is invalid; the message names the file and the limit."""


class RateLimited(Exception):
    """Over the limit; `retry_after` is whole seconds until a hit is allowed again."""

    def __init__(self, limit: "Limit", retry_after: int):
        super().__init__(f"rate limit {limit.name} reached; retry after {retry_after} s")
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    name: str
    key: str  # subject | client | ip
    max_hits: int
    per_seconds: float

    @property
    def rate(self) -> float:
        """Tokens refilled per second."""
        return self.max_hits / self.per_seconds


def parse_limits(raw: dict, source: str = "<memory>") -> dict[str, Limit]:
    """Limits from the parsed YAML; RateLimitConfigError naming the limit and field if invalid."""
    if not isinstance(raw, dict) or not isinstance(raw.get("limits"), dict) or set(raw) != {"limits"}:
        raise RateLimitConfigError(f"{source}: expected one mapping `limits: {{<name>: {{...}}}}`")
    limits = {}
    for name, spec in raw["limits"].items():
        where = f"{source}: limits.{name}"
        if not isinstance(spec, dict) or set(spec) != {"key", "max_hits", "per_seconds"}:
            raise RateLimitConfigError(f"{where}: give exactly key, max_hits and per_seconds")
        if spec["key"] not in KEY_KINDS:
            raise RateLimitConfigError(f"{where}.key: one of {', '.join(KEY_KINDS)}")
        if not isinstance(spec["max_hits"], int) or isinstance(spec["max_hits"], bool) or spec["max_hits"] < 1:
            raise RateLimitConfigError(f"{where}.max_hits: a whole number of at least 1")
        if not isinstance(spec["per_seconds"], (int, float)) or spec["per_seconds"] <= 0:
            raise RateLimitConfigError(f"{where}.per_seconds: a positive number of seconds")
        limits[name] = Limit(name, spec["key"], spec["max_hits"], float(spec["per_seconds"]))
    return limits


@lru_cache(maxsize=4)
def load_limits(path: str | None = None) -> dict[str, Limit]:
    """The limits of `path`, else of GOVLINK_RATE_LIMITS, else of config/rate_limits.yaml."""
    file = Path(path or os.environ.get("GOVLINK_RATE_LIMITS") or DEFAULT_PATH)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RateLimitConfigError(f"{file}: cannot be read as YAML: {exc}") from None
    return parse_limits(raw, str(file))


def limit_of(name: str) -> Limit:
    """One configured limit by name (KeyError if it is not declared)."""
    return load_limits()[name]


def take(tokens: float, elapsed: float, limit: Limit) -> tuple[bool, float, int]:
    """The token-bucket decision, pure: (allowed, tokens left, seconds to wait if refused).

    `tokens` is what the bucket held `elapsed` seconds ago. A refused hit takes nothing.
    """
    available = min(float(limit.max_hits), tokens + max(0.0, elapsed) * limit.rate)
    if available >= 1.0:
        return True, available - 1.0, 0
    return False, available, max(1, math.ceil((1.0 - available) / limit.rate))


def bucket_id(limit: Limit, key: str) -> str:
    return hashlib.sha256(f"{limit.name}\x00{key}".encode()).hexdigest()


def hit(db, limit: Limit, key: str, *, now: datetime | None = None) -> None:
    """Count one hit of `key` against `limit` (its own transaction); raise RateLimited if over."""
    bucket = bucket_id(limit, key)
    for attempt in (1, 2):
        try:
            with db.unit_of_work() as session:
                moment = now or datetime.now(timezone.utc)
                row = session.execute(select(RateLimitBucket).where(RateLimitBucket.bucket == bucket)
                                      .with_for_update()).scalar_one_or_none()
                if row is None:
                    prune(session, moment)
                    row = RateLimitBucket(bucket=bucket, tokens=float(limit.max_hits), updated_at=moment)
                    session.add(row)
                    session.flush()
                    elapsed = 0.0
                else:
                    elapsed = (moment - row.updated_at).total_seconds()
                allowed, left, wait = take(row.tokens, elapsed, limit)
                row.tokens, row.updated_at = left, moment
            break
        except IntegrityError:  # another process created the bucket first: lock theirs
            if attempt == 2:
                raise
    if not allowed:
        raise RateLimited(limit, wait)


def prune(session, now: datetime, limits: dict[str, Limit] | None = None) -> int:
    """Remove up to PRUNE_BATCH buckets unused for the longest window of any limit (full again, so
    keeping them changes no decision); the oldest first, read by the index on `updated_at`."""
    window = max((limit.per_seconds for limit in (limits or load_limits()).values()), default=0.0)
    cutoff = now - timedelta(seconds=window)
    stale = (select(RateLimitBucket.bucket).where(RateLimitBucket.updated_at < cutoff)
             .order_by(RateLimitBucket.updated_at).limit(PRUNE_BATCH))
    return session.execute(delete(RateLimitBucket).where(RateLimitBucket.bucket.in_(stale.scalar_subquery()))).rowcount
