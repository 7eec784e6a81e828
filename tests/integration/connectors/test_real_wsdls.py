"""SOAP connectors on three real public WSDLs (tests/fixtures/wsdl/README.md), over real HTTP to local responders.

.NET ASMX (ArrayOfString, SOAP 1.1 + 1.2 + HttpGet + HttpPost), Java CXF document/literal (nested types,
enumeration, dates, nillable lists, one-way) and rpc/literal with four services.
"""
from __future__ import annotations

import time

import pytest

from connectors.declaration import parse_declaration
from connectors.errors import ConnectorError
from connectors.registry import build_connector
from tests.support.wsdl_responders import serve

TV_OPS = {
    "areas": {"operation": "getAreaString", "response": {"getAreaStringResult.string[]": "areas[]"}},
    "stations": {"operation": "getTVstationString", "request": {"area_id": "theAreaID"},
                 "response": {"getTVstationStringResult.string[]": "stations[]"}},
    "programmes": {"operation": "getTVprogramString", "request": {"channel_id": "theTVchannelID", "date": "theDate"},
                   "response": {"getTVprogramStringResult.string[]": "programmes[]"}},
}
CUSTOMER_OPS = {
    "find": {"operation": "getCustomersByName", "request": {"name": "name"},
             "response": {"return[].customerId": "customers[].id", "return[].name": "customers[].name",
                          "return[].address[]": "customers[].addresses[]", "return[].numOrders": "customers[].orders",
                          "return[].birthDate": "customers[].born_on", "return[].type": "customers[].kind"}},
    "update": {"operation": "updateCustomer", "request": {"customer": "customer"}},
}
GREETER_OPS = {
    "hello": {"operation": "sayHi", "response": {"out": "text"}},
    "greet": {"operation": "greetMe", "request": {"name": "in"}, "response": {"out": "text"}},
    "exchange": {"operation": "sendReceiveData", "request": {"data": "in"}, "response": {"out": "data"}},
}


@pytest.fixture(scope="module")
def departments():
    started = {name: serve(name) for name in ("tv", "customers", "greeter")}
    yield {name: responder for name, (responder, _stop) in started.items()}
    for _responder, stop in started.values():
        stop()


@pytest.fixture()
def dept(departments):
    for responder in departments.values():
        responder.reset()
    yield departments
    for responder in departments.values():
        responder.reset()


@pytest.fixture()
def connect(dept):
    """connect(name, **declaration fields) -> a SOAP connector on that department's WSDL."""
    built = []
    defaults = {"tv": TV_OPS, "customers": CUSTOMER_OPS, "greeter": GREETER_OPS}

    def _connect(name: str, **fields):
        raw = {"service": f"{name}-dept", "department": "测试部门", "kind": "soap", "wsdl": dept[name].wsdl_url(),
               "operations": defaults[name], **fields}
        connector = build_connector(parse_declaration(raw, f"config/connectors/{name}-dept.yaml", {}), {})
        built.append(connector)
        return connector

    yield _connect
    for connector in built:
        connector.close()


def _error(fn, *args, **kwargs) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kwargs)
    return err.value


# --------------------------------------------------------------------------- .NET ASMX
def test_asmx_array_of_string_answers_map_to_lists(connect, dept):
    tv = connect("tv")
    assert tv.call("areas", {})["areas"] == ["-1@全部@-", "1@北京@华北", "34@安徽@华东", "31@上海@华东"]
    assert tv.call("stations", {"area_id": 34}) == {"stations": ["101@安徽卫视", "102@合肥电视台"]}
    assert tv.call("stations", {"area_id": 31}) == {"stations": []}  # <getTVstationStringResult />
    assert tv.call("programmes", {"channel_id": 1001, "date": "2026-12-06"})["programmes"][1] == "19:00(PM)@@@新闻联播@@@安徽卫视"


def test_asmx_unmapped_answer_shape_is_the_body_elements_by_name(connect):
    tv = connect("tv", operations={"areas": {"operation": "getAreaString"}})
    assert tv.call("areas", {}) == {"getAreaStringResult": {"string": ["-1@全部@-", "1@北京@华北", "34@安徽@华东", "31@上海@华东"]}}
    # The one `...Result` element may be left out of response paths.
    short = connect("tv", operations={"areas": {"operation": "getAreaString", "response": {"string[]": "areas[]"}}})
    assert short.call("areas", {})["areas"][2] == "34@安徽@华东"


def test_asmx_default_port_is_soap_11_and_yaml_chooses_soap_12_or_http_get(connect, dept):
    connect("tv").call("areas", {})
    assert dept["tv"].requests[-1]["content_type"].startswith("text/xml")
    connect("tv", port="ChinaTVprogramWebServiceSoap12").call("areas", {})
    assert dept["tv"].requests[-1]["content_type"].startswith("application/soap+xml")
    get = connect("tv", binding="ChinaTVprogramWebServiceHttpGet",
                  operations={"stations": {"operation": "getTVstationString", "request": {"area_id": "theAreaID"},
                                           "response": {"string[]": "stations[]"}}})
    assert get.call("stations", {"area_id": "34"}) == {"stations": ["101@安徽卫视", "102@合肥电视台"]}
    assert dept["tv"].requests[-1]["path"].endswith("ChinaTVprogramWebService.asmx")
    assert dept["tv"].requests[-1]["operation"] == "getTVstationString" and dept["tv"].requests[-1]["method"] == "GET"


@pytest.mark.parametrize("port", ["ChinaTVprogramWebServiceSoap", "ChinaTVprogramWebServiceSoap12"])
@pytest.mark.parametrize("declared", ["Client.NotFound", "Sender.NotFound"])
def test_asmx_soap_11_and_12_faults_map_with_the_same_keys(connect, dept, port, declared):
    tv = connect("tv", port=port, faults={declared: "not_found", "Server": "invalid_request"})
    dept["tv"].control(mode="fault", fault_code="Client.NotFound", fault_string="无此地区")
    error = _error(tv.call, "areas", {})
    assert error.code == "not_found" and error.details == {"fault_code": "Client.NotFound", "fault_string": "无此地区"}
    dept["tv"].control(mode="fault", fault_code="Server", fault_string="System.Data.SqlClient.SqlException: timeout")
    error = _error(tv.call, "areas", {})
    assert error.code == "invalid_request" and error.details["fault_code"] == "Server"
    dept["tv"].control(mode="normal")
    assert _error(tv.call, "programmes", {"channel_id": 1001, "date": "06/12/2026"}).details["fault_string"].startswith(
        "System.FormatException")


def test_asmx_help_page_as_wsdl_is_misconfigured_naming_file_and_fix(connect, dept):
    tv = connect("tv", wsdl=dept["tv"].wsdl_url().split("?")[0])
    error = _error(tv.call, "areas", {})
    assert error.code == "misconfigured" and error.message.startswith("config/connectors/tv-dept.yaml: wsdl ")
    assert "HTML page" in error.message and "?WSDL" in error.message
    assert dept["tv"].served("getAreaString") == 0


# --------------------------------------------------------------------------- Java CXF document/literal
def test_cxf_nested_repeated_results_nil_and_absent_elements(connect, dept):
    customers = connect("customers")
    answer = customers.call("find", {"name": "Smith"})
    assert answer["customers"][0] == {"id": 0, "name": "Smith", "addresses": ["Pine Street 200", None], "orders": 1,
                                      "born_on": "2009-08-02", "kind": "BUSINESS"}
    # absent optional elements are null; an absent repeated element is an empty list
    assert answer["customers"][1] == {"id": 1, "name": "Smith", "addresses": [], "orders": None, "born_on": None, "kind": None}
    raw = connect("customers", operations={"find": {"operation": "getCustomersByName"}}).call("find", {"name": "Smith"})
    assert set(raw) == {"return"} and raw["return"][1]["test"] is None and raw["return"][0]["test"] == "1.5"


def test_cxf_declared_fault_and_one_way_operation(connect, dept):
    customers = connect("customers", faults={"Server": "not_found"})
    error = _error(customers.call, "find", {"name": "None"})
    assert error.code == "not_found" and "Did not find any matching customer" in error.message
    assert customers.call("update", {"customer": {"customerId": 7, "name": "李明", "revenue": 12.5, "birthDate": "1990-02-03",
                                                  "type": "PRIVATE", "address": ["合肥市蜀山区"], "test": "3.25"}}) == {}
    assert customers.call("find", {"name": "李明"})["customers"] == [
        {"id": 7, "name": "李明", "addresses": ["合肥市蜀山区"], "orders": None, "born_on": "1990-02-03", "kind": "PRIVATE"}]


@pytest.mark.parametrize("customer, fields", [
    ({"customerId": "seven", "revenue": 1}, ["customer.customerId"]),
    ({"customerId": 7}, ["customer.revenue"]),  # required element missing
    ({"customerId": 7, "revenue": 1, "type": "GOVERNMENT"}, ["customer.type"]),  # enumeration
    ({"customerId": 7, "revenue": 1, "birthDate": "1990-02-30"}, ["customer.birthDate"]),  # not a date
    ({"customerId": 2**31, "revenue": "a lot"}, ["customer.customerId", "customer.revenue"]),  # int range, double
    ({"customerId": 7, "revenue": 1, "nickname": "x"}, ["customer.nickname"]),  # not in the schema
])
def test_cxf_wrong_payloads_are_refused_before_sending(connect, dept, customer, fields):
    customers = connect("customers")
    error = _error(customers.call, "update", {"customer": customer})
    assert error.code == "invalid_request" and error.http_status == 422 and error.details["fields"] == fields
    assert all(field in error.message for field in fields)
    assert dept["customers"].requests == []  # the department saw nothing


# --------------------------------------------------------------------------- rpc/literal, several services
def test_rpc_literal_calls_and_the_service_or_port_chosen_in_yaml(connect, dept):
    greeter = connect("greeter")
    assert greeter.call("hello", {}) == {"text": "Bonjour from SoapPort"}  # the first service's port
    assert greeter.call("greet", {"name": "王芳"}) == {"text": "Hello 王芳"}
    assert greeter.call("exchange", {"data": {"elem1": "a", "elem2": "b", "elem3": 41}}) == \
        {"data": {"elem1": "b", "elem2": "a", "elem3": 42}}
    assert connect("greeter", wsdl_service="SOAPServiceRPCLit2").call("hello", {}) == {"text": "Bonjour from SoapPort2"}
    assert connect("greeter", port="SoapPortRPCLit3").call("hello", {}) == {"text": "Bonjour from SoapPort3"}
    error = _error(connect("greeter", port="SoapPortRPCLit9").call, "hello", {})
    assert error.code == "misconfigured" and "SOAPServiceRPCLit3/SoapPortRPCLit3 (soap11" in error.message


def test_rpc_literal_fault_and_wrong_types(connect, dept):
    greeter = connect("greeter", faults={"Client.BadName": "invalid_request"})
    error = _error(greeter.call, "greet", {"name": "fault"})
    assert error.code == "invalid_request" and error.details["fault_code"] == "Client.BadName"
    error = _error(greeter.call, "exchange", {"data": {"elem1": "a", "elem2": "b", "elem3": "forty"}})
    assert error.code == "invalid_request" and error.details["fields"] == ["data.elem3"]
    assert _error(greeter.call, "exchange", {"data": "text"}).details["fields"] == ["data"]
    assert dept["greeter"].served("sendReceiveData") == 0


# --------------------------------------------------------------------------- every department: the other side failing
CASES = {
    "tv": ("areas", {}, "getAreaString"),
    "customers": ("find", {"name": "Smith"}, "getCustomersByName"),
    "greeter": ("greet", {"name": "a"}, "greetMe"),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("mode, status, transient", [
    ("html", 500, True), ("html", 200, False), ("dtd", 500, True), ("empty", 200, False), ("json", 200, False)])
def test_non_soap_answers_are_bad_responses_with_the_status_and_open_the_circuit(connect, dept, name, mode, status,
                                                                                 transient):
    operation, payload, _ = CASES[name]
    connector = connect(name, circuit_breaker={"failure_threshold": 2, "reset_timeout_seconds": 30})
    dept[name].control(mode=mode, status=status)
    for _ in range(2):
        error = _error(connector.call, operation, payload)
        assert error.code == "bad_response" and error.details["status"] == status and error.transient is transient
        assert "<html" not in error.message and "DTD" not in error.message.upper().replace("A DTD", "")
    assert connector.circuit.state == "open"
    assert _error(connector.call, operation, payload).code == "circuit_open"


@pytest.mark.parametrize("name, operation, payload, fields", [
    ("tv", "stations", {"area_id": "abc"}, ["area_id"]),
    ("tv", "programmes", {"channel_id": 1.5}, ["channel_id"]),
    ("customers", "find", {"name": {"first": "A"}}, ["name"]),
    ("greeter", "greet", {"name": ["a", "b"]}, ["name"]),
    ("greeter", "greet", {}, ["name"]),  # rpc part missing
])
def test_wrong_payload_types_are_refused_before_sending_on_every_department(connect, dept, name, operation, payload,
                                                                           fields):
    error = _error(connect(name).call, operation, payload)
    assert error.code == "invalid_request" and error.details["fields"] == fields
    assert dept[name].requests == []


def test_cxf_port_chosen_in_yaml(connect, dept):
    customers = connect("customers", wsdl_service="CustomerServiceService", port="CustomerServicePort")
    assert customers.call("find", {"name": "Smith"})["customers"][0]["id"] == 0
    error = _error(connect("customers", port="CustomerServiceSoap12Port").call, "find", {"name": "Smith"})
    assert error.code == "misconfigured" and error.message == (
        "config/connectors/customers-dept.yaml: port 'CustomerServiceSoap12Port' is not in the WSDL; ports: "
        "CustomerServiceService/CustomerServicePort (soap11, binding CustomerServiceServiceSoapBinding).")
    error = _error(connect("customers", wsdl_service="CustomerService").call, "find", {"name": "Smith"})
    assert error.code == "misconfigured" and "service 'CustomerService' is not in the WSDL; it has: CustomerServiceService" \
        in error.message


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("version", [11, 12])
def test_faults_in_soap_11_and_12_are_connector_errors_on_every_port(connect, dept, name, version):
    operation, payload, _ = CASES[name]
    connector = connect(name, faults={"Client.NotFound": "not_found"})
    dept[name].control(mode="fault", fault_code="Client.NotFound", fault_string="没有记录", fault_version=version)
    error = _error(connector.call, operation, payload)
    if version == 11:  # every one of these ports is SOAP 1.1
        assert error.code == "not_found" and error.details["fault_code"] == "Client.NotFound"
    else:  # a SOAP 1.2 envelope on a SOAP 1.1 port is not an answer the port promises
        assert error.code == "bad_response" and error.details["status"] == 500
        assert "not a SOAP 1.1 envelope" in error.message


@pytest.mark.parametrize("name", CASES)
def test_slow_answers_time_out(connect, dept, name):
    operation, payload, _ = CASES[name]
    connector = connect(name)
    connector.call(operation, payload)  # WSDL loaded while fast
    dept[name].control(mode="slow", delay_seconds=2)
    started = time.monotonic()
    error = _error(connector.call, operation, payload, timeout=0.4)
    assert error.code == "timeout" and error.transient
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("name, operations, expected", [
    ("tv", {"stations": {"operation": "getTVstationString", "request": {"area_id": "theAreaId"}}},
     "config/connectors/tv-dept.yaml: operations.stations.request: request field 'theAreaId' is not in the WSDL; "
     "it has: theAreaID"),
    ("customers", {"find": {"operation": "getCustomersByName", "response": {"return[].customerID": "id[]"}}},
     "config/connectors/customers-dept.yaml: operations.find.response: response field 'return[].customerID' is not in "
     "the WSDL; it has: return[].address[], return[].birthDate, return[].customerId, return[].name, "
     "return[].numOrders, return[].revenue, return[].test, return[].type"),
    ("greeter", {"greet": {"operation": "greetMe", "response": {"out.text": "text"}}},
     "config/connectors/greeter-dept.yaml: operations.greet.response: response field 'out.text' is not in the WSDL; "
     "it has: out"),
    ("greeter", {"greet": {"operation": "greetMe", "response": {"out[]": "texts[]"}}},
     "config/connectors/greeter-dept.yaml: operations.greet.response: response field 'out[]' should be written 'out' "
     "(`[]` marks a repeated element)"),
])
def test_a_wrong_department_field_is_the_declarations_error(connect, dept, name, operations, expected):
    connector = connect(name, operations=operations)
    assert connector.check() == [expected]
    operation = next(iter(operations))
    error = _error(connector.call, operation, {"area_id": 1} if name == "tv" else {"name": "x"} if name == "greeter" else {})
    assert error.code == "misconfigured" and error.message == expected and error.http_status == 500
    assert all(not r.requests for r in dept.values())
