"""The pure decisions of REST + OpenAPI: operation lookup, the 3.0 dialect, coercion, field names, messages."""
from __future__ import annotations

import pytest

from connectors.openapi import Document, Field, OpenApiProblem, check_paths, location_of, looks_like_openapi, parse_document
from connectors.openapi_request import canonical_name, coerce, place
from tests.support.openapi_responder import DOCUMENT

PETSTORE = Document(parse_document(DOCUMENT.read_text(encoding="utf-8"), "petstore"), "http://10.1.2.3:8080/v3/openapi.yaml")

SMALL = {
    "openapi": "3.0.3",
    "paths": {"/people/{id}": {
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 18}}],
        "put": {"requestBody": {"required": True, "content": {"application/json; charset=utf-8": {
            "schema": {"$ref": "#/components/schemas/Person"}}}},
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Person"}}}}}},
    }},
    "components": {"schemas": {"Person": {
        "type": "object", "required": ["serial", "name", "born"], "additionalProperties": False,
        "properties": {"serial": {"type": "integer", "readOnly": True}, "name": {"type": "string", "minLength": 1},
                       "nick": {"type": "string", "nullable": True}, "born": {"type": "string", "format": "date"},
                       "level": {"type": "integer", "format": "int32"}}}}},
}


def test_operations_match_by_method_and_path_shape_whatever_the_placeholders_are_called():
    assert PETSTORE.find("GET", "/pet/{pet_id}").operation_id == "getPetById"
    assert PETSTORE.find("POST", "/pet/{x}").operation_id == "updatePetWithForm"
    assert PETSTORE.find("GET", "/pet/findByStatus").operation_id == "findPetsByStatus"
    assert PETSTORE.find("PATCH", "/pet/{pet_id}") is None and PETSTORE.find("GET", "/pets/{id}") is None
    assert PETSTORE.server_url() == "http://10.1.2.3:8080/v3"  # `servers: [{url: /v3}]`, relative to the document


def test_path_level_parameters_and_charset_media_types_are_found():
    op = Document(SMALL, "x").find("PUT", "/people/{person}")
    assert [p.name for p in op.params("path")] == ["id"] and op.body_required
    assert op.body == "/paths/~1people~1{id}/put/requestBody/content/application~1json; charset=utf-8/schema"


def test_the_3_0_dialect_nullable_read_only_and_formats():
    doc = Document(SMALL, "x")
    body = "/components/schemas/Person"
    assert doc.errors(body, {"name": "张三", "born": "1990-01-31", "nick": None}, "request") == []  # serial is readOnly
    assert doc.errors(body, {"name": "张三", "born": "1990-01-31"}, "response") == [("serial", "is required")]
    assert doc.errors(body, {"name": "", "born": "1990-02-31", "level": 2**31, "x": 1}, "request") == [
        ("(the whole value)", "has unexpected field(s) x"), ("born", "must be a valid date"),
        ("level", "must be a valid int32"), ("name", "must be at least 1 characters long")]


def test_messages_never_carry_the_value():
    doc = Document(SMALL, "x")
    op = doc.find("PUT", "/people/{person}")
    _query, _body, problems = place(doc, op, {"person": "340104199001011234X"}, {"name": "x", "born": "2000-01-01"}, None)
    assert problems == {"person": "must be at most 18 characters long"}
    assert "3401" not in str(problems)


@pytest.mark.parametrize("value, schema, expected", [
    ("12", {"type": "integer"}, 12), ("1.5", {"type": "number"}, 1.5), ("true", {"type": "boolean"}, True),
    ("abc", {"type": "integer"}, "abc"), ("12", {"type": "string"}, "12"), (["1", "2"], {"type": "array", "items": {"type": "integer"}}, [1, 2]),
])
def test_path_and_query_strings_spelling_the_type_are_taken_as_it(value, schema, expected):
    assert coerce(value, schema) == expected


def test_department_field_paths_are_reported_by_the_callers_names():
    mapping = {"kind": "category", "photos": "photoUrls", "pet_name": "name"}
    assert canonical_name("category.id", mapping) == "kind.id"
    assert canonical_name("photoUrls[]", mapping) == "photos[]"
    assert canonical_name("name", mapping) == "pet_name" and canonical_name("other", mapping) == "other"


def test_fields_not_in_the_query_or_body_are_refused_when_the_operation_has_no_body():
    op = PETSTORE.find("POST", "/pet/{pet_id}")
    query, body, problems = place(PETSTORE, op, {"pet_id": 1}, {"name": "Rex", "colour": "red"}, None)
    assert query == {"name": "Rex"} and body is None
    assert problems == {"colour": "is not a parameter of POST /pet/{petId} in the OpenAPI document"}


def test_undeclared_statuses_and_open_objects():
    op = PETSTORE.find("GET", "/pet/{id}")
    assert op.response_pointer(200)[0] and not op.response_pointer(201)[0]
    assert PETSTORE.find("POST", "/pet/{id}").response_pointer(200) == (True, None)  # no 2xx declared: any
    assert check_paths(["anything.at.all"], [Field("", "object", True, True)], "response") == []
    assert check_paths(["a.c"], [Field("a", "object", True, False), Field("a.b", "string", True, False)], "response") == [
        "response field 'a.c' is not in the OpenAPI document; it has: a, a.b"]


def test_documents_that_are_not_openapi_3_are_refused_with_the_fix():
    with pytest.raises(OpenApiProblem, match="is OpenAPI/Swagger 2.0, not OpenAPI 3; convert it"):
        parse_document("swagger: '2.0'\npaths: {}\n", "x.yaml")
    with pytest.raises(OpenApiProblem, match="is not an OpenAPI document"):
        parse_document("<html></html>", "x")
    assert looks_like_openapi('{"openapi": "3.1.0", "paths": {}}') and looks_like_openapi("openapi: 3.0.2\n")
    assert not looks_like_openapi("<?xml version='1.0'?><definitions/>")


def test_a_plain_openapi_path_is_relative_to_the_declaration(tmp_path):
    assert location_of("openapi/pets.yaml", str(tmp_path / "pets.yaml")) == (tmp_path / "openapi/pets.yaml").as_uri()
    assert location_of("https://h/doc.json", "x.yaml") == "https://h/doc.json"


def test_a_broken_ref_is_the_documents_problem_not_a_crash():
    doc = Document({"openapi": "3.0.0", "paths": {}, "components": {"schemas": {
        "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/Missing"}}}}}}, "http://h/doc.json")
    with pytest.raises(OpenApiProblem, match=r"openapi http://h/doc.json: #/components/schemas/A: a \$ref cannot be resolved"):
        doc.errors("/components/schemas/A", {"b": 1}, "response")
    with pytest.raises(OpenApiProblem, match="#/components/schemas/Missing does not exist"):
        doc.fields("/components/schemas/A")
