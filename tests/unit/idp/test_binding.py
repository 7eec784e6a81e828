"""The re-binding rule's pure parts (issue 15 finding 4); the flows run against Keycloak in
tests/security/test_account_binding.py."""
import re

from idp.binding import RECLAIMABLE_BELOW, initial_password, reclaimable


def test_only_unverified_accounts_are_reclaimed_by_a_registration():
    assert reclaimable(1) and not reclaimable(2) and not reclaimable(3)
    assert RECLAIMABLE_BELOW == 2


def test_initial_passwords_meet_the_realm_policy_and_differ():
    # config/realm.py: length(10) and digits(1) and lowerCase(1) and upperCase(1)
    seen = {initial_password() for _ in range(50)}
    assert len(seen) == 50
    for password in seen:
        assert len(password) >= 10 and re.search(r"[a-z]", password) and re.search(r"[A-Z]", password)
        assert re.search(r"[0-9]", password)
