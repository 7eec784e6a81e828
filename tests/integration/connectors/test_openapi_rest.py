"""REST departments described by OpenAPI 3: the real Swagger Petstore v3 document and a local Petstore,
over real HTTP. Requests are validated before sending, answers after; `connectors check` and
`connectors describe` work on the document."""
from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from connectors.access import AccessRights
from connectors.cli import connectors
from connectors.declaration import DeclarationError, parse_declaration
from connectors.errors import ConnectorError
from connectors.registry import Registry, build_connector
from tests.support.openapi_responder import DOCUMENT, serve


@pytest.fixture()
def petstore():
    store, stop = serve()
    yield store
    stop()


def _declaration(petstore, **changes) -> dict:
    data = {
        "service": "pets", "department": "Swagger Petstore", "kind": "rest",
        "openapi": petstore.document_url(), "base_url": f"{petstore.base_url}/v3", "timeout_seconds": 3,
        "operations": {
            "get-pet": {"method": "GET", "path": "/pet/{pet_id}", "request": {},
                        "response": {"id": "pet_id", "name": "pet_name", "status": "status", "category.name": "kind"}},
            "add-pet": {"method": "POST", "path": "/pet",
                        "request": {"pet_name": "name", "photos": "photoUrls", "status": "status", "kind": "category"},
                        "response": {"id": "pet_id", "name": "pet_name"}},
            "find": {"method": "GET", "path": "/pet/findByStatus", "request": {"status": "status"},
                     "response": {"items[].id": "pets[].pet_id", "items[].name": "pets[].pet_name"}},
            "rename": {"method": "POST", "path": "/pet/{pet_id}", "request": {"new_name": "name"}},
        },
    }
    data.update(changes)
    return data


@pytest.fixture()
def pets(petstore):
    connector = build_connector(parse_declaration(_declaration(petstore), "pets.yaml"), environ={})
    yield connector
    connector.close()


def _error(fn, *args) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args)
    return err.value


def test_valid_calls_pass_and_are_placed_as_the_document_says(pets, petstore):
    assert pets.call("get-pet", {"pet_id": 1}) == {"pet_id": 1, "pet_name": "旺财", "status": "available",
                                                   "kind": "Dogs"}
    assert pets.call("get-pet", {"pet_id": "2"})["pet_name"] == "Kitty"  # a path value spelling the integer
    added = pets.call("add-pet", {"pet_name": "Rex", "photos": [], "status": "pending", "kind": {"id": 1, "name": "Dogs"}})
    assert added == {"pet_id": 3, "pet_name": "Rex"}
    assert petstore.requests[-1]["body"] == {"name": "Rex", "photoUrls": [], "status": "pending",
                                             "category": {"id": 1, "name": "Dogs"}}
    assert pets.call("find", {"status": "pending"}) == {"pets": [{"pet_id": 3, "pet_name": "Rex"}]}
    assert pets.call("rename", {"pet_id": 3, "new_name": "Max"})["name"] == "Max"  # no 2xx declared: as it comes
    # updatePetWithForm's name is a query parameter in the document: not a JSON body
    assert petstore.requests[-1]["query"] == {"name": ["Max"]} and petstore.requests[-1]["body"] is None


@pytest.mark.parametrize("operation, payload, message", [
    ("get-pet", {"pet_id": "abc"}, "pets/get-pet: pet_id must be integer"),
    ("add-pet", {"pet_name": 42, "photos": []}, "pets/add-pet: pet_name must be string"),
    ("add-pet", {"pet_name": "Rex"}, "pets/add-pet: photos is required"),
    ("add-pet", {"pet_name": "Rex", "photos": ["a", 2], "kind": {"id": "one"}, "status": "lost"},
     "pets/add-pet: kind.id must be integer; photos[] must be string; status must be one of: available, pending, sold"),
    ("find", {"status": "lost"}, "pets/find: status must be one of: available, pending, sold"),
])
def test_wrong_payloads_are_refused_before_sending(pets, petstore, operation, payload, message):
    error = _error(pets.call, operation, payload)
    assert error.code == "invalid_request" and error.http_status == 422 and not error.transient
    assert error.message == message
    assert error.details["fields"] == [part.split(" ", 1)[0] for part in message.split(": ", 1)[1].split("; ")]
    assert petstore.requests == []  # the department saw nothing
    assert pets.circuit.state == "closed"


def test_an_answer_missing_a_required_field_is_a_bad_response(pets, petstore):
    petstore.control("missing_name")
    error = _error(pets.call, "get-pet", {"pet_id": 1})
    assert error.code == "bad_response" and error.http_status == 502
    assert error.message == "pets answered get-pet in a shape its OpenAPI document does not allow: name is required"
    assert error.details == {"status": 200, "fields": ["name"]}
    petstore.control("wrong_types")
    error = _error(pets.call, "find", {"status": "available"})
    assert error.code == "bad_response" and error.details["fields"] == ["items[].id"]
    assert error.message.endswith("does not allow: items[].id must be integer")
    assert petstore.served("GET") == 2


def test_check_finds_a_wrong_field_name_and_a_wrong_path_and_exits_1(petstore, tmp_path):
    bad = _declaration(petstore)
    bad["operations"]["get-pet"]["response"]["photoURLs[]"] = "photos[]"
    bad["operations"]["add-pet"]["request"]["photos"] = "photo_urls"
    bad["operations"]["find"]["path"] = "/pets/findByStatus"
    (tmp_path / "pets.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    good = _declaration(petstore, service="pets-ok")
    (tmp_path / "pets-ok.yaml").write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(connectors, ["check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    path = tmp_path / "pets.yaml"
    body_fields = ("category, category.id, category.name, id, name, photoUrls, photoUrls[], status, tags, tags[], "
                   "tags[].id, tags[].name")
    assert f"{path}: operations.get-pet.response: response field 'photoURLs[]' is not in the OpenAPI document; " \
           f"it has: {body_fields}" in lines
    assert f"{path}: operations.add-pet.request: request field 'photo_urls' is not in the OpenAPI document; " \
           f"it has: {body_fields}" in lines
    assert any(line.startswith(f"{path}: operations.find.path: GET /pets/findByStatus is not in the OpenAPI document "
                               f"{petstore.document_url()}; its GET operations are: GET /pet/findByStatus, ")
               for line in lines)
    assert re.search(r"pets-ok\s+rest\s+\S+/v3 \(openapi\)\s+4\s+ok", result.output)
    assert "3 problems in 2 declarations." in result.output
    assert petstore.requests == []  # checking reads the document only


def test_a_document_that_is_not_openapi_3_is_misconfigured(petstore, tmp_path):
    swagger2 = tmp_path / "swagger.yaml"
    swagger2.write_text("swagger: '2.0'\npaths: {}\n", encoding="utf-8")
    declaration = parse_declaration(_declaration(petstore, openapi="swagger.yaml"), str(tmp_path / "pets.yaml"))
    connector = build_connector(declaration, environ={})
    error = _error(connector.call, "get-pet", {"pet_id": 1})
    assert error.code == "misconfigured"
    assert error.message == (f"{tmp_path / 'pets.yaml'}: openapi {swagger2.as_uri()} is OpenAPI/Swagger 2.0, not "
                             "OpenAPI 3; convert it to OpenAPI 3 first")
    assert petstore.requests == []
    with pytest.raises(DeclarationError, match=r"openapi: only for kind rest"):
        parse_declaration({"service": "x-soap", "department": "d", "kind": "soap", "wsdl": "http://h/x?wsdl",
                           "openapi": "a.yaml", "operations": {"a": {"operation": "A"}}})


def test_describe_output_and_a_grant_work_with_no_edits(petstore, tmp_path):
    result = CliRunner().invoke(connectors, ["describe", petstore.document_url()])
    assert result.exit_code == 0, result.output
    text = result.output
    declaration = yaml.safe_load(text)
    service = declaration["service"]
    assert declaration["base_url"] == f"{petstore.base_url}/v3" and declaration["openapi"] == petstore.document_url()
    assert "#   POST /pet/{petId}/uploadImage (uploadFile): its request body is application/octet-stream, not JSON" in text
    directory = tmp_path / "connectors"
    directory.mkdir()
    (directory / f"{service}.yaml").write_text(text, encoding="utf-8")
    grant = re.search(r"^#   - (\{clients: .*\})$", text, re.M).group(1)
    (tmp_path / "access.yaml").write_text(f"grants:\n  - {grant}\n", encoding="utf-8")
    registry = Registry.load(directory, environ={})
    try:
        AccessRights.load(tmp_path / "access.yaml", catalogue=registry.catalogue()).check(
            "channel/service-hall", service, "get-pet-by-id")
        connector = registry.get(service)
        assert connector.call("get-pet-by-id", {"pet_id": 1}) == {
            "id": 1, "name": "旺财", "category": {"id": 1, "name": "Dogs"}, "photo_urls": ["https://example.org/1.jpg"],
            "tags": [{"id": 7, "name": "friendly"}], "status": "available"}
        found = connector.call("find-pets-by-status", {"status": "sold"})
        assert [pet["name"] for pet in found["items"]] == ["Kitty"]
        assert connector.call("get-inventory", {}) == {"available": 1, "sold": 1}
        sent = petstore.served()
        assert _error(connector.call, "get-pet-by-id", {"pet_id": "one"}).message == \
            f"{service}/get-pet-by-id: pet_id must be integer"
        assert petstore.served() == sent
    finally:
        registry.close()
    result = CliRunner().invoke(connectors, ["check", str(directory / f"{service}.yaml")])
    assert result.exit_code == 0, result.output


def test_describe_of_a_file_uses_the_base_url_option(tmp_path):
    result = CliRunner().invoke(connectors, ["describe", str(DOCUMENT), "--base-url", "http://10.0.0.5:8080/v3"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["base_url"] == "http://10.0.0.5:8080/v3"
