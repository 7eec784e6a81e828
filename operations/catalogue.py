"""Every declared department service (`config/connectors/*.yaml`) with its kind, target, operations and grants."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def target_of(declaration) -> str:
    """(pure) Where the service is called: the SOAP endpoint (else its WSDL) or the REST base URL, without
    any user or password a URL might carry."""
    url = (declaration.endpoint or declaration.wsdl) if declaration.kind == "soap" else declaration.base_url
    url = url or declaration.openapi or ""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        parts = parts._replace(netloc=host + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def describe(connector, access) -> dict:
    """(pure over the declaration and the grants) One service as the console lists it."""
    d = connector.declaration
    return {"service": d.service, "department": d.department, "kind": d.kind, "target": target_of(d),
            "operations": sorted(d.operations), "timeout_seconds": d.timeout_seconds,
            "circuit_policy": {"failure_threshold": d.circuit_breaker.failure_threshold,
                               "reset_timeout_seconds": d.circuit_breaker.reset_timeout_seconds},
            "grants": [{"client": client, "operations": ops} for client, ops in access.grants_of(d.service).items()]}


def services(runtime) -> list[dict]:
    """Every declared service, sorted by name."""
    access = runtime.access
    return [describe(connector, access) for connector in runtime.connectors]


def one(runtime, service: str) -> dict | None:
    if service not in runtime.connectors:
        return None
    return describe(runtime.connectors.get(service), runtime.access)
