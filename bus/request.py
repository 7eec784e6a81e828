"""The one department-call client: a `service.call` envelope over the bus, and (if asked) its reply.

Used by the services API (routes/api/services.py) and by identity verification (idp/verification.py).
A call is recorded first (`service_calls`, status `accepted`, the row an asynchronous caller polls),
logged outgoing, then published. A caller who waits sets how long (`wait_seconds`): the envelope
carries that deadline, the worker gives the department only the time left before it
(`bus.envelope.call_timeout`), and the reply is awaited until then. Failures are `DepartmentCallFailed`,
a CodedError whose status comes from the one table (bus/call_codes.py); the gateway's error handler
answers it as it is.
"""
from __future__ import annotations

from datetime import timedelta

from bus.call_codes import status_of
from bus.envelope import decode, encode, new_envelope
from bus.errors import BusError, RequestTimeout
from bus.service_calls import REQUEST_TYPE, record_accepted
from bus.topology import COMMANDS
from kernel.clock import utcnow
from kernel.errors import CodedError

CONFIRM_SECONDS = 10  # how long an asynchronous call waits for the broker's confirm


class DepartmentCallFailed(CodedError):
    """A department call that did not succeed: `code` from the reply (or `timeout`, `bus_unavailable`),
    `status` from the one table, `details` with the `call_id`, `headers` for the HTTP answer."""

    code = "department_error"
    status = 502

    def __init__(self, code: str, message: str, *, call_id: str, details: dict | None = None,
                 headers: dict | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, code=code, status=status_of(code), details=details)
        self.call_id = call_id
        self.headers = dict(headers or {})
        self.retry_after = retry_after  # seconds, when code is rate_limited
        self.bus_code: str | None = None  # the bus's own code, when code is bus_unavailable


def failure_from_reply(error: dict, call_id: str) -> DepartmentCallFailed:
    """The failure a worker's error reply (`{"code", "message", "details"}`) stands for."""
    code = error.get("code") or "department_error"
    department = error.get("details") or {}
    retry_after = department.get("retry_after") if code == "rate_limited" else None
    return DepartmentCallFailed(code, error.get("message", ""), call_id=call_id,
                                details={"call_id": call_id, **({"department": department} if department else {})},
                                headers={"Retry-After": str(int(retry_after))} if retry_after else None,
                                retry_after=int(retry_after) if retry_after else None)


class DepartmentCall:
    """One call of `service`/`operation` on behalf of `principal` (anything with `caller`, `subject`
    and `envelope_claims()`). `wait_seconds`: the caller waits that long for the reply (None: it
    does not wait, see `send`)."""

    def __init__(self, runtime, service: str, operation: str, payload: dict, *, principal,
                 wait_seconds: float | None = None, case_id: str | None = None, correlation_id: str | None = None):
        self.runtime = runtime
        self.deadline = utcnow() + timedelta(seconds=wait_seconds) if wait_seconds is not None else None
        self.envelope = new_envelope(REQUEST_TYPE, payload, client=principal.caller, service=service, operation=operation,
                                     user=principal.subject, case_id=case_id, correlation_id=correlation_id,
                                     principal=principal.envelope_claims(), deadline=self.deadline)

    @property
    def call_id(self) -> str:
        return self.envelope["message_id"]

    def record(self, owner: str | None, also=None) -> None:
        """Record the call as accepted and log it outgoing; `also(session)` runs in the same transaction
        (e.g. claiming its case), and refusing there records nothing."""
        if also is None:  # one INSERT in autocommit: no session, no BEGIN/COMMIT round trips (issue 18)
            with self.runtime.db.autocommit() as conn:
                record_accepted(conn, self.envelope, owner=owner)
        else:
            with self.runtime.db.unit_of_work() as session:
                also(session)
                record_accepted(session, self.envelope, owner=owner)
        self.runtime.message_log.record(self.envelope, "out")

    def send(self) -> None:
        """Publish without waiting for the reply (the caller polls the call's status)."""
        try:
            self.runtime.publisher.publish(COMMANDS, self._routing_key, encode(self.envelope), message_id=self.call_id,
                                           correlation_id=self.envelope["correlation_id"],
                                           type=REQUEST_TYPE).result(CONFIRM_SECONDS)
        except BusError as exc:
            raise self._bus_unavailable(exc) from None
        except TimeoutError:  # the broker did not confirm in time (it is down or blocked)
            raise DepartmentCallFailed("bus_unavailable", "The message bus did not confirm the call in time; try again.",
                                       call_id=self.call_id, details={"call_id": self.call_id}) from None

    def wait(self, status_url: str | None = None) -> dict | None:
        """Publish and wait for the reply until the deadline; the result, or DepartmentCallFailed.

        On `timeout` the call goes on: `status_url` (if given) is where its outcome can be read."""
        left = max(0.0, (self.deadline - utcnow()).total_seconds()) if self.deadline else 0.0
        try:
            _props, body = self.runtime.publisher.request(
                COMMANDS, self._routing_key, encode(self.envelope), message_id=self.call_id,
                correlation_id=self.envelope["correlation_id"], timeout=left, type=REQUEST_TYPE)
        except RequestTimeout:
            details = {"status_url": status_url, "call_id": self.call_id} if status_url else {"call_id": self.call_id}
            raise DepartmentCallFailed(
                "timeout", "The department did not answer in time; the call goes on, see details.status_url.",
                call_id=self.call_id, details=details, headers={"Location": status_url} if status_url else None) from None
        except BusError as exc:
            raise self._bus_unavailable(exc) from None
        reply = decode(body)
        self.runtime.message_log.record(reply, "in")
        payload = reply["payload"]
        if "error" in payload:
            raise failure_from_reply(payload["error"], self.call_id)
        return payload.get("result")

    @property
    def _routing_key(self) -> str:
        return f"{self.envelope['service']}.{self.envelope['operation']}"

    def _bus_unavailable(self, exc: BusError) -> DepartmentCallFailed:
        failure = DepartmentCallFailed("bus_unavailable", f"The message bus did not accept the call ({exc.code}); try again.",
                                       call_id=self.call_id)
        failure.bus_code = exc.code
        return failure
