"""Logistics profiles (config/logistics.yaml), postage tariffs and pickup codes."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import Settings
from logistics_bridge import pickup
from logistics_bridge.profiles import PROFILES_FILE, ProfileError, Tariff, load_profiles


def test_the_profile_file_loads_with_the_settings_from_the_environment():
    settings = Settings.from_env({"GOVLINK_SIMULATORS_URL": "http://sim:9/", "GOVLINK_PUBLIC_BASE_URL": "http://gw:1",
                                  "GOVLINK_SF_CHECK_WORD": "from-the-environment", "GOVLINK_KUAIDI100_SALT": "s-1"})
    profiles = load_profiles(settings)
    sf = profiles.carriers["sf"]
    assert sf.settings.url == "http://sim:9/sf-express/std/service" and sf.bill_url == "http://sim:9/sf-express/bills"
    assert sf.settings.check_word == "from-the-environment" and "from-the-environment" not in repr(sf)
    assert profiles.kuaidi100.callback_url == "http://gw:1/callbacks/logistics/kuaidi100"
    assert profiles.kuaidi100.salt == "s-1" and profiles.kuaidi100.subscribe_url == "http://sim:9/kuaidi100/poll"
    assert profiles.kuaidi100.query_url == "http://sim:9/kuaidi100/poll/query.do"
    assert profiles.carriers["ems"].settings.sign_key == Settings().ems_sign_key  # the development default
    assert (sf.tracking, profiles.carriers["ems"].tracking, profiles.via_kuaidi100) == ("own", "kuaidi100", ("ems",))
    assert profiles.centre.province == "安徽省" and profiles.centre.phone == "0551-63539000"
    assert profiles.services["340100-GA-HZ-02"].courier_legs == {"results"}
    assert profiles.bookable == ("sf", "ems") and profiles.postage.agency_code == "340100-SJ-ZW"


COURIER_VARIABLES = ("GOVLINK_SF_PARTNER_ID", "GOVLINK_SF_CHECK_WORD", "GOVLINK_SF_MONTHLY_CARD",
                     "GOVLINK_EMS_SENDER_NO", "GOVLINK_EMS_AUTHORIZATION", "GOVLINK_EMS_SIGN_KEY",
                     "GOVLINK_KUAIDI100_CUSTOMER", "GOVLINK_KUAIDI100_KEY", "GOVLINK_KUAIDI100_SALT")
PRODUCTION = {"GOVLINK_ENV": "production", "GOVLINK_GATEWAY_CLIENT_SECRET": "x" * 40,
              "GOVLINK_KEYCLOAK_ADMIN_PASSWORD": "y" * 20, "GOVLINK_METRICS_TOKEN": "z" * 32}


def test_production_refuses_the_development_credentials():
    with pytest.raises(ProfileError) as caught:
        load_profiles(Settings.from_env(PRODUCTION))
    assert all(name in str(caught.value) for name in COURIER_VARIABLES)
    almost = Settings.from_env(PRODUCTION | {name: f"real-{i}" for i, name in enumerate(COURIER_VARIABLES[1:])})
    with pytest.raises(ProfileError) as caught:
        load_profiles(almost)
    assert str(caught.value).endswith("set GOVLINK_SF_PARTNER_ID")
    real = Settings.from_env(PRODUCTION | {name: f"real-{i}" for i, name in enumerate(COURIER_VARIABLES)})
    assert load_profiles(real).carriers["sf"].settings.check_word == "real-1"


def test_a_carrier_tracked_elsewhere_is_refused(tmp_path):
    text = (PROFILES_FILE.read_text(encoding="utf-8")).replace("tracking: kuaidi100", "tracking: carrier-pigeon")
    (tmp_path / "logistics.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="tracking must be one of own, kuaidi100"):
        load_profiles(Settings(), tmp_path / "logistics.yaml")


def test_tariff_bands():
    sf = Tariff(first_g=1000, first_fen=1200, step_g=1000, step_fen=200)
    assert [sf.postage_fen(g) for g in (1, 1000, 1001, 2000, 2500)] == [1200, 1200, 1400, 1400, 1600]
    with pytest.raises(ValueError):
        sf.postage_fen(0)


@given(st.integers(1, 30_000), st.integers(1, 30_000))
def test_postage_never_falls_as_weight_rises(a, b):
    ems = Tariff(first_g=500, first_fen=1000, step_g=500, step_fen=300)
    low, high = sorted((a, b))
    assert ems.postage_fen(low) <= ems.postage_fen(high)


def test_pickup_code_is_kept_only_as_a_salted_hash():
    code = pickup.new_code()
    assert len(code) == 6 and code.isdigit()
    stored = pickup.hash_code(code)
    assert code not in stored and stored != pickup.hash_code(code)  # salted
    assert pickup.check_code(code, stored)
    assert not pickup.check_code(f"{(int(code) + 1) % 10**6:06d}", stored)
    assert not pickup.check_code("12345", stored) and not pickup.check_code(code, "garbage")
