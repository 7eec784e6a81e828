"""The demo seed's switch (GOVLINK_DEMO_SEED): on in dev, off in test and production, never in production."""
import pytest
from click.testing import CliRunner

from bootstrap import demo_seed
from bootstrap.cli import main
from config.settings import Settings, SettingsError


@pytest.mark.parametrize("env,on", [("dev", True), ("test", False), ("production", False)])
def test_default_per_environment(env, on):
    assert Settings().replace(env=env).demo_seed_on is on


@pytest.mark.parametrize("value,on", [("true", True), ("on", True), ("false", False), ("0", False)])
def test_chosen_outside_production(value, on):
    assert Settings.from_env({"GOVLINK_DEMO_SEED": value, "GOVLINK_ENV": "test"}).demo_seed_on is on
    assert Settings.from_env({"GOVLINK_DEMO_SEED": value}).demo_seed_on is on


def test_asking_for_it_in_production_is_refused_with_the_variable_named():
    with pytest.raises(SettingsError, match="GOVLINK_DEMO_SEED is refused in production"):
        Settings(env="production", demo_seed="true").check()
    with pytest.raises(SettingsError, match="GOVLINK_DEMO_SEED must be true, false or empty"):
        Settings.from_env({"GOVLINK_DEMO_SEED": "maybe"})


def test_the_seed_refuses_production_before_it_calls_anything():
    with pytest.raises(demo_seed.Refused, match="never runs in production"):
        demo_seed.run(Settings().replace(env="production"), runtime=None)


def test_auto_says_it_is_off_where_the_setting_is_off(monkeypatch):
    for name in ("GOVLINK_DEMO_SEED", "GOVLINK_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOVLINK_ENV", "test")
    result = CliRunner().invoke(main, ["demo", "seed", "--auto"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("demo seed: off (GOVLINK_DEMO_SEED=<empty>, GOVLINK_ENV=test)")
