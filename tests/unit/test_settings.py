import pytest

from config.settings import Settings, SettingsError, redact_url


def test_defaults_work_without_environment():
    s = Settings.from_env({})
    assert s.realm == "hefei"
    assert s.database_url.startswith("sqlite:///")
    assert s.issuer == "http://127.0.0.1:8080/realms/hefei"


def test_environment_overrides_and_types():
    s = Settings.from_env({"GOVLINK_REALM": "other", "GOVLINK_HTTP_TIMEOUT_SECONDS": "2.5",
                           "GOVLINK_LOG_JSON": "false", "GOVLINK_MAX_BODY_BYTES": "2048"})
    assert (s.realm, s.http_timeout_seconds, s.log_json, s.max_body_bytes) == ("other", 2.5, False, 2048)


@pytest.mark.parametrize("name,value", [("GOVLINK_LOG_JSON", "maybe"), ("GOVLINK_MAX_BODY_BYTES", "lots"),
                                        ("GOVLINK_ENV", "staging"), ("GOVLINK_AMQP_URL", "localhost")])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_production_refuses_development_secrets():
    with pytest.raises(SettingsError, match="GOVLINK_GATEWAY_CLIENT_SECRET"):
        Settings.from_env({"GOVLINK_ENV": "production"})
    ok = Settings.from_env({"GOVLINK_ENV": "production", "GOVLINK_GATEWAY_CLIENT_SECRET": "s3cr3t-from-vault",
                            "GOVLINK_KEYCLOAK_ADMIN_PASSWORD": "another-secret"})
    assert ok.env == "production"


def test_secrets_never_in_repr_or_redacted_view():
    s = Settings.from_env({"GOVLINK_GATEWAY_CLIENT_SECRET": "topsecret",
                           "GOVLINK_AMQP_URL": "amqp://u:pw123@mq:5672/%2F"})
    assert "topsecret" not in repr(s)
    view = s.redacted()
    assert view["gateway_client_secret"] == "***"
    assert "pw123" not in view["amqp_url"]


def test_redact_url_keeps_host_and_user():
    assert redact_url("postgresql://govlink:pw@db:5432/x") == "postgresql://govlink:***@db:5432/x"
    assert redact_url("http://host/path") == "http://host/path"
