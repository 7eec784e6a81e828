"""Asking the department registries on a person's behalf: the one switch between bus and connector.

L2 (R4) checks name + resident ID number with the population registry, and enterprise registration
checks USCC + the legal representative's resident ID number with the enterprise registry. Both go through the message bus
as `service.call` request-reply (flow 3, with access rights, the message log and retries of the
connector worker), with the channel the person uses as the envelope's client and the person's
verified principal in the envelope: the grant conditions (the ID number checked is the caller's own)
and rate limits of config/access.yaml apply to this path too, in the worker.
"""
from __future__ import annotations

import logging

from bus.envelope import decode, encode, new_envelope
from bus.errors import BusError, RequestTimeout
from bus.service_calls import REQUEST_TYPE, record_accepted
from bus.topology import COMMANDS

log = logging.getLogger(__name__)


class RegistryUnavailable(Exception):
    """The registry could not answer (bus down, timeout, department fault); `code` says which."""

    def __init__(self, code: str, message: str, call_id: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.call_id = call_id
        self.retry_after = retry_after  # seconds, when code is rate_limited


def verify_identity(runtime, principal, name: str, resident_id: str) -> dict:
    """`{"match": bool, "reason": str, "call_id": str}` from the population registry's VerifyIdentity."""
    return _call(runtime, principal, "population-registry", "verify-identity",
                 {"name": name, "id_number": resident_id})


def verify_enterprise(runtime, principal, uscc: str, legal_representative_id: str) -> dict:
    """`{"match": bool, "reason": str, "call_id": str}` from the enterprise registry's VerifyEnterprise:
    is the person with this (canonical) resident ID number the legal representative of `uscc`?

    By ID number, never by name: names are not unique, and an account's name is only as good as
    the level that vouched for it (issue 15 finding 3)."""
    return _call(runtime, principal, "enterprise-registry", "verify-enterprise",
                 {"uscc": uscc, "legal_representative_id": legal_representative_id})


def _call(runtime, principal, service: str, operation: str, payload: dict) -> dict:
    envelope = new_envelope(REQUEST_TYPE, payload, client=principal.caller, service=service, operation=operation,
                            user=principal.subject, principal=principal.envelope_claims())
    call_id = envelope["message_id"]
    with runtime.db.unit_of_work() as session:
        record_accepted(session, envelope, owner=principal.subject)
    runtime.message_log.record(envelope, "out")
    try:
        _props, body = runtime.publisher.request(
            COMMANDS, f"{service}.{operation}", encode(envelope), message_id=call_id,
            correlation_id=envelope["correlation_id"], timeout=runtime.settings.service_call_timeout_seconds,
            type=REQUEST_TYPE)
    except RequestTimeout:
        raise RegistryUnavailable("timeout", f"The {service} did not answer in time.", call_id) from None
    except BusError as exc:
        raise RegistryUnavailable("bus_unavailable", f"The message bus did not take the call ({exc.code}).", call_id) from None
    reply = decode(body)
    runtime.message_log.record(reply, "in")
    if "error" in reply["payload"]:
        error = reply["payload"]["error"]
        if error.get("code") == "rate_limited":
            retry_after = int((error.get("details") or {}).get("retry_after") or 60)
            raise RegistryUnavailable("rate_limited", f"Too many checks with the {service}; try again in {retry_after} s.",
                                      call_id, retry_after)
        raise RegistryUnavailable(error.get("code", "department_error"),
                                  f"The {service} could not check this ({error.get('code', 'error')}).", call_id)
    result = reply["payload"].get("result") or {}
    return {"match": bool(result.get("match")), "reason": str(result.get("reason") or ""), "call_id": call_id}
