"""Grant conditions (issue 15): parsing and load-time checks against the declarations, the payload
check, and the result filter (connectors/access.py). Pure: no services."""
import pytest

from connectors.access import (AccessConfigError, AccessDenied, AccessRights, ConditionNotMet, ResultWithheld,
                               filter_result, parse_condition)
from connectors.registry import Registry

ME, OTHER, FIRM = "340104198803093175", "340104198506150215", "91340100MA2N0X1Y2K"
PERSON = {"subject": "s-1", "id_number": ME, "acting_for": None, "level": 1}
MEMBER = {"subject": "s-1", "id_number": ME, "acting_for": FIRM, "level": 2}


@pytest.fixture(scope="module")
def shipped():
    registry = Registry.load()
    return AccessRights.load(catalogue=registry.catalogue(), fields=registry.fields())


def _load(tmp_path, text):
    path = tmp_path / "access.yaml"
    path.write_text(text, encoding="utf-8")
    registry = Registry.load()
    return AccessRights.load(path, catalogue=registry.catalogue(), fields=registry.fields())


def test_the_shipped_grants_bind_the_holder_and_the_id_number(shipped):
    grant = shipped.authorize("channel/mobile-app", "e-licence", "list-licences", {"holder_id": ME}, PERSON)
    assert {c.name for c in grant.conditions} >= {"payload.holder_id", "result.licences[].holder_id"}
    with pytest.raises(ConditionNotMet) as refused:
        shipped.authorize("channel/mobile-app", "e-licence", "list-licences", {"holder_id": OTHER}, PERSON)
    assert refused.value.code == "condition_not_met" and refused.value.details["field"] == "payload.holder_id"
    assert shipped.authorize("channel/web-portal", "e-licence", "list-licences", {"holder_id": FIRM}, MEMBER)
    with pytest.raises(ConditionNotMet):
        shipped.authorize("channel/kiosk", "population-registry", "verify-identity",
                          {"name": "x", "id_number": OTHER}, PERSON)
    assert shipped.authorize("channel/kiosk", "population-registry", "verify-identity",
                             {"name": "x", "id_number": ME}, PERSON).rate_limits


@pytest.mark.parametrize("payload,principal", [
    ({"holder_id": ME}, None),                                   # no principal in the envelope
    ({}, PERSON),                                                # the bound field left out
    ({"holder_id": ME.lower() + " "}, PERSON),                   # not exactly the caller's canonical form
    ({"holder_id": [ME]}, PERSON),                               # not a string
    ({"holder_id": FIRM}, PERSON),                               # an enterprise they do not act for
])
def test_a_condition_holds_only_for_the_callers_exact_value(shipped, payload, principal):
    with pytest.raises(ConditionNotMet):
        shipped.authorize("channel/mobile-app", "e-licence", "list-licences", payload, principal)


def test_department_subsystems_keep_unconditioned_grants(shipped):
    grant = shipped.authorize("GOV/11340100002987128A/case-system", "e-licence", "list-licences",
                              {"holder_id": OTHER}, None)
    assert grant.conditions == () and filter_result(grant, {"holder_id": OTHER}, None) == {"holder_id": OTHER}


def test_no_grant_is_still_forbidden(shipped):
    with pytest.raises(AccessDenied) as denied:
        shipped.authorize("channel/hotline", "e-licence", "get-licence", {"licence_id": "x"}, PERSON)
    assert denied.value.code == "forbidden"


def test_a_single_result_about_someone_else_is_withheld(shipped):
    grant = shipped.authorize("channel/mobile-app", "e-licence", "get-licence", {"licence_id": "DZZZ-1"}, PERSON)
    assert filter_result(grant, {"licence_id": "DZZZ-1", "holder_id": ME}, PERSON)["holder_id"] == ME
    for result in ({"licence_id": "DZZZ-1", "holder_id": OTHER}, {"licence_id": "DZZZ-1"}, None, []):
        with pytest.raises(ResultWithheld):
            filter_result(grant, result, PERSON)


def test_list_items_about_someone_else_are_dropped(shipped):
    grant = shipped.authorize("channel/mobile-app", "e-licence", "list-licences", {"holder_id": ME}, PERSON)
    result = {"holder_id": ME, "total": 2, "licences": [{"licence_id": "a", "holder_id": ME},
                                                         {"licence_id": "b", "holder_id": OTHER}, {"licence_id": "c"}]}
    assert [lic["licence_id"] for lic in filter_result(grant, result, PERSON)["licences"]] == ["a"]


@pytest.mark.parametrize("conditions,problem", [
    ("payload.owner: subject.id_number", "not a request field of e-licence/list-licences"),
    ("result.holder: subject.id_number", "not a response field"),
    ("payload.holder_id: subject.name", "not one of"),
    ("holder_id: subject.id_number", "payload.<field> or result.<field>"),
    ("payload.holder_id: 3", "principal attributes"),
])
def test_conditions_are_checked_against_the_declarations_at_load(tmp_path, conditions, problem):
    with pytest.raises(AccessConfigError) as refused:
        _load(tmp_path, f"""
grants:
  - clients: [channel/web-portal]
    service: e-licence
    operations: [list-licences]
    conditions:
      {conditions}
""")
    assert problem in str(refused.value) and "grants[0].conditions" in str(refused.value)


def test_a_conditioned_grant_names_its_operations_and_known_limits(tmp_path):
    with pytest.raises(AccessConfigError, match="not \"\\*\""):
        _load(tmp_path, """
grants:
  - clients: [channel/web-portal]
    service: e-licence
    operations: ["*"]
    conditions: {result.holder_id: subject.id_number}
""")
    with pytest.raises(AccessConfigError, match="not a limit"):
        _load(tmp_path, """
grants:
  - clients: [channel/web-portal]
    service: e-licence
    operations: [list-licences]
    rate_limits: [no-such-limit]
""")


def test_either_syntax_for_attributes():
    assert parse_condition("payload.holder_id", "subject.id_number | subject.acting_for").attributes == \
        parse_condition("payload.holder_id", ["subject.id_number", "subject.acting_for"]).attributes == \
        ("id_number", "acting_for")
