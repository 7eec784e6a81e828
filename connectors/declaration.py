"""Declarations of department services (`config/connectors/<service>.yaml`), validated at load.

Every field is documented in `config/connectors/README.md`. A declaration that does not validate
raises DeclarationError naming the file and the field, so a worker refuses to start rather than
fail on the first call.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from connectors.mapping import MappingError, split_path

AUTH_TYPES = ("none", "wsse_username_token", "basic", "bearer")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Codes a declared SOAP fault may be mapped to (faults are answers, so never transient ones).
FAULT_TARGET_CODES = ("fault", "not_found", "invalid_request", "rejected")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_CANONICAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class DeclarationError(ValueError):
    """A declaration file is invalid; the message starts with the file and names the field."""


@dataclass(frozen=True)
class RetryPolicy:
    """How the caller retries transient errors: `attempts` in all, exponential backoff, capped."""

    attempts: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0

    def wait_seconds(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class CircuitBreakerPolicy:
    failure_threshold: int = 5
    reset_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class AuthDeclaration:
    """How govlink authenticates to the department; secrets are named by environment variable."""

    type: str = "none"
    username: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    def secret(self, environ: Mapping[str, str], source: str) -> str | None:
        """The password or token from the environment; DeclarationError if the variable is unset."""
        name = self.token_env if self.type == "bearer" else self.password_env
        if name is None:
            return None
        value = environ.get(name)
        if not value:
            field_name = "auth.token_env" if self.type == "bearer" else "auth.password_env"
            raise DeclarationError(f"{source}: {field_name}: environment variable {name} is not set")
        return value


@dataclass(frozen=True)
class OperationDeclaration:
    """One operation: our name, their SOAP operation or REST method + path, and field mappings."""

    name: str
    operation: str | None = None  # SOAP operation name in the WSDL
    method: str | None = None  # REST
    path: str | None = None  # REST, e.g. /licences/{licence_id}
    request: Mapping[str, str] | None = None  # our field -> their field
    response: Mapping[str, str] | None = None  # their field -> our field
    pii: tuple[str, ...] = ()  # canonical fields that are personal identifiers

    @property
    def path_fields(self) -> list[str]:
        """Canonical fields that fill the REST path template."""
        return _PLACEHOLDER.findall(self.path or "")


@dataclass(frozen=True)
class ServiceDeclaration:
    service: str
    department: str
    kind: str  # soap | rest
    operations: Mapping[str, OperationDeclaration]
    timeout_seconds: float = 10.0
    wsdl: str | None = None
    endpoint: str | None = None  # SOAP address overriding the WSDL's
    wsdl_service: str | None = None  # SOAP: the WSDL service to use (default: any)
    port: str | None = None  # SOAP: the WSDL port to use (default: first SOAP 1.1, then SOAP 1.2 port)
    binding: str | None = None  # SOAP: the WSDL binding to use (local name)
    base_url: str | None = None
    openapi: str | None = None  # REST: the department's OpenAPI 3 document (URL, or a path from this file's folder)
    strict: bool = True
    auth: AuthDeclaration = field(default_factory=AuthDeclaration)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    circuit_breaker: CircuitBreakerPolicy = field(default_factory=CircuitBreakerPolicy)
    faults: Mapping[str, str] = field(default_factory=dict)
    source: str = "<memory>"


# --------------------------------------------------------------------------- schema
class _Strict(Schema):
    class Meta:
        unknown = RAISE


class AuthSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(AUTH_TYPES))
    username = fields.String(validate=validate.Length(min=1))
    password_env = fields.String(validate=validate.Regexp(_ENV_NAME, error="must be an environment variable name"))
    token_env = fields.String(validate=validate.Regexp(_ENV_NAME, error="must be an environment variable name"))

    @validates_schema
    def _fields_for_type(self, data, **_):
        needed = {"wsse_username_token": ("username", "password_env"), "basic": ("username", "password_env"),
                  "bearer": ("token_env",), "none": ()}[data["type"]]
        missing = {name: [f"required when type is {data['type']}"] for name in needed if not data.get(name)}
        if missing:
            raise ValidationError(missing)


class RetrySchema(_Strict):
    attempts = fields.Integer(load_default=3, validate=validate.Range(min=1, max=20))
    backoff_seconds = fields.Float(load_default=0.5, validate=validate.Range(min=0))
    max_backoff_seconds = fields.Float(load_default=10.0, validate=validate.Range(min=0))


class CircuitBreakerSchema(_Strict):
    failure_threshold = fields.Integer(load_default=5, validate=validate.Range(min=1))
    reset_timeout_seconds = fields.Float(load_default=30.0, validate=validate.Range(min=0, min_inclusive=False))


class OperationSchema(_Strict):
    operation = fields.String(validate=validate.Length(min=1))
    method = fields.String(validate=validate.OneOf(HTTP_METHODS))
    path = fields.String(validate=validate.Regexp(r"^/", error="must start with /"))
    request = fields.Dict(keys=fields.String(), values=fields.String())
    response = fields.Dict(keys=fields.String(), values=fields.String())
    pii = fields.List(fields.String(), load_default=list)

    @validates_schema
    def _paths(self, data, **_):
        errors = {}
        for name in ("request", "response"):
            for source, target in (data.get(name) or {}).items():
                try:
                    split_path(source), split_path(target)
                    if source.count("[]") != target.count("[]"):
                        raise MappingError("list segments ([]) must match on both sides")
                except MappingError as exc:
                    errors.setdefault(name, []).append(f"{source} -> {target}: {exc}")
        for placeholder in _PLACEHOLDER.findall(data.get("path") or ""):
            if not _CANONICAL_NAME.match(placeholder):
                errors.setdefault("path", []).append(f"placeholder {{{placeholder}}} is not a field name")
        if errors:
            raise ValidationError(errors)


class ServiceSchema(_Strict):
    service = fields.String(required=True, validate=[
        validate.Regexp(r"^[a-z][a-z0-9-]{1,62}$", error="must be lower-case letters, digits and dashes"),
        # `/api/v1/services/calls/<id>` is the status URL of a call
        validate.NoneOf(["calls"], error="`calls` is reserved (the API's call status URLs)")])
    department = fields.String(required=True, validate=validate.Length(min=1))
    kind = fields.String(required=True, validate=validate.OneOf(("soap", "rest")))
    wsdl = fields.String(validate=validate.Regexp(r"^(https?|file)://", error="must be an http(s) or file URL"))
    endpoint = fields.String(validate=validate.Regexp(r"^https?://", error="must be an http(s) URL"))
    wsdl_service = fields.String(validate=validate.Length(min=1))
    port = fields.String(validate=validate.Length(min=1))
    binding = fields.String(validate=validate.Length(min=1))
    base_url = fields.String(validate=validate.Regexp(r"^https?://", error="must be an http(s) URL"))
    openapi = fields.String(validate=validate.Length(min=1))
    timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(min=0, min_inclusive=False, max=300))
    strict = fields.Boolean(load_default=True)
    auth = fields.Nested(AuthSchema, load_default=lambda: {"type": "none"})
    retry = fields.Nested(RetrySchema, load_default=dict)
    circuit_breaker = fields.Nested(CircuitBreakerSchema, load_default=dict)
    faults = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.OneOf(FAULT_TARGET_CODES)),
                         load_default=dict)
    operations = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9-]*$", error="must be kebab-case, e.g. verify-identity")),
        values=fields.Nested(OperationSchema), required=True, validate=validate.Length(min=1),
    )

    @validates_schema
    def _kind_specific(self, data, **_):
        kind, errors = data["kind"], {}
        if kind == "soap":
            if not data.get("wsdl"):
                errors["wsdl"] = ["required when kind is soap"]
            for name in ("base_url", "openapi"):
                if data.get(name):
                    errors[name] = ["only for kind rest"]
        else:
            if not data.get("base_url"):
                errors["base_url"] = ["required when kind is rest"]
            for name in ("wsdl", "endpoint", "wsdl_service", "port", "binding"):
                if data.get(name):
                    errors[name] = ["only for kind soap"]
            if data["auth"]["type"] == "wsse_username_token":
                errors["auth"] = {"type": ["wsse_username_token is for kind soap"]}
        op_errors = {}
        for name, op in data["operations"].items():
            wanted, unwanted = (("operation",), ("method", "path")) if kind == "soap" else (("method", "path"), ("operation",))
            problems = {f: [f"required when kind is {kind}"] for f in wanted if not op.get(f)}
            problems.update({f: [f"not used when kind is {kind}"] for f in unwanted if op.get(f)})
            if problems:
                op_errors[name] = problems
        if op_errors:
            errors["operations"] = op_errors
        if errors:
            raise ValidationError(errors)


# --------------------------------------------------------------------------- loading
def expand_env(value: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of a parsed YAML structure.

    Substituting after parsing means an environment value can never change the YAML's shape.
    """
    if isinstance(value, dict):
        return {k: expand_env(v, environ, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def _sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if environ.get(name):
            return environ[name]
        if default is not None:
            return default
        raise DeclarationError(f"{where}: environment variable {name} is not set and has no default")

    return _ENV_REF.sub(_sub, value)


def parse_declaration(raw: Any, source: str = "<memory>", environ: Mapping[str, str] | None = None) -> ServiceDeclaration:
    """Validate a parsed YAML document and build a ServiceDeclaration; DeclarationError on any problem."""
    environ = os.environ if environ is None else environ
    if not isinstance(raw, dict):
        raise DeclarationError(f"{source}: the file must hold a YAML mapping (service, kind, operations, ...)")
    try:
        data = ServiceSchema().load(expand_env(raw, environ))
    except DeclarationError as exc:
        raise DeclarationError(f"{source}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{path}: {msg}" for path, msg in flatten_errors(exc.messages))
        raise DeclarationError(f"{source}: {problems}") from None
    operations = {
        name: OperationDeclaration(name=name, operation=op.get("operation"), method=op.get("method"), path=op.get("path"),
                                   request=op.get("request"), response=op.get("response"), pii=tuple(op["pii"]))
        for name, op in data["operations"].items()
    }
    return ServiceDeclaration(
        service=data["service"], department=data["department"], kind=data["kind"], operations=operations,
        timeout_seconds=data["timeout_seconds"], wsdl=data.get("wsdl"), endpoint=data.get("endpoint"),
        wsdl_service=data.get("wsdl_service"), port=data.get("port"), binding=data.get("binding"),
        base_url=data.get("base_url"), openapi=data.get("openapi"), strict=data["strict"], auth=AuthDeclaration(**data["auth"]),
        retry=RetryPolicy(**data["retry"]), circuit_breaker=CircuitBreakerPolicy(**data["circuit_breaker"]),
        faults=data["faults"], source=source,
    )


def load_declaration(path: str | Path, environ: Mapping[str, str] | None = None) -> ServiceDeclaration:
    """Read and validate one declaration file; its `service` must equal the file name's stem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DeclarationError(f"{path}: cannot be read as YAML: {exc}") from None
    declaration = parse_declaration(raw, str(path), environ)
    if declaration.service != path.stem:
        raise DeclarationError(f"{path}: service: {declaration.service!r} must match the file name ({path.stem}.yaml)")
    return declaration


def flatten_errors(messages: Any, prefix: str = ""):
    """marshmallow's nested error dict -> (field path, message) pairs, e.g. `grants[0].service`."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):  # a list element
                yield from flatten_errors(value, f"{prefix}[{key}]")
                continue
            # Dict fields report value errors under a "value" level that means nothing to a reader.
            part = "" if key in ("value", "_schema") else str(key)
            yield from flatten_errors(value, f"{prefix}.{part}".strip(".") if part else prefix)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix or "(file)", " ".join(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            yield from flatten_errors(value, f"{prefix}[{i}]")
    else:
        yield prefix or "(file)", str(messages)
