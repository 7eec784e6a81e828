"""The scheduler's decisions as pure functions: which past periods, when the next attempt, what to catch up."""
from datetime import datetime, time, timedelta, timezone

import pytest

from bus.scheduler import Job, missed_periods, next_attempt, parse_backoff
from config.settings import Settings, SettingsError

NOW = datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc)  # 03:00 on the 27th in Beijing


def test_past_periods_of_a_daily_job_are_whole_beijing_days_oldest_first():
    job = Job("d", lambda rt, p: None, daily_at=time(2, 0))
    assert job.past_periods(NOW, 3) == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert job.past_periods(NOW, 0) == []


def test_past_periods_of_an_interval_job():
    job = Job("i", lambda rt, p: None, every_seconds=60)
    assert job.past_periods(NOW + timedelta(seconds=30), 2) == ["2026-11-26T18:58:00Z", "2026-11-26T18:59:00Z"]


def test_back_off_schedule_then_no_more_attempts():
    backoff = parse_backoff("600,1800,3600")
    assert next_attempt(1, backoff, NOW) == NOW + timedelta(minutes=10)
    assert next_attempt(2, backoff, NOW) == NOW + timedelta(minutes=30)
    assert next_attempt(3, backoff, NOW) == NOW + timedelta(hours=1)
    assert next_attempt(4, backoff, NOW) is None  # four attempts in all: failed for good


def test_default_back_off_and_look_back_come_from_settings():
    settings = Settings(scheduler_retry_backoff="60,120", scheduler_catch_up_days=5)
    daily = Job("d", lambda rt, p: None, daily_at=time(2, 0))
    interval = Job("i", lambda rt, p: None, every_seconds=60)
    assert daily.backoff(settings) == (60, 120) and daily.look_back(settings) == 5
    assert interval.backoff(settings) == (10, 20) and interval.look_back(settings) == 0
    assert Job("x", None, daily_at=time(2, 0), catch_up=1, retry_backoff=(5,)).look_back(settings) == 1


def test_only_periods_after_the_latest_run_are_caught_up():
    past = ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert missed_periods(past, "2026-11-24", "2026-11-27") == ["2026-11-25", "2026-11-26"]
    assert missed_periods(past, "2026-11-20", "2026-11-27") == past  # bounded by the look-back
    assert missed_periods(past, None, "2026-11-27") == []  # a job that never ran has nothing to catch up
    assert missed_periods(past, "2026-11-27", "2026-11-27") == []


@pytest.mark.parametrize("bad", [{"scheduler_retry_backoff": "10,x"}, {"scheduler_retry_backoff": "0"},
                                 {"scheduler_lease_seconds": 0}, {"scheduler_catch_up_days": -1},
                                 {"message_log_max_backlog": 0}])
def test_bad_scheduler_and_log_settings_are_refused(bad):
    with pytest.raises(SettingsError):
        Settings(**bad).check()
