"""Principal from claims: caller, level, resident ID and the enterprise a token acts for."""
from datetime import date

import pytest

from kernel.identifiers import (InvalidIdentifier, canonical_resident_id, canonical_uscc, looks_like_identifier,
                             make_resident_id, make_uscc)
from idp.principal import NonCanonicalClaim, Principal

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
    for claim in (with_attrs, [USCC], [with_attrs, USCC], {USCC: {}}):
        assert Principal.from_claims(_claims(organization=claim)).enterprise_uscc == USCC


@pytest.mark.parametrize("claim", [[USCC.lower()], [USCC + "\u3000"], {USCC: {"uscc": [" " + USCC]}},
                                   {USCC.lower(): {}}, ["\u200b" + USCC]])
def test_a_non_canonical_uscc_in_the_organization_claim_refuses_the_token(claim):
    """Issue 15: never normalised into an enterprise; Keycloak keeps our aliases exactly as govlink wrote them."""
    with pytest.raises(NonCanonicalClaim):
        Principal.from_claims(_claims(organization=claim))


X_ID = next(i for i in (make_resident_id("340104", date(1980, 1, 1), n) for n in range(1, 999)) if i.endswith("X"))
PADS = ["\u3000", "\u00a0", "\u2003", "\u2009", "\u2028", "\u0085", "\u200b", "\ufeff", " ", "\t", "\n"]


@pytest.mark.parametrize("username", [
    *[X_ID.lower() + pad for pad in PADS], *[pad + X_ID.lower() for pad in PADS],
    X_ID,  # upper-case X: Keycloak never stores it
    X_ID.lower().translate(str.maketrans("0123456789x", "０１２３４５６７８９ｘ")),
    X_ID[:9] + "\u200b" + X_ID[9:].lower(),
])
def test_a_username_that_is_an_id_number_only_after_normalising_refuses_the_token(username):
    """Issue 15 finding 1: `<victim's ID>` + U+3000 was read as the victim."""
    with pytest.raises(NonCanonicalClaim):
        Principal.from_claims(_claims(preferred_username=username))


def test_the_canonical_username_and_staff_names():
    assert Principal.from_claims(_claims(preferred_username=X_ID.lower())).resident_id == X_ID
    for staff in ("clerk01", "finance-02", "supervisor01", "service-account-gateway"):
        assert Principal.from_claims(_claims(preferred_username=staff)).resident_id is None


def test_canonical_identifiers_refuse_what_validation_would_normalise():
    assert canonical_resident_id(X_ID) == X_ID and canonical_uscc(USCC) == USCC
    for text in (X_ID.lower(), f" {X_ID}", X_ID + "\u3000"):
        with pytest.raises(InvalidIdentifier) as exc:
            canonical_resident_id(text)
        assert X_ID not in str(exc.value)
    for text in (USCC.lower(), f"{USCC} "):
        with pytest.raises(InvalidIdentifier):
            canonical_uscc(text)
    assert looks_like_identifier(X_ID.lower() + "\u3000") and looks_like_identifier(USCC.lower())
    assert not looks_like_identifier("clerk01") and not looks_like_identifier(None)


def test_two_enterprises_or_garbage_mean_none():
    other = make_uscc(org_body="MA2N0002")
    assert Principal.from_claims(_claims(organization=[USCC, other])).enterprise_uscc is None
    assert Principal.from_claims(_claims(organization=["not-a-uscc"])).enterprise_uscc is None
