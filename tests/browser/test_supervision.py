"""The supervision page in Debian's Chromium: a supervisor signs in on Keycloak, opens the open
warnings, follows one to the case's timeline and sees the statistics charts; a citizen is refused."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from bus.topology import declare, service_queue
from supervision.check import run_check
from supervision.deadlines import FixedClock
from tests.conftest import client_credentials_token
from tests.support.queues import delete_queues, work_queue_names

GATEWAY = "http://127.0.0.1:8000"
SHIPPED = Path(__file__).resolve().parents[2] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"
DEMO_PASSWORD = "Hefei-Demo-2026"


def _sign_in_at_keycloak(page, username, password):
    """Keycloak's login: with organizations on, the username first, then the password."""
    page.fill("#username", username)
    if page.locator("#password").count() == 0:
        page.click("#kc-login")
    page.fill("#password", password)
    page.click("#kc-login")


@pytest.fixture()
def overdue_case(settings, db, tmp_path):
    """A case whose department call nobody answers, checked 31 s later: one open warning."""
    from bootstrap.gateway import create_app

    held = f"e-licence-br{uuid.uuid4().hex[:8]}"
    decl = yaml.safe_load((SHIPPED / "e-licence.yaml").read_text())
    decl["service"] = held
    (tmp_path / f"{held}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
    access = tmp_path.parent / f"access-{held}.yaml"
    access.write_text(yaml.safe_dump({"grants": [{"clients": [CASE_SYSTEM], "service": held, "operations": ["*"]}]}))
    app = create_app(settings.replace(connectors_dir=str(tmp_path), access_file=str(access)))
    runtime = app.extensions["govlink"]
    queue = service_queue(held, settings.retry_tier_seconds)
    declare(settings.amqp_url, [queue])
    case_id = f"CASE-BR-{uuid.uuid4().hex[:10]}"
    token = client_credentials_token(settings, "case-system")
    r = app.test_client().post(f"/api/v1/services/{held}/list-licences", json={"payload": {"holder_id": "x"}, "case_id": case_id},
                               headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"})
    assert r.status_code == 202, r.get_json()
    assert runtime.message_log.flush(15)
    report = run_check(runtime, clock=FixedClock(datetime.now(timezone.utc) + timedelta(seconds=31)), services=(held,))
    assert report.warnings == 1, report
    yield case_id, held
    runtime.close()
    delete_queues(settings, work_queue_names(queue))


def test_supervisor_follows_a_warning_to_the_timeline_and_sees_the_charts(browser, gateway, overdue_case):
    case_id, held = overdue_case
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{GATEWAY}/console/supervision/?service={held}")
    assert "/realms/hefei/" in page.url  # signed out: Keycloak's login page
    _sign_in_at_keycloak(page, "supervisor01", DEMO_PASSWORD)
    page.wait_for_url(f"{GATEWAY}/console/supervision/**")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "未处理的预警" in page.inner_text("#warnings")  # Simplified Chinese by default
    row = page.locator(f'tr.warning-row[data-case-id="{case_id}"]')
    assert row.count() == 1 and row.get_attribute("data-level") == "warning"

    row.locator("a.case-link").click()
    page.wait_for_url(f"{GATEWAY}/console/supervision/cases/{case_id}")
    assert page.inner_text("#case-id") == case_id
    call = page.locator('#timeline tr.entry[data-type="service.call"]')
    assert call.count() == 1 and held in call.inner_text()
    assert call.locator(".deadline.warned").count() == 1
    assert page.locator('#timeline tr.entry[data-type="supervision.warning"]').count() == 1

    page.goto(f"{GATEWAY}/console/supervision/?service={held}")  # its charts: unfiltered, a used database's
    charts = page.locator("#charts figure.chart")           # other held systems can fill the 20 bars
    assert charts.count() == 2
    assert page.locator("#charts svg rect").count() >= 1  # at least the overdue rate of the held system
    assert page.locator(f'#charts svg title:text-is("{held}: 100%")').count() == 1

    page.goto(f"{GATEWAY}/console/supervision/?lang=en")
    assert "Open warnings" in page.inner_text("#warnings") and page.locator("html").get_attribute("lang") == "en"
    context.close()


def test_a_citizen_is_refused(browser, gateway, citizen):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{GATEWAY}/console/supervision/")
    _sign_in_at_keycloak(page, citizen["resident_id"], citizen["password"])
    page.wait_for_url(f"{GATEWAY}/console/supervision/**")
    assert page.locator("#forbidden").count() == 1 and "403" in page.inner_text("#forbidden")
    response = page.goto(f"{GATEWAY}/console/supervision/cases/CASE-ANY")
    assert response.status == 403
    context.close()
