"""Logistics profiles (config/logistics.yaml), postage tariffs and pickup codes."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import Settings
from logistics_bridge import pickup
from logistics_bridge.profiles import ProfileError, Tariff, load_profiles


def test_the_profile_file_loads_with_settings_and_environment():
    profiles = load_profiles(Settings(simulators_url="http://sim:9", public_base_url="http://gw:1"),
                             environ={"GOVLINK_SF_CHECK_WORD": "from-the-environment"})
    sf = profiles.carriers["sf"]
    assert sf.settings.url == "http://sim:9/sf-express/std/service" and sf.bill_url == "http://sim:9/sf-express/bills"
    assert sf.settings.check_word == "from-the-environment" and "from-the-environment" not in repr(sf)
    assert profiles.kuaidi100.callback_url == "http://gw:1/callbacks/logistics/kuaidi100"
    assert profiles.centre.province == "安徽省" and profiles.centre.phone == "0551-63539000"
    assert profiles.services["340100-GA-HZ-02"].courier_legs == {"results"}
    assert profiles.bookable == ("sf", "ems") and profiles.postage.agency_code == "340100-SJ-ZW"


def test_production_refuses_the_development_credentials():
    with pytest.raises(ProfileError) as caught:
        load_profiles(Settings(env="production", gateway_client_secret="x" * 40, keycloak_admin_password="y" * 20),
                      environ={})
    assert "GOVLINK_SF_CHECK_WORD" in str(caught.value) and "GOVLINK_EMS_SIGN_KEY" in str(caught.value)


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
