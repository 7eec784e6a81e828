"""The gateway's rate limits (store/ratelimit.py, config/rate_limits.yaml): 429 with Retry-After."""
from __future__ import annotations

from flask import current_app, request

from routes.errors import ApiError
from store.ratelimit import RateLimited, hit, limit_of


def enforce(name: str, principal=None) -> None:
    """Count this request against limit `name` (per subject, client or address); 429 if over."""
    limit = limit_of(name)
    if limit.key == "ip":
        key = request.remote_addr or "unknown"
    elif principal is None:
        raise RuntimeError(f"rate limit {name} counts per {limit.key}: pass the principal")
    else:
        key = principal.subject if limit.key == "subject" else principal.caller
    try:
        hit(current_app.extensions["govlink"].db, limit, key)
    except RateLimited as exc:
        raise ApiError(429, "rate_limited", f"Too many requests; try again in {exc.retry_after} s.",
                       {"limit": name, "retry_after": exc.retry_after}, {"Retry-After": str(exc.retry_after)}) from None
