"""Access rights to department services (R9, R11): which client may call which service and operation.

Declared in `config/access.yaml`; everything not granted is denied. Client ids:

- a department subsystem, X-Road style: `GOV/<USCC>/<subsystem>`, e.g.
  `GOV/11340100MB1234567X/case-system` (the member is the body's unified social credit code);
- a service channel: `channel/<name>`, e.g. `channel/web-portal` (see CHANNELS);
- govlink's own component, `govlink/<name>`, e.g. `govlink/gateway` when it reclaims an account
  for someone not signed in yet (issue 15 finding 4).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from config.settings import REPO_ROOT
from connectors.declaration import flatten_errors
from connectors.errors import ConnectorError
from idp.identifiers import InvalidIdentifier, validate_uscc

DEFAULT_PATH = REPO_ROOT / "config" / "access.yaml"
ANY_OPERATION = "*"
MEMBER_CLASSES = ("GOV",)  # government bodies; other X-Road member classes are not members here
# The five channels of R2 (服务大厅窗口, 政府网站, 移动客户端, 自助终端, 服务热线).
CHANNELS = ("service-hall", "web-portal", "mobile-app", "kiosk", "hotline")
_SUBSYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9-]{1,31}$")


class AccessDenied(ConnectorError):
    """The client may not call this service/operation (the gateway answers 403)."""

    def __init__(self, message: str, *, details: Mapping | None = None):
        super().__init__("forbidden", message, transient=False, details=details)


class AccessConfigError(ValueError):
    """`access.yaml` is invalid; the message names the file, the grant and the field."""


@dataclass(frozen=True)
class ClientId:
    """A parsed, normalised client id."""

    kind: str  # "member" (department subsystem), "channel" or "govlink" (govlink's own component)
    text: str  # normalised form, e.g. GOV/<USCC upper-cased>/<subsystem>
    member_code: str | None = None
    subsystem: str | None = None
    channel: str | None = None


def parse_client_id(text: str) -> ClientId:
    """Parse and normalise a client id; ValueError (without echoing the input) if malformed."""
    if not isinstance(text, str):
        raise ValueError("a client id must be a string")
    parts = text.strip().split("/")
    if len(parts) == 2 and parts[0] == "channel" and _CHANNEL.match(parts[1]):
        return ClientId(kind="channel", text=f"channel/{parts[1]}", channel=parts[1])
    if len(parts) == 2 and parts[0] == "govlink" and _CHANNEL.match(parts[1]):
        return ClientId(kind="govlink", text=f"govlink/{parts[1]}")
    if len(parts) == 3 and parts[0] in MEMBER_CLASSES and _SUBSYSTEM.match(parts[2]):
        try:
            code = validate_uscc(parts[1])
        except InvalidIdentifier as exc:
            raise ValueError(f"the member code of a client id must be a valid unified social credit code ({exc.code})") from None
        return ClientId(kind="member", text=f"{parts[0]}/{code}/{parts[2]}", member_code=code, subsystem=parts[2])
    raise ValueError("a client id must be GOV/<USCC>/<subsystem>, channel/<name> or govlink/<name>")


class _GrantSchema(Schema):
    class Meta:
        unknown = RAISE

    clients = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    service = fields.String(required=True, validate=validate.Length(min=1))
    operations = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    note = fields.String()  # why the grant exists (kept for audits, not used)


class _AccessSchema(Schema):
    class Meta:
        unknown = RAISE

    grants = fields.List(fields.Nested(_GrantSchema), load_default=list)


class AccessRights:
    """Granted (client, service) -> operations. Deny by default. Immutable once loaded."""

    def __init__(self, grants: Mapping[tuple[str, str], Iterable[str]]):
        self._grants = {key: frozenset(ops) for key, ops in grants.items()}

    @classmethod
    def load(cls, path: str | Path | None = None, *, catalogue: Mapping[str, Iterable[str]] | None = None) -> "AccessRights":
        """Load `access.yaml` (default `config/access.yaml`).

        With `catalogue` (service -> operations, e.g. `Registry.catalogue()`), grants naming an
        undeclared service or operation are refused, so a typo cannot silently grant nothing.
        """
        path = Path(path) if path is not None else DEFAULT_PATH
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            data = _AccessSchema().load(raw)
        except (OSError, yaml.YAMLError) as exc:
            raise AccessConfigError(f"{path}: cannot be read as YAML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(f"{where}: {msg}" for where, msg in flatten_errors(exc.messages))
            raise AccessConfigError(f"{path}: {problems}") from None
        grants: dict[tuple[str, str], set[str]] = {}
        for index, grant in enumerate(data["grants"]):
            where = f"{path}: grants[{index}]"
            service, operations = grant["service"], set(grant["operations"])
            if catalogue is not None:
                if service not in catalogue:
                    raise AccessConfigError(f"{where}.service: {service!r} is not a declared service")
                unknown = operations - set(catalogue[service]) - {ANY_OPERATION}
                if unknown:
                    raise AccessConfigError(f"{where}.operations: {', '.join(sorted(unknown))} not declared by {service}")
            for client in grant["clients"]:
                try:
                    client_id = parse_client_id(client)
                except ValueError as exc:
                    raise AccessConfigError(f"{where}.clients: {exc}") from None
                grants.setdefault((client_id.text, service), set()).update(operations)
        return cls(grants)

    def allowed(self, client: str, service: str, operation: str) -> bool:
        """True if `client` may call `service`/`operation`; malformed client ids are never allowed."""
        try:
            client_id = parse_client_id(client)
        except ValueError:
            return False
        operations = self._grants.get((client_id.text, service), frozenset())
        return operation in operations or ANY_OPERATION in operations

    def check(self, client: str, service: str, operation: str) -> None:
        """Return if allowed; raise AccessDenied (code `forbidden`) otherwise."""
        try:
            client_id = parse_client_id(client)
        except ValueError as exc:
            raise AccessDenied(f"The caller's client id is not accepted: {exc}.") from None
        if not self.allowed(client_id.text, service, operation):
            raise AccessDenied(
                f"Client {client_id.text} may not call {service}/{operation}; ask for a grant in config/access.yaml.",
                details={"service": service, "operation": operation},
            )

    def grants_for(self, client: str) -> dict[str, list[str]]:
        """Service -> granted operations of one client (for diagnostics and docs)."""
        text = parse_client_id(client).text
        return {service: sorted(ops) for (who, service), ops in sorted(self._grants.items()) if who == text}
