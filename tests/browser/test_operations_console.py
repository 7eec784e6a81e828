"""The operations console in Debian's Chromium (issue 20): operator01 signs in, sees every service
declared in config/connectors/, sees a message park while a simulator department is down, replays it
after recovery and finds the replay in the audit trail; a purge without a reason is refused; a
citizen and a finance user get the 403 page; the console speaks Chinese and English."""
from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import requests
import yaml

from bus.topology import service_queue
from connectors.circuit_report import CircuitReporter
from connectors.worker import connector_runners
from kernel.identifiers import make_resident_id
from store.models.bus import ServiceCall
from tests.conftest import client_credentials_token
from tests.support.gateway_server import keycloak_facing_gateway
from tests.support.queues import delete_queues, work_queue_names

GATEWAY = "http://127.0.0.1:8000"
CONSOLE = f"{GATEWAY}/console/operations"
SHIPPED = Path(__file__).resolve().parents[2] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"
DEMO_PASSWORD = "Hefei-Demo-2026"


def _sign_in_at_keycloak(page, username, password):
    page.fill("#username", username)
    if page.locator("#password").count() == 0:
        page.click("#kc-login")
    page.fill("#password", password)
    page.click("#kc-login")


@pytest.fixture(scope="module")
def stack(settings, db, simulators, tmp_path_factory):
    """The gateway on :8000 with the shipped declarations plus a fast-failing copy of population-registry,
    and a connector worker (with its circuit report) for that copy."""
    folder = tmp_path_factory.mktemp("ops-connectors")
    for path in SHIPPED.glob("*.yaml"):
        (folder / path.name).write_text(path.read_text())
    service = f"population-registry-br{uuid.uuid4().hex[:8]}"
    decl = yaml.safe_load((SHIPPED / "population-registry.yaml").read_text())
    decl.update(service=service, circuit_breaker={"failure_threshold": 3, "reset_timeout_seconds": 2},
                retry={"attempts": 2, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1})
    (folder / f"{service}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
    access = yaml.safe_load((SHIPPED.parent / "access.yaml").read_text())
    access["grants"].append({"clients": [CASE_SYSTEM], "service": service, "operations": ["*"]})
    access_file = folder.parent / f"access-{service}.yaml"
    access_file.write_text(yaml.safe_dump(access, allow_unicode=True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOVLINK_SIMULATORS_URL", simulators.base_url)
        test_settings = settings.replace(connectors_dir=str(folder), access_file=str(access_file), retry_tiers="1,1",
                                         circuit_heartbeat_seconds=0.5)
        from bootstrap.gateway import create_app

        worker = create_app(test_settings).extensions["govlink"]
        worker.connectors.get(service).check()  # its WSDL read while the department is up
        runners = [r.start() for r in connector_runners(worker, [service])]
        reporter = CircuitReporter(worker, worker_id=f"browser-{service}").start()
        with keycloak_facing_gateway(test_settings) as url:
            yield {"url": url, "service": service, "worker": worker, "settings": test_settings}
        reporter.stop()
        for r in runners:
            r.stop()
        worker.close()
    delete_queues(settings, work_queue_names(service_queue(service, (1, 1))))


def _operator_page(browser, lang="zh-CN"):
    context = browser.new_context(locale=lang)
    page = context.new_page()
    page.goto(f"{CONSOLE}/")
    _sign_in_at_keycloak(page, "operator01", DEMO_PASSWORD)
    page.wait_for_url(f"{CONSOLE}/**")
    return context, page


def _park_one(stack, simulators):
    simulators.control("population", mode="fail")
    token = client_credentials_token(stack["settings"], "case-system")
    r = requests.post(f"{GATEWAY}/api/v1/services/{stack['service']}/verify-identity", timeout=30,
                      json={"payload": {"name": "王晓明", "id_number": make_resident_id("340104", date(1988, 3, 9), 317)}},
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503, r.text
    return r.json()["details"]["call_id"]


def test_operator_sees_every_service_a_parked_message_replays_it_and_finds_it_audited(browser, stack, simulators):
    context, page = _operator_page(browser)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    for path in SHIPPED.glob("*.yaml"):  # every service declared in config/connectors/
        row = page.locator(f'tr.service[data-service="{path.stem}"]')
        assert row.count() == 1, path.stem
        assert row.get_attribute("data-kind") in ("soap", "rest")
    assert page.locator("#console-operations").get_attribute("aria-current") == "page"

    call_id = _park_one(stack, simulators)
    service = stack["service"]
    parked = page.locator(f'tr.parked[data-message-id="{call_id}"]')
    for _ in range(50):
        page.goto(f"{CONSOLE}/services/{service}/parked")
        if parked.count():
            break
        time.sleep(0.3)
    assert parked.count() == 1
    assert page.locator("#circuit-state").get_attribute("data-state") == "open"

    simulators.control("population", mode="normal")
    time.sleep(2.1)  # the circuit's reset timeout
    parked.locator("form.replay input[name=reason]").fill("部门系统已恢复")
    parked.locator("form.replay button").click()
    page.wait_for_url(f"{CONSOLE}/services/{service}/parked**")
    assert page.locator("#flash").count() == 1 and "1" in page.inner_text("#flash")
    for _ in range(100):
        with stack["worker"].db.unit_of_work() as s:
            if s.get(ServiceCall, call_id).status == "succeeded":
                break
        time.sleep(0.1)
    with stack["worker"].db.unit_of_work() as s:
        assert s.get(ServiceCall, call_id).status == "succeeded"

    page.click("#subnav-audit")
    page.wait_for_url(f"{CONSOLE}/audit**")
    entry = page.locator(f'tr.audit[data-action="dlq.replay"][data-target="{service}"]')
    assert entry.count() >= 1
    assert "operator01" in entry.first.inner_text() and "部门系统已恢复" in entry.first.inner_text()
    context.close()


def test_a_purge_without_a_reason_is_refused(browser, stack, simulators):
    call_id = _park_one(stack, simulators)
    simulators.control("population", mode="normal")
    context, page = _operator_page(browser)
    service = stack["service"]
    parked = page.locator(f'tr.parked[data-message-id="{call_id}"]')
    for _ in range(50):
        page.goto(f"{CONSOLE}/services/{service}/parked")
        if parked.count():
            break
        time.sleep(0.3)
    assert parked.count() == 1
    form = parked.locator("form.purge")
    form.locator("input[name=reason]").evaluate("el => el.removeAttribute('required')")  # past the browser's check
    with page.expect_navigation() as navigation:
        form.locator("button").click()
    assert navigation.value.status == 422
    assert page.locator("#error").get_attribute("data-code") == "reason_required"
    page.goto(f"{CONSOLE}/services/{service}/parked")
    assert parked.count() == 1  # nothing was removed
    context.close()


@pytest.mark.parametrize("who", ["citizen", "finance01"])
def test_a_citizen_and_a_finance_user_are_refused(browser, stack, citizen, who):
    username, password = (citizen["resident_id"], citizen["password"]) if who == "citizen" else ("finance01", DEMO_PASSWORD)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{CONSOLE}/")
    _sign_in_at_keycloak(page, username, password)
    page.wait_for_url(f"{CONSOLE}/**")
    assert "403" in page.content()
    response = page.goto(f"{CONSOLE}/audit")
    assert response.status == 403
    context.close()


def test_the_console_renders_in_chinese_and_in_english(browser, stack):
    context, page = _operator_page(browser)
    assert "部门服务" in page.inner_text("h1")
    for where in ("", "messages", "jobs", "alerts", "audit"):
        page.goto(f"{CONSOLE}/{where}")
        assert page.locator("html").get_attribute("lang") == "zh-CN", where
    page.goto(f"{CONSOLE}/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en" and "Department services" in page.inner_text("h1")
    for where in ("messages", "jobs", "alerts", "audit"):  # remembered
        page.goto(f"{CONSOLE}/{where}")
        assert page.locator("html").get_attribute("lang") == "en", where
        assert page.locator("#subnav-services").inner_text() == "Services"
    context.close()
