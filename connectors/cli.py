"""`govlink connectors check [FILE...]` and `govlink connectors describe URL`: onboarding a department service.

Neither needs the database, the bus or Keycloak: `check` loads declarations against the
departments' WSDLs now, `describe` turns a WSDL into a starting declaration.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import requests
import zeep

from connectors.declaration import DeclarationError, load_declaration


def check_files(paths: list[Path], environ=None) -> tuple[list[dict], list[str]]:
    """One row per file (file, service, kind, port, operations, result) and every problem, exactly worded."""
    from connectors.registry import build_connector

    environ = os.environ if environ is None else environ
    rows, problems, seen = [], [], {}
    for path in paths:
        row = {"file": str(path), "service": "-", "kind": "-", "port": "-", "operations": "-", "result": "ok"}
        rows.append(row)
        try:
            declaration = load_declaration(path, environ)
        except DeclarationError as exc:
            row["result"] = "INVALID"
            problems.append(str(exc))
            continue
        row.update(service=declaration.service, kind=declaration.kind, operations=str(len(declaration.operations)))
        if declaration.service in seen:
            row["result"] = "DUPLICATE"
            problems.append(f"{path}: service {declaration.service} is already declared in {seen[declaration.service]}")
            continue
        seen[declaration.service] = path
        try:
            connector = build_connector(declaration, environ)
        except DeclarationError as exc:
            row["result"] = "INVALID"
            problems.append(str(exc))
            continue
        try:
            found = connector.check() if hasattr(connector, "check") else []
            bound = getattr(connector, "_proxy", None)
            if bound is not None:
                row["port"] = f"{bound.port.service}/{bound.port.port} ({bound.port.protocol})"
            elif declaration.kind == "rest":
                row["port"] = (declaration.base_url or "-") + (" (openapi)" if declaration.openapi else "")
        finally:
            connector.close()
        if found:
            row["result"] = f"{len(found)} problem{'s' if len(found) > 1 else ''}"
            problems.extend(found)
    return rows, problems


@click.group("connectors")
def connectors():
    """Department service declarations: check them against the departments, start new ones from a WSDL."""


@connectors.command("check")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Declarations directory when no FILE is given (default: config/connectors).")
def check(files, directory):
    """Load each declaration against its WSDL now: every operation and field path. Exit 1 on any problem."""
    from rich.console import Console
    from rich.table import Table

    from connectors.registry import DEFAULT_DIRECTORY

    paths = list(files) or sorted((directory or DEFAULT_DIRECTORY).glob("*.yaml"))
    if not paths:
        click.echo(f"no declarations in {directory or DEFAULT_DIRECTORY}", err=True)
        sys.exit(1)
    rows, problems = check_files(paths)
    table = Table("file", "service", "kind", "port", "operations", "result", box=None)
    for row in rows:
        table.add_row(*(row[k] for k in ("file", "service", "kind", "port", "operations", "result")))
    Console(width=200).print(table)
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"\n{len(problems)} problem{'s' if len(problems) > 1 else ''} in {len(rows)} declaration"
                   f"{'s' if len(rows) > 1 else ''}.", err=True)
        sys.exit(1)


@connectors.command("describe")
@click.argument("url")
@click.option("--service", "wsdl_service", default=None, help="The WSDL service to describe (default: the chosen port's).")
@click.option("--port", default=None, help="The WSDL port to describe (default: SOAP 1.1, then SOAP 1.2).")
@click.option("--base-url", default=None, help="OpenAPI: the department's address when the document's servers "
                                               "entry is relative and URL is a file.")
def describe(url, wsdl_service, port, base_url):
    """Print a WSDL's ports and operations, or an OpenAPI 3 document's operations, as a starting declaration
    (YAML) for URL."""
    from connectors.describe import describe as render
    from kernel.http import http_session
    from connectors.soap import zeep_settings
    from connectors.wsdl import WsdlProblem, fetch_document, schema_facets

    if "://" not in url:
        url = Path(url).resolve().as_uri()
    if _describe_openapi(url, base_url):
        return
    transport = zeep.Transport(session=http_session(timeout=20), timeout=20)
    try:
        document, content = fetch_document(url, transport, zeep_settings())
        click.echo(render(document, url, facets=schema_facets(content), service=wsdl_service, port=port), nl=False)
    except WsdlProblem as exc:
        click.echo(f"govlink connectors describe: {exc}", err=True)
        sys.exit(1)
    except requests.RequestException as exc:
        click.echo(f"govlink connectors describe: {url} cannot be reached ({type(exc).__name__})", err=True)
        sys.exit(1)


def _describe_openapi(url: str, base_url: str | None) -> bool:
    """Describe URL if it is an OpenAPI document (printed; exit 1 on a problem); False if it is not one."""
    from connectors.openapi import Document, OpenApiProblem, looks_like_openapi, parse_document, read_location
    from connectors.openapi_describe import describe_openapi
    from kernel.http import http_session

    try:
        with http_session(timeout=20) as session:
            text = read_location(url, session)
    except OpenApiProblem:
        return False  # unreadable: the WSDL path reports it as it always has
    if not looks_like_openapi(text):
        return False
    try:
        document = Document(parse_document(text, url), url)
        click.echo(describe_openapi(document, url, base_url=base_url), nl=False)
    except OpenApiProblem as exc:
        click.echo(f"govlink connectors describe: {exc}", err=True)
        sys.exit(1)
    return True


COMMANDS = [connectors]
