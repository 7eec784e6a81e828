"""The pure WSDL rules: port choice, fault keys, field paths and request validation, on the real WSDL fixtures."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import zeep

from connectors.soap import fault_key, zeep_settings
from connectors.wsdl import (PortInfo, WsdlProblem, check_paths, choose_port, describe_fields, fetch_document,
                             input_elements, list_ports, output_elements, resolve_response_path, schema_facets)
from connectors.wsdl_validation import validate_request

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wsdl"


def _load(name):
    return fetch_document((FIXTURES / name).as_uri(), zeep.Transport(), zeep_settings())[0]


@pytest.fixture(scope="module")
def tv():
    return _load("ChinaTVprogramWebService.wsdl")


@pytest.fixture(scope="module")
def customers():
    return _load("CustomerService.wsdl")


def _port(protocol, name, service="S"):
    return PortInfo(service, name, f"{name}Binding", protocol, "http://x")


def test_default_port_is_soap_11_then_soap_12_never_http():
    http_first = [_port("http-get", "Get"), _port("soap12", "Soap12"), _port("http-post", "Post"), _port("soap11", "Soap")]
    assert choose_port(http_first).port == "Soap"
    assert choose_port([_port("http-get", "Get"), _port("soap12", "Soap12")]).port == "Soap12"
    with pytest.raises(WsdlProblem, match="no SOAP 1.1 or 1.2 port.*name one with `port:`"):
        choose_port([_port("http-get", "Get"), _port("http-post", "Post")])
    assert choose_port(http_first, port="Get").protocol == "http-get"  # only when asked for
    assert choose_port(http_first, binding="PostBinding").port == "Post"
    with pytest.raises(WsdlProblem, match="port 'Nope' is not in the WSDL; ports: S/Get"):
        choose_port(http_first, port="Nope")


def test_asmx_ports_are_listed_with_their_protocols(tv):
    ports = list_ports(tv)
    assert [(p.port, p.protocol) for p in ports] == [
        ("ChinaTVprogramWebServiceSoap", "soap11"), ("ChinaTVprogramWebServiceSoap12", "soap12"),
        ("ChinaTVprogramWebServiceHttpGet", "http-get"), ("ChinaTVprogramWebServiceHttpPost", "http-post")]
    assert choose_port(ports).port == "ChinaTVprogramWebServiceSoap"


@pytest.mark.parametrize("code, subcodes, key", [
    ("soap:Client", [], "Client"), ("soap11env:Client.NotFound", [], "Client.NotFound"),
    ("soap:Sender", ["d:NotFound"], "Client.NotFound"), ("soap:Receiver", [], "Server"),
    ("Sender.NotFound", [], "Client.NotFound"), ("wsse:FailedAuthentication", [], "FailedAuthentication"),
    (None, [], ""),
])
def test_fault_keys_are_the_same_for_soap_11_and_12(code, subcodes, key):
    assert fault_key(code, subcodes) == key


def test_field_paths_mark_repeated_elements(tv, customers):
    binding = tv.services["ChinaTVprogramWebService"].ports["ChinaTVprogramWebServiceSoap"].binding
    fields = describe_fields(output_elements(binding._operations["getAreaString"]), {})
    assert [(f.path, f.type) for f in fields] == [("getAreaStringResult", "object"), ("getAreaStringResult.string[]", "string")]
    operation = customers.services["CustomerServiceService"].ports["CustomerServicePort"].binding._operations["updateCustomer"]
    facets = schema_facets((FIXTURES / "CustomerService.wsdl").read_bytes())
    by_path = {f.path: f for f in describe_fields(input_elements(operation), facets)}
    assert by_path["customer.type"].type == "customerType (PRIVATE|BUSINESS)"
    assert by_path["customer.customerId"].required and not by_path["customer.name"].required
    assert by_path["customer.address[]"].repeated and by_path["customer.address[]"].nillable
    assert check_paths(["customer.address"], list(by_path.values()), "request") == [
        "request field 'customer.address' should be written 'customer.address[]' (`[]` marks a repeated element)"]


def test_a_single_result_element_may_be_left_out_of_response_paths(tv):
    binding = tv.services["ChinaTVprogramWebService"].ports["ChinaTVprogramWebServiceSoap"].binding
    top = output_elements(binding._operations["getAreaString"])
    assert resolve_response_path("string[]", top) == "getAreaStringResult.string[]"
    assert resolve_response_path("getAreaStringResult.string[]", top) == "getAreaStringResult.string[]"
    assert resolve_response_path("other", top) == "other"


def test_requests_are_validated_and_converted(customers):
    operation = customers.services["CustomerServiceService"].ports["CustomerServicePort"].binding._operations["updateCustomer"]
    facets = schema_facets((FIXTURES / "CustomerService.wsdl").read_bytes())
    good = {"customer": {"customerId": "7", "revenue": 1, "test": "2.50", "birthDate": "2001-02-03", "type": "PRIVATE",
                         "address": "one line"}}
    converted, problems = validate_request(input_elements(operation), good, facets)
    assert problems == []
    assert converted["customer"] == {"customerId": 7, "revenue": 1.0, "test": Decimal("2.50"), "birthDate": date(2001, 2, 3),
                                     "type": "PRIVATE", "address": ["one line"]}
    _, problems = validate_request(input_elements(operation), {"customer": {"customerId": True, "revenue": None}}, facets)
    assert problems == [("customer.customerId", "must be an integer"), ("customer.revenue", "is required")]


def test_length_pattern_and_range_facets():
    wsdl = b"""<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"><types>
      <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
        <xs:simpleType name="uscc"><xs:restriction base="xs:string"><xs:length value="18"/>
          <xs:pattern value="[0-9A-Z]{18}"/></xs:restriction></xs:simpleType>
        <xs:simpleType name="percent"><xs:restriction base="xs:int"><xs:minInclusive value="0"/>
          <xs:maxInclusive value="100"/></xs:restriction></xs:simpleType>
      </xs:schema></types></definitions>"""
    facets = schema_facets(wsdl)
    assert facets["{urn:t}uscc"] == {"length": 18, "pattern": ["[0-9A-Z]{18}"]}
    assert facets["{urn:t}percent"] == {"minInclusive": Decimal(0), "maxInclusive": Decimal(100)}
