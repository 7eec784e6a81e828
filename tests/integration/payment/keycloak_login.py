"""The mobile-app sign-in for tests now lives in tests/support/keycloak_users.py; `login` stays
importable here for the modules that still import it from this path."""
from tests.support.keycloak_users import sign_in as login

__all__ = ["login"]
