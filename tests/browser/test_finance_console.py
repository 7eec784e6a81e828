"""The finance console in Debian's Chromium: finance01 signs in through Keycloak, opens a run and
resolves a discrepancy, finance02 approves it (the resolver cannot), the export downloads and
opens; clerk01 is refused."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from reconciliation import runs
from reconciliation.exports import FORMULA_PREFIXES
from reconciliation.payments import reconcile_payments
from reconciliation.scenarios import payment_rules, payment_scenario
from simulators.channels.serving import serve_in_thread
from store.models.reconciliation import ReconciliationDiscrepancy, ReconciliationRun, ReconciliationStep

PASSWORD = "Hefei-Demo-2026"  # demo staff of config/realm.py


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
def stored_run(db, unique):
    day = date(2003, 1, 1) + timedelta(days=int(unique[:6], 16) % 6000)
    scenario = payment_scenario(day, clean=50, per_category=2, seed=5)
    result = reconcile_payments(scenario.ledger, scenario.statement, day, payment_rules())
    with db.unit_of_work() as session:
        run = runs.store_run(session, result, started_by="test", import_shas=[unique * 6])
        run_id = run.id
    yield {"id": run_id, "day": day, "count": len(result.discrepancies)}
    with db.unit_of_work() as session:
        ids = select(ReconciliationRun.id).where(ReconciliationRun.business_date == day)
        disc = select(ReconciliationDiscrepancy.id).where(ReconciliationDiscrepancy.run_id.in_(ids))
        session.execute(delete(ReconciliationStep).where(ReconciliationStep.discrepancy_id.in_(disc)))
        session.execute(delete(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id.in_(ids)))
        session.execute(delete(ReconciliationRun).where(ReconciliationRun.business_date == day))


def _sign_in(page, username: str) -> None:
    """Keycloak's login: with organizations on, the username first, then the password."""
    page.fill("#username", username)
    if page.locator("#password").count() == 0:
        page.click("#kc-login")
    page.fill("#password", PASSWORD)
    page.click("#kc-login")


def _open_as(browser, url: str, username: str):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    _sign_in(page, username)
    page.wait_for_url(f"{url.split('?')[0]}*")
    return context, page


def test_resolve_approve_export_and_refusal(browser, console_url, stored_run):
    run_url = f"{console_url}/console/finance/runs/{stored_run['id']}"

    # finance01: the runs page after sign-in, then the run, then one LONG discrepancy
    first, page = _open_as(browser, f"{console_url}/console/finance/", "finance01")
    assert page.locator("#user").inner_text() == "finance01"
    assert page.locator("#amount-chart").count() == 1  # the inline SVG chart
    page.goto(f"{console_url}/console/finance/?lang=en")
    assert "Runs" in page.locator("h1").inner_text()
    page.goto(run_url + "?category=LONG")
    rows = page.locator("#discrepancies tbody tr")
    assert rows.count() == 2
    rows.first.locator("a.open-discrepancy").click()
    page.wait_for_selector("#confirm-form")
    discrepancy_url = page.url.split("?")[0]
    page.click("#confirm-form button")
    page.wait_for_selector("#resolve-form")
    page.select_option("#resolve-form select[name=reason_code]", "platform_late")
    page.fill("#resolve-form input[name=note]", "平台次日补单 <b>ok</b>")
    page.click("#resolve-form button")
    page.wait_for_selector("#approve-form")
    assert page.locator("#status").inner_text() == "resolved"
    assert page.locator("#own-resolution").count() == 1  # the resolver is told to find a second person
    assert page.locator("#approve-form button").is_disabled()
    assert "<b>ok</b>" in page.locator("#steps").inner_text()  # the note is shown as text, escaped
    first.close()

    # finance02 approves
    second, page = _open_as(browser, discrepancy_url, "finance02")
    assert page.locator("#status").inner_text() == "resolved"
    page.click("#approve-form button")
    page.wait_for_selector("#message")
    assert page.locator("#status").inner_text() == "approved"
    steps = page.locator("#steps tbody tr")
    assert [steps.nth(i).locator("td").nth(2).inner_text() for i in range(3)] == ["finance01", "finance01", "finance02"]

    # the export downloads and opens
    page.goto(run_url)
    with page.expect_download() as download_info:
        page.click("#export-xlsx")
    data = open(download_info.value.path(), "rb").read()
    book = load_workbook(io.BytesIO(data))
    sheet = book[book.sheetnames[-1]]
    values = list(sheet.iter_rows(min_row=3, values_only=True))
    assert len(values) == stored_run["count"]
    assert sum(1 for row in values if row[11] == "approved") == 1
    assert not any(isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for row in values for v in row)
    second.close()

    # a POST without the CSRF token is refused
    third = browser.new_context()
    page = third.new_page()
    answer = page.request.post(f"{discrepancy_url}/confirm", form={"note": "x"}, max_redirects=0)
    assert answer.status in (302, 400, 401)
    third.close()


def test_a_non_finance_user_is_refused(browser, console_url):
    context, page = _open_as(browser, f"{console_url}/console/finance/", "clerk01")
    page.wait_for_selector("#forbidden")
    response = page.goto(f"{console_url}/console/finance/")
    assert response.status == 403
    assert page.locator("#discrepancies").count() == 0
    context.close()
