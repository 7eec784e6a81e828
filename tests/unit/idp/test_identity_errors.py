"""The identity services' errors are CodedErrors carrying exactly the answer the identity API gave when
its routes translated them by hand (status, code, message, details, headers): no route catches them now."""
from kernel.errors import CodedError
from idp import checks, ciba, enterprises, realname
from idp.directory import RECLAIM_HINT, DirectoryError
from idp.verification import RegistryUnavailable
from idp.realname import Outcome

import pytest


def _answer(exc: CodedError):
    return exc.status, exc.code, exc.message, exc.details, getattr(exc, "headers", {})


def test_keycloak_conflict_is_already_registered_with_the_reclaim_hint():
    exc = DirectoryError(409, "Keycloak refused to create the user", {"keycloak": "User exists"})
    assert exc.keycloak_status == 409
    assert _answer(exc) == (409, "already_registered", RECLAIM_HINT, {"reclaim": ["in_person"]}, {})


def test_keycloak_bad_request_is_refused_by_identity_provider_with_its_text():
    exc = DirectoryError(400, "Keycloak refused to update the user", {"keycloak": "invalid email"})
    assert _answer(exc) == (422, "refused_by_identity_provider", "The identity provider refused the data.",
                            {"keycloak": "invalid email"}, {})


@pytest.mark.parametrize("status", [0, 401, 500, 503])
def test_keycloak_down_is_identity_provider_unavailable(status):
    exc = DirectoryError(status, "Keycloak refused to find the user", {"keycloak": "x"})
    assert _answer(exc) == (503, "identity_provider_unavailable", "The identity provider did not answer; try again.", {}, {})


def test_registry_timeout_is_504_with_its_cause():
    exc = RegistryUnavailable("timeout", "The population-registry did not answer in time.", "call-1")
    assert _answer(exc) == (504, "registry_unavailable", "The population-registry did not answer in time.",
                            {"cause": "timeout", "call_id": "call-1"}, {})


def test_registry_bus_or_fault_is_503_with_its_cause():
    exc = RegistryUnavailable("fault", "The population-registry could not check this (fault).", "call-2")
    assert _answer(exc)[:2] == (503, "registry_unavailable") and exc.details == {"cause": "fault", "call_id": "call-2"}


def test_registry_rate_limit_is_429_with_retry_after():
    exc = RegistryUnavailable("rate_limited", "Too many checks with the population-registry; try again in 30 s.", "c", 30)
    assert _answer(exc) == (429, "rate_limited", "Too many checks with the population-registry; try again in 30 s.",
                            {"call_id": "c", "retry_after": 30}, {"Retry-After": "30"})


def test_not_verified_by_each_registry():
    assert _answer(realname.NotVerified("name_mismatch", "c")) == (
        422, "not_verified", "The population registry did not confirm your name and ID number.",
        {"reason": "name_mismatch", "call_id": "c"}, {})
    assert _answer(realname.NotVerified("not_representative", "c", enterprises.NOT_THE_REPRESENTATIVE))[2] == (
        "The enterprise registry does not name you (by your resident ID number) as this enterprise's legal "
        "representative; others register it at a counter.")


def test_not_reclaimable_and_unknown_person():
    assert _answer(realname.NotReclaimable("340104198803093171")) == (
        409, "already_registered", RECLAIM_HINT, {"reclaim": ["in_person"]}, {})
    unknown = realname.UnknownPerson("340104198803093171")
    assert isinstance(unknown, LookupError) and unknown.status == 404 and unknown.code == "unknown_person"
    assert unknown.message.startswith("No account for ") and "198803093" not in unknown.message
    assert unknown.message.endswith("; register first.")


def test_enterprise_and_ciba_refusals_keep_status_code_message():
    assert _answer(enterprises.EnterpriseError(409, "already_registered", "m")) == (409, "already_registered", "m", {}, {})
    assert _answer(ciba.CibaError(401, "invalid_token", "m")) == (401, "invalid_token", "m", {}, {})


def test_a_malformed_identifier_names_the_field_and_rule():
    with pytest.raises(checks.IdentifierRefused) as refused:
        checks.resident_id("12345", "resident_id")
    assert refused.value.status == 422 and refused.value.code == "invalid_identifier"
    assert refused.value.details["field"] == "resident_id" and refused.value.details["rule"]


@pytest.mark.parametrize("outcome, step", [
    (Outcome(1, 2, "population_registry", "c"), "refresh the token (or sign in again) to carry the new level"),
    (Outcome(2, 2, "population_registry", "c"), "none"),
    (Outcome(1, 3, "in_person", "d", rebound=True, initial_password="pw"),
     "sign in with the one-time password and choose a new one (all earlier sessions have ended)"),
])
def test_the_next_step_of_an_outcome(outcome, step):
    assert outcome.next_step == step
