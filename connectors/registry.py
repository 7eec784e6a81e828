"""The registry of declared department services: every `config/connectors/*.yaml`.

A new department service is one YAML file here (and its grant); the gateway and the workers pick
it up without a restart (`bootstrap.runtime.Runtime` watches the folder); no Python.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Mapping

from config.settings import REPO_ROOT
from connectors.base import Connector
from connectors.declaration import DeclarationError, ServiceDeclaration, load_declaration
from connectors.errors import ConnectorError
from connectors.rest import RestConnector
from connectors.soap import SoapConnector

DEFAULT_DIRECTORY = REPO_ROOT / "config" / "connectors"
CONNECTOR_KINDS: dict[str, type[Connector]] = {"soap": SoapConnector, "rest": RestConnector}


def build_connector(declaration: ServiceDeclaration, environ: Mapping[str, str] | None = None) -> Connector:
    """A connector for one declaration; its secret is read from the environment now (fail early)."""
    environ = os.environ if environ is None else environ
    secret = declaration.auth.secret(environ, declaration.source)
    return CONNECTOR_KINDS[declaration.kind](declaration, secret=secret)


class Registry:
    """Connectors by service name. Thread-safe to read; built once per process."""

    def __init__(self, connectors: Mapping[str, Connector]):
        self._connectors = dict(connectors)

    @classmethod
    def load(cls, directory: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
             previous: "Registry | None" = None) -> "Registry":
        """Load every `*.yaml` in `directory` (default `config/connectors/`).

        Raises DeclarationError naming the file and field of the first bad declaration, or two
        files declaring the same service. No department is contacted here. With `previous` (a
        reload), a connector whose declaration did not change is kept as it is (its circuit
        breaker, its parsed WSDL).
        """
        directory = Path(directory) if directory is not None else DEFAULT_DIRECTORY
        if not directory.is_dir():
            raise DeclarationError(f"{directory}: the connector declaration directory does not exist")
        connectors: dict[str, Connector] = {}
        for path in sorted(directory.glob("*.yaml")):
            declaration = load_declaration(path, environ)
            if declaration.service in connectors:
                raise DeclarationError(f"{path}: service {declaration.service} is already declared in "
                                       f"{connectors[declaration.service].declaration.source}")
            kept = previous._connectors.get(declaration.service) if previous is not None else None
            if kept is not None and kept.declaration == declaration:
                connectors[declaration.service] = kept
            else:
                connectors[declaration.service] = build_connector(declaration, environ)
        return cls(connectors)

    def get(self, service: str) -> Connector:
        """The connector of `service`; ConnectorError `unknown_service` if none is declared."""
        try:
            return self._connectors[service]
        except KeyError:
            raise ConnectorError("unknown_service", f"No department service named {service!r} is declared.") from None

    def services(self) -> list[str]:
        """Declared service names, sorted."""
        return sorted(self._connectors)

    def catalogue(self) -> dict[str, list[str]]:
        """Service -> its operation names: what access rules may refer to."""
        return {name: c.operations() for name, c in sorted(self._connectors.items())}

    def fields(self) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
        """(service, operation) -> (canonical request fields, canonical response fields): what
        the conditions of access rules may name."""
        out = {}
        for name, connector in sorted(self._connectors.items()):
            for op_name, op in connector.declaration.operations.items():
                inputs = sorted(set((op.request or {}).keys()) | set(op.path_fields))
                out[(name, op_name)] = (inputs, sorted(set((op.response or {}).values())))
        return out

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._connectors[name] for name in self.services())

    def __contains__(self, service: str) -> bool:
        return service in self._connectors

    def close(self) -> None:
        """Close every connector's HTTP pool."""
        for connector in self._connectors.values():
            connector.close()
