"""The connector worker (`govlink worker connectors`): takes department calls off the bus and makes
them through a connector.

Flow 3 of DESIGN.md: gateway -> `govlink.commands` (routing key `<service>.<operation>`) ->
`svc.<service>` -> this handler -> SOAP/REST -> reply to the caller. The call's row in
`service_calls` (the status an async caller polls) is also its idempotency record: the worker
locks it while calling the department and settles it in the same transaction, so a redelivered
request does not call the department again: it is answered from the stored result.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from bus.consumer import ConsumerRunner, Delivery, RetryPolicy
from bus.envelope import call_timeout
from bus.errors import HandlerError
from bus.service_calls import REQUEST_TYPE, record_accepted
from bus.topology import service_queue
from config.logging import mask_identifiers
from store.ratelimit import RateLimited, hit, limit_of
from store.models.bus import ServiceCall

log = logging.getLogger(__name__)

CALLS = ServiceCall.__table__
# Built once: a statement built per call spent more CPU coercing its values than running.
_LOCK = select(CALLS.c.status, CALLS.c.result).where(CALLS.c.message_id == bindparam("call")).with_for_update()
_SETTLE = update(CALLS).where(CALLS.c.message_id == bindparam("call"))
__all__ = ["REQUEST_TYPE", "ServiceCallHandler", "connector_runner", "connector_runners", "worker"]


def _now():
    return datetime.now(timezone.utc)


class _NotRecorded(Exception):
    """The call has no `service_calls` row yet: the handler records it, then handles the call."""


class ServiceCallHandler:
    """Handles `service.call` envelopes for the services of one connector registry."""

    def __init__(self, runtime, max_retries: int):
        self.runtime = runtime
        self.max_retries = max_retries

    def __call__(self, delivery: Delivery) -> dict:
        env = delivery.envelope
        service, operation = env.get("service"), env.get("operation")
        if env["type"] != REQUEST_TYPE or not service or not operation:
            raise HandlerError("invalid_request", "a service call needs type service.call, a service and an operation")
        # Again here, not only in the gateway: from the principal the envelope carries (set by
        # the gateway from the verified token), never from anything the caller could set.
        grant = self.runtime.access.authorize(env["client"], service, operation, env["payload"], env.get("principal"))
        connector = self._connector(service)
        started = time.monotonic()
        try:
            try:  # the gateway recorded the call: one transaction; else record it first and lock it then
                result = self._once(connector, delivery, grant)
            except _NotRecorded:
                self._ensure_recorded(env)
                result = self._once(connector, delivery, grant)
        except Exception as exc:
            # After the effect's transaction rolled back (and released the row lock).
            if not getattr(exc, "transient", True) or delivery.retries >= self.max_retries:
                self._record_failure(env, exc, started)
            raise
        return {"result": result}

    def _once(self, connector, delivery: Delivery, grant):
        """The call's `service_calls` row is its idempotency record: locked while the department is
        called and settled in the same transaction, so a redelivered copy answers from it."""
        with self.runtime.db.transaction() as conn:  # Core only: no ORM session to set up per call
            return self._call(conn, connector, delivery, grant)

    def _connector(self, service: str):
        try:
            return self.runtime.connectors.get(service)
        except KeyError:
            raise HandlerError("unknown_service", f"no department service {service!r} is declared") from None

    def _ensure_recorded(self, env: dict) -> None:
        """The call's row exists before any worker locks it (calls published without the gateway)."""
        try:
            with self.runtime.db.unit_of_work() as session:
                if not _exists(session, env["message_id"]):
                    record_accepted(session, env, owner=env.get("user") or env["client"])
        except IntegrityError:
            pass  # a concurrent copy of the same message recorded it

    def _rate_limit(self, grant, env: dict) -> None:
        """Count this call against the grant's rate limits (HandlerError `rate_limited` if over)."""
        principal = env.get("principal") or {}
        for name in grant.rate_limits:
            limit = limit_of(name)
            key = env["client"] if limit.key == "client" else (principal.get("subject") or env.get("user") or env["client"])
            try:
                hit(self.runtime.db, limit, key)
            except RateLimited as exc:
                raise HandlerError("rate_limited", f"Too many calls; try again in {exc.retry_after} s.",
                                   details={"retry_after": exc.retry_after}) from None

    def _call(self, conn, connector, delivery: Delivery, grant) -> dict:
        env = delivery.envelope
        # Copies of one message handled at the same moment queue up on this row lock; the ones
        # that come second find the call done and answer from the stored result.
        call = conn.execute(_LOCK, {"call": env["message_id"]}).first()
        if call is None:  # published without the gateway's record (rolled back: nothing was done)
            raise _NotRecorded()
        if call.status == "succeeded":
            return json.loads(call.result) if call.result else None
        self._rate_limit(grant, env)
        started = time.monotonic()
        # No longer than the waiting caller has left (the envelope's deadline), nor than declared.
        answer = connector.call(env["operation"], env["payload"],
                                timeout=call_timeout(env, connector.declaration.timeout_seconds))
        # A result about someone other than the caller is never kept nor answered.
        result = self.runtime.access.filter_result(grant, answer, env.get("principal"))
        conn.execute(_SETTLE, {"call": env["message_id"], "status": "succeeded", "completed_at": _now(),
                               "result": json.dumps(result, ensure_ascii=False, default=str),
                               "duration_ms": int((time.monotonic() - started) * 1000)})
        return result

    def _record_failure(self, env: dict, exc: Exception, started: float) -> None:
        error = {"code": getattr(exc, "code", "error"),
                 "message": mask_identifiers(getattr(exc, "message", None) or str(exc))[:500],
                 "details": getattr(exc, "details", {}) or {}}
        outcome = {"status": "failed", "error": json.dumps(error, ensure_ascii=False, default=str),
                   "completed_at": _now(), "duration_ms": int((time.monotonic() - started) * 1000)}
        with self.runtime.db.unit_of_work() as session:
            if not session.execute(_SETTLE, {"call": env["message_id"], **outcome}).rowcount:
                record_accepted(session, env, env.get("user") or env["client"], **outcome)


def _exists(session, message_id: str) -> bool:
    return session.execute(select(CALLS.c.message_id).where(CALLS.c.message_id == message_id)).first() is not None


def connector_runners(runtime, services: list[str] | None = None) -> list[ConsumerRunner]:
    """One consumer runner per declared department service (or the ones named)."""
    return [connector_runner(runtime, service) for service in services or runtime.connectors.services()]


def connector_runner(runtime, service: str) -> ConsumerRunner:
    """The consumer runner of one declared department service (not started)."""
    tiers = runtime.settings.retry_tier_seconds
    policy = runtime.connectors.get(service).retry
    retry = RetryPolicy(attempts=policy.attempts, backoff_seconds=policy.backoff_seconds,
                        max_backoff_seconds=policy.max_backoff_seconds)
    return ConsumerRunner(
        runtime.settings.amqp_url, service_queue(service, tiers), ServiceCallHandler(runtime, len(tiers)),
        publisher=runtime.publisher, prefetch=runtime.settings.worker_concurrency * 4,
        concurrency=runtime.settings.worker_concurrency, retry=retry, client="govlink/connector-worker",
        reply_type="service.result", message_log=runtime.message_log)


def worker(runtime, args=()) -> list[ConsumerRunner]:
    """The `connectors` worker: a runner per named service, or per declared service; with no names it also
    starts consuming the queue of each service declared later (after a reload). Its circuit states are
    written to `connector_circuits` (connectors/circuit_report.py) until the runtime closes."""
    from connectors.circuit_report import CircuitReporter

    runners = connector_runners(runtime, list(args) or None)
    if not args:
        runtime.on_config_change(_consume_new_services(runners))
    runtime.on_close(CircuitReporter(runtime).start().stop)  # every worker's circuit states, for the console
    return runners


def _consume_new_services(runners: list):
    """After a reload, start consuming the queue of each newly declared service."""
    lock = threading.Lock()

    def listener(runtime) -> None:
        with lock:
            serving = {runner.queue.name for runner in runners}
            for service in runtime.connectors.services():
                if service_queue(service, runtime.settings.retry_tier_seconds).name not in serving:
                    runner = connector_runner(runtime, service).start()
                    runners.append(runner)
                    log.info("worker connectors: consuming %s (new declaration)", runner.queue.name)

    return listener
