"""The console family in Debian's Chromium (issue 20): finance and supervision share one layout,
one navigation and one catalogue; they render in Chinese and in English (by ?lang= and by
Accept-Language); a person with both roles moves between them on one sign-in; finance01 uploads
a platform statement, runs the day as a background job, watches it finish and opens a discrepancy."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from payment_bridge.statements import StatementLine, write_nontax_statement
from reconciliation.records import from_epoch
from reconciliation.scenarios import OUR_DIVISION, payment_scenario
from simulators.channels.serving import serve_in_thread
from store.models.payment import PaymentConfirmation, PaymentNotice, PaymentRefund, PaymentStatement
from store.models.reconciliation import (ReconciliationDiscrepancy, ReconciliationImport, ReconciliationJob,
                                         ReconciliationRun, ReconciliationStep)
from tests.support.keycloak_users import People
from tests.support.payment_ledger import seed_payment_ledger

DEMO_PASSWORD = "Hefei-Demo-2026"  # demo staff of config/realm.py
PASSWORD = "Hefei-Test-2026x"


@pytest.fixture(scope="module")
def console_url(settings, db):
    """The gateway on a free loopback port (the staff-console client accepts any port there)."""
    from bootstrap.gateway import create_app

    app = create_app(settings)
    url, stop = serve_in_thread(app, "127.0.0.1", 0)
    yield url
    stop()
    app.extensions["govlink"].close()


@pytest.fixture()
def two_roles(settings):
    """A person with the finance and the supervisor role (a test user in the test realm)."""
    with People(settings, PASSWORD) as people:
        yield people.create("双", "角色", roles=("finance", "supervisor"))


def _sign_in(page, username: str, password: str) -> None:
    """Keycloak's login: with organizations on, the username first, then the password."""
    page.fill("#username", username)
    if page.locator("#password").count() == 0:
        page.click("#kc-login")
    page.fill("#password", password)
    page.click("#kc-login")


def _open_as(browser, url: str, username: str, password: str = DEMO_PASSWORD, **context_args):
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.goto(url)
    _sign_in(page, username, password)
    page.wait_for_url(f"{url.split('?')[0]}*")
    return context, page


def test_one_sign_in_opens_both_consoles_in_either_language(browser, console_url, two_roles):
    person = two_roles
    context, page = _open_as(browser, f"{console_url}/console/finance/", person["resident_id"], person["password"],
                             locale="zh-CN")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "对账批次"  # Chinese by default
    assert page.locator("#console-finance").get_attribute("aria-current") == "page"
    page.click("#console-supervision")  # the shared navigation: no second sign-in
    page.wait_for_url(f"{console_url}/console/supervision/")
    assert "/realms/" not in page.url
    assert "未处理的预警" in page.inner_text("#warnings")
    assert page.locator("#console-supervision").get_attribute("aria-current") == "page"
    assert page.locator("nav.subnav").count() == 1

    page.click("#switch-language")  # ?lang=en, remembered for every console
    assert "Open warnings" in page.inner_text("#warnings")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("#console-finance")
    page.wait_for_url(f"{console_url}/console/finance/")
    assert page.locator("h1").inner_text() == "Runs"
    assert page.locator("nav.subnav").inner_text().startswith("Runs")

    page.goto(f"{console_url}/supervision/?lang=zh")  # the old address still leads there
    assert page.url.startswith(f"{console_url}/console/supervision/")
    assert "未处理的预警" in page.inner_text("#warnings")
    context.close()

    # Accept-Language alone (no ?lang=): English in both consoles
    context, page = _open_as(browser, f"{console_url}/console/supervision/", person["resident_id"],
                             person["password"], locale="en-US")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Open warnings" in page.inner_text("#warnings")
    page.goto(f"{console_url}/console/finance/")
    assert page.locator("h1").inner_text() == "Runs"
    assert page.locator("#switch-language").inner_text() == "中文"
    context.close()


def test_the_403_page_is_the_shared_layout_in_the_browser_language(browser, console_url):
    context, page = _open_as(browser, f"{console_url}/console/supervision/", "finance01", locale="en-US")
    assert page.locator("#forbidden").count() == 1
    assert "Forbidden" in page.inner_text("#forbidden")
    assert page.locator("#console-finance").count() == 1  # the consoles this person may open
    assert page.locator("#console-supervision").count() == 0
    response = page.goto(f"{console_url}/console/supervision/?lang=zh")
    assert response.status == 403 and "无权访问" in page.inner_text("#forbidden")
    context.close()


def _remap(scenario, unique: str):
    """Payment codes and transaction numbers of this test alone (payment codes are unique)."""
    base = int(uuid.UUID(int=int(unique, 16)).int % 10**6) * 10**4
    codes: dict[str, str] = {}

    def code(old: str) -> str:
        if old not in codes:
            codes[old] = f"{old[:10]}{base + len(codes):010d}"
        return codes[old]

    ledger = [p._replace(payment_code=code(p.payment_code),
                         transaction_id=f"{unique}{p.transaction_id}"[:64] if p.transaction_id else "")
              for p in scenario.ledger]
    statement = [e._replace(reference=code(e.reference), transaction_id=f"{unique}{e.transaction_id}"[:64])
                 for e in scenario.statement]
    return ledger, statement


@pytest.fixture()
def statement_day(db, unique, tmp_path):
    """A business day of its own: the payment tables seeded, the platform's statement as a file to upload."""
    day = date(2002, 1, 1) + timedelta(days=int(unique[:6], 16) % 6000)
    scenario = payment_scenario(day, clean=30, per_category=1, seed=7)
    ledger, statement = _remap(scenario, unique)
    created = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=7)
    with db.unit_of_work() as s:
        notices = seed_payment_ledger(s, ledger, created)
    raw = write_nontax_statement(day, OUR_DIVISION, [
        StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind, from_epoch(e.at), 0)
        for e in statement])
    good = tmp_path / f"nontax-{day:%Y%m%d}.csv"
    good.write_bytes(raw)
    bad = tmp_path / "not-a-statement.csv"
    bad.write_bytes(raw.replace(f"{day:%Y%m%d}".encode(), b"2002XXXX", 1))  # a broken title line
    yield {"day": day, "good": good, "bad": bad, "expected": sum(scenario.expected.values())}
    with db.unit_of_work() as s:
        s.execute(delete(ReconciliationJob).where(ReconciliationJob.business_date == day))
        ids = select(ReconciliationRun.id).where(ReconciliationRun.business_date == day)
        disc = select(ReconciliationDiscrepancy.id).where(ReconciliationDiscrepancy.run_id.in_(ids))
        s.execute(delete(ReconciliationStep).where(ReconciliationStep.discrepancy_id.in_(disc)))
        s.execute(delete(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id.in_(ids)))
        s.execute(ReconciliationRun.__table__.update().where(ReconciliationRun.id.in_(ids)).values(supersedes_id=None))
        s.execute(delete(ReconciliationRun).where(ReconciliationRun.business_date == day))
        s.execute(delete(ReconciliationImport).where(ReconciliationImport.business_date == day))
        s.execute(delete(PaymentStatement).where(PaymentStatement.statement_date == day))
        ids = list(notices.values())
        s.execute(delete(PaymentConfirmation).where(PaymentConfirmation.notice_id.in_(ids)))
        s.execute(delete(PaymentRefund).where(PaymentRefund.notice_id.in_(ids)))
        s.execute(delete(PaymentNotice).where(PaymentNotice.id.in_(ids)))


def _wait_for_job(page, timeout_s: float = 90) -> str:
    """The job page refreshes itself (meta refresh) until the job is done or failed."""
    page.wait_for_selector('#job-state[data-state="done"], #job-state[data-state="failed"]',
                           timeout=timeout_s * 1000)
    return page.locator("#job-state").get_attribute("data-state")


def test_finance_uploads_a_statement_runs_the_day_and_opens_a_discrepancy(browser, console_url, statement_day):
    day = statement_day["day"].isoformat()
    context, page = _open_as(browser, f"{console_url}/console/finance/reconcile", "finance01", locale="zh-CN")
    assert page.locator("#subnav-reconcile").get_attribute("aria-current") == "page"

    # a run before the statement is there: the job fails and says why
    page.select_option("#run-form select[name=kind]", "payments")
    page.fill("#run-form input[name=business_date]", day)
    page.click("#run-form button[type=submit]")
    page.wait_for_url(f"{console_url}/console/finance/jobs/*")
    assert _wait_for_job(page) == "failed"
    assert "statement_missing" in page.inner_text("#job-error")

    # a bad file: a clear error on the page, the chosen day kept, nothing imported
    page.goto(f"{console_url}/console/finance/reconcile")
    page.select_option("#upload-form select[name=source]", "nontax_statement")
    page.fill("#upload-form input[name=business_date]", day)
    page.set_input_files("#upload-form input[type=file]", str(statement_day["bad"]))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-error")
    assert "line 1" in page.inner_text("#upload-error")
    assert page.input_value("#upload-form input[name=business_date]") == day
    assert page.locator("#imports tr[data-import-id]").count() == 0 or \
        day not in page.inner_text("#imports")

    # the good file
    page.set_input_files("#upload-form input[type=file]", str(statement_day["good"]))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-message")
    assert day in page.inner_text("#imports")

    # run the day: a background job with its state and progress, refreshed without scripts from a CDN
    page.select_option("#run-form select[name=kind]", "payments")
    page.fill("#run-form input[name=business_date]", day)
    page.click("#run-form button[type=submit]")
    page.wait_for_url(f"{console_url}/console/finance/jobs/*")
    assert page.locator("#job-state").get_attribute("data-state") in ("queued", "running", "done")
    assert page.locator("#job-progress").count() == 1
    assert page.locator("script[src]").count() == 0
    assert _wait_for_job(page) == "done", page.inner_text("main")

    page.click("#open-run")
    page.wait_for_selector("#run-summary")
    rows = page.locator("#discrepancies tbody tr")
    assert rows.count() == statement_day["expected"]
    rows.first.locator("a.open-discrepancy").click()
    page.wait_for_selector("#confirm-form")
    assert page.locator("#status").inner_text() == "open"

    # re-run the day from the job page: a new job, the same run (identical inputs)
    page.goto(f"{console_url}/console/finance/reconcile")
    page.locator("#jobs tr[data-state=done] form.rerun button").first.click()
    page.wait_for_url(f"{console_url}/console/finance/jobs/*")
    assert _wait_for_job(page) == "done"
    context.close()


def test_a_post_without_csrf_is_refused(browser, console_url):
    context, page = _open_as(browser, f"{console_url}/console/finance/reconcile", "finance01")
    answer = page.request.post(f"{console_url}/console/finance/reconcile/jobs",
                               form={"kind": "payments", "business_date": "2002-01-01"}, max_redirects=0)
    assert answer.status == 400
    context.close()
