"""The gateway's one error handler: every `kernel.errors.CodedError` answers from its own attributes.

Other areas (payments, logistics, identity, supervision, reconciliation) raise CodedErrors and
catch nothing in their routes; this is the shape they rely on (no backing service needed).
"""
import pytest
from flask import Flask

from config.logging import correlation_id
from kernel.errors import CodedError, Refused
from routes.errors import ApiError, register_error_handlers


class _Family(CodedError):
    code = "family_error"
    status = 409


def _app(exc: Exception) -> Flask:
    app = Flask(__name__)
    register_error_handlers(app)

    @app.get("/boom")
    def boom():
        raise exc

    return app


def _get(exc: Exception, cid: str | None = None):
    app = _app(exc)
    with app.test_client() as client:
        token = correlation_id.set(cid) if cid else None
        try:
            return client.get("/boom")
        finally:
            if token is not None:
                correlation_id.reset(token)


def test_refused_answers_with_its_status_code_message_and_details():
    r = _get(Refused(409, "notice_paid", "The notice is paid; refund it instead.", {"notice_id": "N1"}), "cid-1")
    assert r.status_code == 409
    assert r.get_json() == {"code": "notice_paid", "message": "The notice is paid; refund it instead.",
                            "details": {"notice_id": "N1"}, "correlation_id": "cid-1"}


def test_empty_details_are_left_out_as_before():
    r = _get(Refused(422, "invalid_amount", "amount must be positive"))
    assert r.status_code == 422 and r.get_json() == {"code": "invalid_amount", "message": "amount must be positive"}


def test_a_subclass_answers_with_its_class_defaults_and_instance_overrides():
    r = _get(_Family("That clashes."))
    assert (r.status_code, r.get_json()) == (409, {"code": "family_error", "message": "That clashes."})
    r = _get(_Family("Gone.", code="gone", status=410, details={"id": 7}))
    assert (r.status_code, r.get_json()) == (410, {"code": "gone", "message": "Gone.", "details": {"id": 7}})


def test_api_error_is_a_coded_error_and_keeps_its_headers():
    exc = ApiError(429, "rate_limited", "Too many requests; try again in 3 s.", {"retry_after": 3}, {"Retry-After": "3"})
    assert isinstance(exc, CodedError) and (exc.status, exc.code, exc.details) == (429, "rate_limited", {"retry_after": 3})
    r = _get(exc)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.get_json() == {"code": "rate_limited", "message": "Too many requests; try again in 3 s.",
                            "details": {"retry_after": 3}}


def test_a_coded_error_of_the_payment_family_keeps_todays_body():
    from payment_bridge.errors import Refused as PaymentRefused

    r = _get(PaymentRefused(404, "notice_not_found", "No such notice."))
    assert r.status_code == 404 and r.get_json() == {"code": "notice_not_found", "message": "No such notice."}


def test_a_server_side_coded_error_is_logged_with_its_traceback(caplog):
    r = _get(CodedError("The declaration does not fit.", code="misconfigured"))
    assert r.status_code == 500 and r.get_json()["code"] == "misconfigured"
    assert any(rec.exc_info for rec in caplog.records if rec.name == "routes.errors")


@pytest.mark.parametrize("exc", [ValueError("secret detail"), KeyError("x")])
def test_anything_else_is_still_an_internal_error_without_its_text(exc):
    r = _get(exc)
    assert r.status_code == 500 and r.get_json()["code"] == "internal_error" and "secret" not in r.get_data(as_text=True)


def test_an_upstream_5xx_is_one_warning_line_without_traceback(caplog):
    r = _get(CodedError("The registry did not answer in time.", code="registry_unavailable", status=504))
    assert r.status_code == 504
    records = [rec for rec in caplog.records if rec.name == "routes.errors"]
    assert records and all(rec.levelname == "WARNING" and not rec.exc_info for rec in records)


def test_platform_and_courier_errors_are_worded_for_the_caller_by_the_one_handler():
    """A payment platform's own error reaches the caller as 502 "The payment platform refused: ...", one that
    does not answer as 503 with Retry-After; a courier that does not answer as 503 with Retry-After. No
    blueprint has its own handler for these."""
    from logistics_bridge.errors import CarrierError
    from payment_bridge.errors import ChannelError
    from payment_bridge.platforms.base import PlatformUnavailable

    said_no = _get(ChannelError("no such order", platform_code="ORDERNOTEXIST"))
    assert said_no.status_code == 502
    assert said_no.get_json()["message"] == "The payment platform refused: no such order"
    down = _get(PlatformUnavailable("timed out"))
    assert down.status_code == 503 and down.headers["Retry-After"] == "30"
    assert down.get_json()["message"] == "The payment platform is not answering; try again later."
    courier = _get(CarrierError("http_503", "SF did not answer", "sf", retryable=True))
    assert courier.status_code == 503 and courier.headers["Retry-After"] == "30"
    assert courier.get_json()["code"] == "http_503"
    refused = _get(CarrierError("rejected", "SF refused the order", "sf"))
    assert refused.status_code == 502 and "Retry-After" not in refused.headers


def test_no_blueprint_translates_errors_itself():
    import pathlib

    routes = pathlib.Path(__file__).resolve().parents[2] / "routes"
    offenders = [str(p) for p in routes.rglob("*.py") if ".errorhandler(" in p.read_text(encoding="utf-8")
                 and p.name != "errors.py"]
    assert offenders == []
