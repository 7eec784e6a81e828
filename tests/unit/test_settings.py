import pytest

from config.settings import Settings, SettingsError, fill, placeholders, redact_url


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
                                        ("GOVLINK_ENV", "staging"), ("GOVLINK_AMQP_URL", "localhost"),
                                        ("GOVLINK_TOKEN_CACHE_SECONDS", "-1"), ("GOVLINK_TOKEN_CACHE_SECONDS", "soon"),
                                        ("GOVLINK_LOG_LEVEL", "LOUD")])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_production_refuses_development_secrets():
    with pytest.raises(SettingsError, match="GOVLINK_GATEWAY_CLIENT_SECRET"):
        Settings.from_env({"GOVLINK_ENV": "production"})
    with pytest.raises(SettingsError, match="GOVLINK_METRICS_TOKEN"):
        Settings.from_env({"GOVLINK_ENV": "production", "GOVLINK_GATEWAY_CLIENT_SECRET": "s3cr3t-from-vault",
                           "GOVLINK_KEYCLOAK_ADMIN_PASSWORD": "another-secret"})
    ok = Settings.from_env({"GOVLINK_ENV": "production", "GOVLINK_GATEWAY_CLIENT_SECRET": "s3cr3t-from-vault",
                            "GOVLINK_KEYCLOAK_ADMIN_PASSWORD": "another-secret", "GOVLINK_METRICS_TOKEN": "scrape-secret"})
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


def test_bridge_and_supervision_settings_keep_their_variable_names_and_defaults():
    defaults = Settings.from_env({})
    assert defaults.nontax_mac_token == "dev-nontax-shared-token" and defaults.wechatpay_api_base == ""
    assert defaults.wechatpay_merchant_key_file == "var/payment-keys/wechatpay-merchant-private.pem"
    assert defaults.sf_partner_id == "HFZWFW_GOVLINK" and defaults.kuaidi100_customer == "DEVCUSTOMER0001"
    assert defaults.supervision_file.endswith("config/supervision.yaml")
    s = Settings.from_env({"GOVLINK_NONTAX_MAC_TOKEN": "mac-1", "GOVLINK_WECHATPAY_API_V3_KEY": "k" * 32,
                           "GOVLINK_WECHATPAY_PLATFORM_KEY_FILE": "/keys/platform.pem", "GOVLINK_SF_CHECK_WORD": "cw",
                           "GOVLINK_EMS_SIGN_KEY": "sm4", "GOVLINK_KUAIDI100_SALT": "salt-1",
                           "GOVLINK_SUPERVISION_FILE": "/etc/govlink/supervision.yaml"})
    assert (s.nontax_mac_token, s.wechatpay_platform_key_file, s.sf_check_word, s.supervision_file) == (
        "mac-1", "/keys/platform.pem", "cw", "/etc/govlink/supervision.yaml")
    view = s.redacted()
    for name, value in (("nontax_mac_token", "mac-1"), ("wechatpay_api_v3_key", "k" * 32), ("sf_check_word", "cw"),
                        ("ems_sign_key", "sm4"), ("kuaidi100_salt", "salt-1")):
        assert view[name] == "***" and value not in repr(s)
    assert s.at_default("nontax_mac_token", "kuaidi100_key", "sf_partner_id") == [
        "GOVLINK_KUAIDI100_KEY", "GOVLINK_SF_PARTNER_ID"]


def test_fill_takes_settings_and_names_an_unknown_one():
    s = Settings(simulators_url="http://sim:1/", sf_partner_id="P1")
    assert fill("{simulators_url}/sf/{sf_partner_id}", s) == "http://sim:1/sf/P1"
    assert fill("{base}/x", s, base="http://b") == "http://b/x" and fill(42, s) == 42
    assert placeholders("{simulators_url}/{kuaidi100_key}") == {"simulators_url", "kuaidi100_key"}
    with pytest.raises(SettingsError, match="no_such_setting"):
        fill("{no_such_setting}", s)
