"""Access rights to department services (R9, R11): which client may call which service and operation.

Declared in `config/access.yaml`; everything not granted is denied. A grant may carry conditions
that bind fields to the authenticated principal (issue 15): `payload.<field>` must equal one of the
principal's attributes before the call, and `result.<field>` (`a[].b` for every item of a list)
must equal one of them in the answer, or the answer is withheld (a list item is dropped). The
principal attributes are `subject.id_number` (the person's resident ID number) and
`subject.acting_for` (the USCC of the enterprise they act for). A grant may also name rate limits of
`config/rate_limits.yaml`. The gateway checks a call with `authorize` and the connector worker
checks it again from the principal the envelope carries (never from anything the caller sets);
both filter the result with `filter_result`. Client ids:

- a department subsystem, X-Road style: `GOV/<USCC>/<subsystem>`, e.g.
  `GOV/11340100MB1234567X/case-system` (the member is the body's unified social credit code);
- a service channel: `channel/<name>`, e.g. `channel/web-portal` (see CHANNELS);
- govlink's own component, `govlink/<name>`, e.g. `govlink/gateway` when it reclaims an account
  for someone not signed in yet (issue 15 finding 4).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from config.settings import REPO_ROOT
from connectors.declaration import flatten_errors
from connectors.errors import ConnectorError
from kernel.identifiers import InvalidIdentifier, validate_uscc

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


class ConditionNotMet(AccessDenied):
    """A conditioned grant covers the call, but a payload field is not the caller's (403)."""

    def __init__(self, message: str, *, details: Mapping | None = None):
        ConnectorError.__init__(self, "condition_not_met", message, transient=False, details=details)  # noqa


class ResultWithheld(ConnectorError):
    """The department's answer is about someone other than the caller: answered as not found."""

    def __init__(self):
        super().__init__("not_found", "No such record is visible to you.", transient=False)


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
    return _parse_client_id(text)


@lru_cache(maxsize=1024)  # a department call parsed its caller's id (USCC check digit and all) five times
def _parse_client_id(text: str) -> ClientId:
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


# What a condition may bind a field to: attributes of the authenticated principal.
PRINCIPAL_ATTRIBUTES = ("subject.id_number", "subject.acting_for")
_CONDITION_FIELD = re.compile(r"^(payload|result)\.([A-Za-z_][A-Za-z0-9_]*(?:\[\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\])?)*)$")


@dataclass(frozen=True)
class Condition:
    """`<where>.<field>` must equal one of the principal's `attributes` (e.g. `id_number`)."""

    where: str  # payload | result
    field: str  # canonical field, `a[].b` for each item of list `a`
    attributes: tuple[str, ...]  # id_number, acting_for

    @property
    def name(self) -> str:
        return f"{self.where}.{self.field}"


@dataclass(frozen=True)
class Grant:
    """One grant of config/access.yaml, as it applies to a (client, service)."""

    operations: frozenset[str]
    conditions: tuple[Condition, ...] = ()
    rate_limits: tuple[str, ...] = ()

    def covers(self, operation: str) -> bool:
        return operation in self.operations or ANY_OPERATION in self.operations

    @property
    def result_conditions(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.where == "result")


class _GrantSchema(Schema):
    class Meta:
        unknown = RAISE

    clients = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    service = fields.String(required=True, validate=validate.Length(min=1))
    operations = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    note = fields.String()  # why the grant exists (kept for audits, not used)
    # `payload.holder_id: subject.id_number | subject.acting_for` (a list works too)
    conditions = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
    rate_limits = fields.List(fields.String(), load_default=list)  # names in config/rate_limits.yaml


class _AccessSchema(Schema):
    class Meta:
        unknown = RAISE

    grants = fields.List(fields.Nested(_GrantSchema), load_default=list)


def parse_condition(name: str, value) -> Condition:
    """One `conditions` entry; ValueError (naming what is wrong) if malformed."""
    match = _CONDITION_FIELD.match(name)
    if not match:
        raise ValueError(f"{name!r}: a condition names payload.<field> or result.<field> (a[].b for list items)")
    if isinstance(value, str):
        values = [v.strip() for v in value.split("|")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        values = [v.strip() for v in value]
    else:
        raise ValueError(f"{name}: give principal attributes, e.g. subject.id_number | subject.acting_for")
    unknown = [v for v in values if v not in PRINCIPAL_ATTRIBUTES]
    if not values or unknown:
        raise ValueError(f"{name}: {', '.join(unknown) or 'nothing'} is not one of {', '.join(PRINCIPAL_ATTRIBUTES)}")
    if match.group(1) == "payload" and "[]" in match.group(2):
        raise ValueError(f"{name}: a payload condition names one field, not list items")
    return Condition(match.group(1), match.group(2), tuple(v.split(".", 1)[1] for v in values))


def principal_values(principal: Mapping | None, attributes: Iterable[str]) -> set[str]:
    """The principal's values of these attributes (absent ones left out)."""
    if not principal:
        return set()
    return {principal[a] for a in attributes if isinstance(principal.get(a), str) and principal[a]}


def _values_at(data, path: list[str]):
    """Every value at `a[].b`-style path in `data` (lists are walked); missing parts give nothing."""
    if not path:
        yield data
        return
    head, rest = path[0], path[1:]
    is_list = head.endswith("[]")
    key = head[:-2] if is_list else head
    if not isinstance(data, dict) or key not in data:
        return
    value = data[key]
    if is_list:
        for item in value if isinstance(value, list) else []:
            yield from _values_at(item, rest)
    else:
        yield from _values_at(value, rest)


def check_conditions(grant: Grant, payload: Mapping, principal: Mapping | None) -> None:
    """Raise ConditionNotMet unless every payload condition of `grant` holds for `principal`.

    A field must be present and equal (exactly, as a string) one of the principal's attributes.
    """
    for condition in grant.conditions:
        if condition.where != "payload":
            continue
        allowed = principal_values(principal, condition.attributes)
        value = payload.get(condition.field) if isinstance(payload, Mapping) else None
        if not isinstance(value, str) or value not in allowed:
            raise ConditionNotMet(
                f"{condition.field} must be your own ({' or '.join(condition.attributes)}) for this call.",
                details={"field": condition.name, "allowed": [f"subject.{a}" for a in condition.attributes]})


def filter_result(grant: Grant | None, result, principal: Mapping | None):
    """The result without what is not the caller's, for the result conditions of `grant`.

    For a field in a list (`a[].b`), items whose field is not the caller's are dropped; for any
    other field, a result that is not the caller's (or lacks the field) raises ResultWithheld.
    """
    if grant is None or not grant.result_conditions:
        return result
    if not isinstance(result, dict):
        raise ResultWithheld()
    for condition in grant.result_conditions:
        allowed = principal_values(principal, condition.attributes)
        parts = condition.field.split(".")
        list_at = max((i for i, p in enumerate(parts) if p.endswith("[]")), default=None)
        if list_at is None:
            values = list(_values_at(result, parts))
            if not values or any(v not in allowed for v in values):
                raise ResultWithheld()
            continue
        # Drop the items of the (innermost named) list whose field is not the caller's.
        container_path, item_path = parts[:list_at + 1], parts[list_at + 1:]
        holders = list(_values_at(result, [p for p in container_path[:-1]]))
        key = container_path[-1][:-2]
        for holder in holders:
            if isinstance(holder, dict) and isinstance(holder.get(key), list):
                holder[key] = [item for item in holder[key]
                               if (found := list(_values_at(item, item_path))) and all(v in allowed for v in found)]
    return result


class AccessRights:
    """Granted (client, service) -> grants (operations, conditions, rate limits). Deny by default.

    Immutable once loaded. A call is allowed by the first unconditioned grant that covers it, else
    by the first conditioned one whose payload conditions hold.
    """

    def __init__(self, grants: Mapping[tuple[str, str], Iterable]):
        self._grants: dict[tuple[str, str], tuple[Grant, ...]] = {}
        for key, value in grants.items():
            items = list(value)
            if items and all(isinstance(i, str) for i in items):
                items = [Grant(frozenset(items))]  # plain operation names: one unconditioned grant
            self._grants[key] = tuple(items)

    @classmethod
    def load(cls, path: str | Path | None = None, *, catalogue: Mapping[str, Iterable[str]] | None = None,
             fields: Mapping[tuple[str, str], tuple[Iterable[str], Iterable[str]]] | None = None) -> "AccessRights":
        """Load `access.yaml` (default `config/access.yaml`).

        With `catalogue` (service -> operations, e.g. `Registry.catalogue()`), grants naming an
        undeclared service or operation are refused, so a typo cannot silently grant nothing. With
        `fields` ((service, operation) -> (input fields, output fields), `Registry.fields()`), a
        condition must name a field every operation of its grant declares.
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
        grants: dict[tuple[str, str], list[Grant]] = {}
        for index, grant in enumerate(data["grants"]):
            where = f"{path}: grants[{index}]"
            service, operations = grant["service"], set(grant["operations"])
            if catalogue is not None:
                if service not in catalogue:
                    raise AccessConfigError(f"{where}.service: {service!r} is not a declared service")
                unknown = operations - set(catalogue[service]) - {ANY_OPERATION}
                if unknown:
                    raise AccessConfigError(f"{where}.operations: {', '.join(sorted(unknown))} not declared by {service}")
            conditions = []
            for name, value in grant["conditions"].items():
                try:
                    conditions.append(parse_condition(name, value))
                except ValueError as exc:
                    raise AccessConfigError(f"{where}.conditions: {exc}") from None
            if conditions and ANY_OPERATION in operations:
                raise AccessConfigError(f"{where}.conditions: name the operations of a conditioned grant, not \"*\"")
            if fields is not None:
                for condition in conditions:
                    for operation in sorted(operations):
                        inputs, outputs = fields.get((service, operation), ((), ()))
                        declared = set(inputs if condition.where == "payload" else outputs)
                        if condition.field not in declared:
                            raise AccessConfigError(f"{where}.conditions: {condition.name} is not a "
                                                    f"{'request' if condition.where == 'payload' else 'response'} "
                                                    f"field of {service}/{operation}")
            for limit in grant["rate_limits"]:
                from store.ratelimit import RateLimitConfigError, load_limits

                try:
                    known = load_limits()
                except RateLimitConfigError as exc:
                    raise AccessConfigError(f"{where}.rate_limits: {exc}") from None
                if limit not in known:
                    raise AccessConfigError(f"{where}.rate_limits: {limit!r} is not a limit of config/rate_limits.yaml")
                if known[limit].key == "ip":
                    raise AccessConfigError(f"{where}.rate_limits: {limit!r} counts per address; the bus has no address")
            entry = Grant(frozenset(operations), tuple(conditions), tuple(grant["rate_limits"]))
            for client in grant["clients"]:
                try:
                    client_id = parse_client_id(client)
                except ValueError as exc:
                    raise AccessConfigError(f"{where}.clients: {exc}") from None
                grants.setdefault((client_id.text, service), []).append(entry)
        return cls(grants)

    def _covering(self, client: str, service: str, operation: str) -> list[Grant]:
        try:
            client_id = parse_client_id(client)
        except ValueError:
            return []
        return [g for g in self._grants.get((client_id.text, service), ()) if g.covers(operation)]

    def allowed(self, client: str, service: str, operation: str) -> bool:
        """True if some grant lets `client` call `service`/`operation` (its conditions aside);
        malformed client ids are never allowed."""
        return bool(self._covering(client, service, operation))

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

    def authorize(self, client: str, service: str, operation: str, payload: Mapping,
                  principal: Mapping | None) -> Grant:
        """The grant that allows this call: AccessDenied if none covers it, ConditionNotMet if
        only conditioned ones do and their payload conditions do not hold for `principal`
        (`{"subject", "id_number", "acting_for", "level"}` from the verified token)."""
        self.check(client, service, operation)
        covering = self._covering(client, service, operation)
        for grant in covering:
            if not grant.conditions:
                return grant
        first_error = None
        for grant in covering:
            try:
                check_conditions(grant, payload, principal)
                return grant
            except ConditionNotMet as exc:
                first_error = first_error or exc
        raise first_error

    @staticmethod
    def filter_result(grant: Grant | None, result, principal: Mapping | None):
        """`filter_result` (module function), for callers that hold only the rights."""
        return filter_result(grant, result, principal)

    def grants_of(self, service: str) -> dict[str, list[str]]:
        """Client -> granted operations of one service (the operations console lists them)."""
        return {who: sorted(set().union(*(g.operations for g in grants)))
                for (who, svc), grants in sorted(self._grants.items()) if svc == service}

    def grants_for(self, client: str) -> dict[str, list[str]]:
        """Service -> granted operations of one client (for diagnostics and docs)."""
        text = parse_client_id(client).text
        return {service: sorted(set().union(*(g.operations for g in grants)))
                for (who, service), grants in sorted(self._grants.items()) if who == text}
