"""Reconciliation's and supervision's refusals are CodedErrors carrying the answer their routes used to
build by hand (status, code, message, headers); str() stays what logs and the CLI showed."""
import pytest

from reconciliation.exports import RunNotFound
from reconciliation.ledger import LedgerUnavailable
from reconciliation.queries import BadCursor
from reconciliation.runs import ResolutionError
from reconciliation.service import ReconciliationInputError
from supervision.access import CaseHidden, NotApplicant
from supervision.feedback import FeedbackError


def _answer(exc):
    return exc.status, exc.code, exc.message, exc.details, getattr(exc, "headers", {})


def test_input_error_is_422_with_its_code_and_text():
    exc = ReconciliationInputError("no statement imported for 2026-01-15", code="no_statement")
    assert isinstance(exc, ValueError) and str(exc) == "no statement imported for 2026-01-15"
    assert _answer(exc) == (422, "no_statement", "no statement imported for 2026-01-15", {}, {})


def test_ledger_unavailable_is_503_retry_after_and_keeps_libpqs_reason_for_the_log():
    exc = LedgerUnavailable("the ledger's database is not reachable: password authentication failed")
    assert isinstance(exc, RuntimeError) and "password authentication failed" in str(exc)
    assert _answer(exc) == (503, "database_unavailable", "The database is not available right now; try again shortly.",
                            {}, {"Retry-After": "5"})


def test_bad_cursor_is_422_invalid_cursor():
    exc = BadCursor("not a cursor of this list")
    assert isinstance(exc, ValueError) and _answer(exc) == (
        422, "invalid_cursor", "after is not a cursor of this list: pass the `next` of the page before.", {}, {})


@pytest.mark.parametrize("code, status", [("not_found", 404), ("four_eyes", 403), ("wrong_status", 409),
                                          ("unknown_reason_code", 409), ("note_required", 409)])
def test_resolution_error_status_by_code(code, status):
    exc = ResolutionError("the resolver cannot approve their own resolution", code=code)
    assert _answer(exc)[:3] == (status, code, "the resolver cannot approve their own resolution")
    assert str(exc) == "the resolver cannot approve their own resolution"


def test_unknown_run_is_404_and_still_a_lookup_error():
    exc = RunNotFound(7)
    assert isinstance(exc, LookupError) and _answer(exc) == (404, "not_found", "No reconciliation run 7.", {}, {})


def test_supervision_refusals():
    assert _answer(CaseHidden()) == (404, "not_found", "No such case.", {}, {})
    assert _answer(NotApplicant("Only the applicant rates a case.")) == (
        403, "not_applicant", "Only the applicant rates a case.", {}, {})
    assert _answer(FeedbackError(409, "not_finished", "The case is not finished.")) == (
        409, "not_finished", "The case is not finished.", {}, {})
