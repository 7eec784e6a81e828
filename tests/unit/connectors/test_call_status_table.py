"""One table of department-call codes: the connectors, the gateway's answers and the OpenAPI document agree."""
import pytest

from bus.call_codes import ERROR_CODES, UNKNOWN_STATUS, codes_by_status, status_of
from bus.request import DepartmentCallFailed, failure_from_reply
from connectors.errors import ConnectorError


def test_misconfigured_is_our_fault_so_500_not_502():
    # The declaration does not fit the department: govlink's to fix, not a bad answer from upstream.
    assert status_of("misconfigured") == 500 and ConnectorError("misconfigured", "x.yaml: ...").http_status == 500


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_a_reply_with_each_code_answers_the_tables_status(code):
    failure = failure_from_reply({"code": code, "message": "m", "details": {}}, "call-1")
    assert isinstance(failure, DepartmentCallFailed)
    assert (failure.code, failure.status, failure.details) == (code, ERROR_CODES[code][1], {"call_id": "call-1"})


@pytest.mark.parametrize("code", sorted(c for c in ERROR_CODES if c not in ("rate_limited", "bus_unavailable")))
def test_connector_errors_take_their_status_from_the_same_table(code):
    assert ConnectorError(code, "m").http_status == ERROR_CODES[code][1]


def test_an_unknown_code_is_a_bad_gateway():
    failure = failure_from_reply({"message": "?"}, "call-1")
    assert (failure.code, failure.status) == ("department_error", UNKNOWN_STATUS) and UNKNOWN_STATUS == 502


def test_rate_limited_carries_retry_after_and_the_departments_details():
    failure = failure_from_reply({"code": "rate_limited", "message": "Too many calls; try again in 7 s.",
                                  "details": {"retry_after": 7}}, "c")
    assert failure.status == 429 and failure.headers == {"Retry-After": "7"} and failure.retry_after == 7
    assert failure.details == {"call_id": "c", "department": {"retry_after": 7}}


def test_codes_by_status_covers_every_code_once():
    grouped = codes_by_status()
    assert sorted(c for codes in grouped.values() for c in codes) == sorted(ERROR_CODES)
    assert list(grouped) == sorted(grouped)


def test_the_services_route_documents_every_status_the_table_produces():
    from config.settings import Settings
    from bootstrap.gateway import create_app

    doc = create_app(Settings.from_env({})).test_client().get("/api/openapi.json").get_json()
    responses = doc["paths"]["/api/v1/services/{service}/{operation}"]["post"]["responses"]
    for status, codes in codes_by_status().items():
        assert str(status) in responses, status
        assert all(code in responses[str(status)]["description"] for code in codes), (status, codes)


def test_a_connector_error_is_a_coded_error_the_gateway_answers_as_it_is():
    from kernel.errors import CodedError
    from connectors.access import ConditionNotMet

    exc = ConditionNotMet("holder_id must be your own (id_number) for this call.", details={"field": "payload.holder_id"})
    assert isinstance(exc, CodedError) and (exc.status, exc.code) == (403, "condition_not_met")
    assert str(exc) == exc.message and exc.details == {"field": "payload.holder_id"}
