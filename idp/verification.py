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

from bus.request import DepartmentCall, DepartmentCallFailed
from kernel.errors import CodedError

log = logging.getLogger(__name__)


class RegistryUnavailable(CodedError):
    """The registry could not answer (bus down, timeout, department fault); `cause` says which.

    Answered as `registry_unavailable` (504 on a timeout, 503 otherwise, `details.cause`), or as
    `rate_limited` (429, `details.retry_after` and the Retry-After header)."""

    def __init__(self, cause: str, message: str, call_id: str | None = None, retry_after: int | None = None):
        if cause == "rate_limited":
            super().__init__(message, code="rate_limited", status=429,
                             details={"call_id": call_id, "retry_after": retry_after})
            self.headers = {"Retry-After": str(retry_after)}
        else:
            super().__init__(message, code="registry_unavailable", status=504 if cause == "timeout" else 503,
                             details={"cause": cause, "call_id": call_id})
        self.cause = cause
        self.call_id = call_id
        self.retry_after = retry_after  # seconds, when cause is rate_limited


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
    call = DepartmentCall(runtime, service, operation, payload, principal=principal,
                          wait_seconds=runtime.settings.service_call_timeout_seconds)
    call.record(principal.subject)
    try:
        result = call.wait() or {}
    except DepartmentCallFailed as exc:
        raise _unavailable(exc, service) from None
    return {"match": bool(result.get("match")), "reason": str(result.get("reason") or ""), "call_id": call.call_id}


def _unavailable(exc: DepartmentCallFailed, service: str) -> RegistryUnavailable:
    """What a failed registry call means to the person being verified (no department text)."""
    if exc.code == "timeout":
        return RegistryUnavailable("timeout", f"The {service} did not answer in time.", exc.call_id)
    if exc.code == "bus_unavailable":
        return RegistryUnavailable("bus_unavailable", f"The message bus did not take the call ({exc.bus_code}).", exc.call_id)
    if exc.code == "rate_limited":
        retry_after = exc.retry_after or 60
        return RegistryUnavailable("rate_limited", f"Too many checks with the {service}; try again in {retry_after} s.",
                                   exc.call_id, retry_after)
    return RegistryUnavailable(exc.code, f"The {service} could not check this ({exc.code}).", exc.call_id)
