"""Principal from claims: caller, level, resident ID and the enterprise a token acts for."""
from idp.identifiers import make_resident_id, make_uscc
from idp.principal import Principal

RID = make_resident_id("340104")
USCC = make_uscc()


def _claims(**extra):
    return {"sub": "s-1", "azp": "web-portal", "preferred_username": RID.lower(), "scope": "openid govlink",
            "realm_access": {"roles": ["citizen"]}, **extra}


def test_person_on_a_channel():
    p = Principal.from_claims(_claims(assurance_level=2))
    assert p.caller == "channel/web-portal" and p.assurance_level == 2 and p.resident_id == RID
    assert p.roles == {"citizen"} and p.scopes == {"openid", "govlink"} and p.enterprise_uscc is None
    assert RID not in repr(p)


def test_person_without_a_level_claim_is_l1_and_service_hall_is_the_counter_channel():
    p = Principal.from_claims(_claims(azp="service-hall"))
    assert p.assurance_level == 1 and p.caller == "channel/service-hall"


def test_service_accounts_are_level_0_with_their_hard_coded_caller():
    p = Principal.from_claims({"sub": "s-2", "azp": "case-system", "preferred_username": "service-account-case-system",
                               "govlink_client": "GOV/11340100002987128A/case-system", "assurance_level": 3})
    assert p.assurance_level == 0 and p.caller == "GOV/11340100002987128A/case-system" and p.resident_id is None


def test_unknown_clients_get_a_caller_that_is_granted_nothing():
    assert Principal.from_claims(_claims(azp="someone")).caller == "client/someone"


def test_enterprise_from_every_shape_of_the_organization_claim():
    with_attrs = {USCC: {"uscc": [USCC]}}
    for claim in (with_attrs, [USCC], [with_attrs, USCC], {USCC.lower(): {}}):
        assert Principal.from_claims(_claims(organization=claim)).enterprise_uscc == USCC


def test_two_enterprises_or_garbage_mean_none():
    other = make_uscc(org_body="MA2N0002")
    assert Principal.from_claims(_claims(organization=[USCC, other])).enterprise_uscc is None
    assert Principal.from_claims(_claims(organization=["not-a-uscc"])).enterprise_uscc is None
