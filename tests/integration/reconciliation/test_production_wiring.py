"""The real wiring on PostgreSQL and Keycloak: the ledger read from the payment tables, the
`govlink reconcile` command, the API with the `finance` role and four eyes, the exports."""
from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from payment_bridge.statements import StatementLine, write_nontax_statement
from reconciliation.exports import FORMULA_PREFIXES
from reconciliation.records import from_epoch
from reconciliation.scenarios import OUR_DIVISION, payment_scenario
from store.models.payment import PaymentConfirmation, PaymentNotice, PaymentRefund, PaymentStatement
from tests.support.payment_ledger import seed_payment_ledger
from store.models.reconciliation import (ReconciliationDiscrepancy, ReconciliationImport, ReconciliationRun,
                                         ReconciliationStep)
from tests.integration.payment.keycloak_login import login

PASSWORD = "Hefei-Demo-2026"  # the demo staff of config/realm.py demo_users()


def _remap(scenario, unique: str):
    """Codes and transaction numbers of this test alone (payment codes are unique in the table)."""
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
def seeded_day(recon_db, unique):
    """A business day of its own: notices, payments and refunds in the payment tables, the
    platform's statement imported; every row removed afterwards."""
    day = date(2001, 1, 1) + timedelta(days=int(unique[:6], 16) % 7000)
    scenario = payment_scenario(day, clean=300, per_category=3, seed=11)
    ledger, statement = _remap(scenario, unique)
    created = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=7)  # early on the Beijing day
    with recon_db.unit_of_work() as s:
        notices = seed_payment_ledger(s, ledger, created)
        raw = write_nontax_statement(day, OUR_DIVISION, [
            StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind, from_epoch(e.at), 0)
            for e in statement])
        s.add(PaymentStatement(platform="nontax", statement_date=day, sha256=uuid.uuid4().hex * 2, raw=raw,
                               line_count=len(statement)))
    yield {"day": day, "raw": raw, "expected": dict(sorted(scenario.expected.items()))}
    with recon_db.unit_of_work() as s:
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


def test_the_cli_reconciles_a_day_of_the_payment_tables(seeded_day, tmp_path):
    from click.testing import CliRunner

    from bootstrap.cli import main

    path = tmp_path / "statement.csv"
    path.write_bytes(seeded_day["raw"])
    args = ["reconcile", "payments", "--date", seeded_day["day"].isoformat(), "--statement", str(path),
            "--workers", "2", "--json"]
    answer = CliRunner().invoke(main, args, catch_exceptions=False)
    assert answer.exit_code == 0, answer.output
    summary = json.loads(answer.output.strip().splitlines()[-1])
    assert summary["counts"] == seeded_day["expected"]
    assert summary["version"] == 1 and not summary["superseded"]
    again = json.loads(CliRunner().invoke(main, args).output.strip().splitlines()[-1])
    assert (again["run_id"], again["version"]) == (summary["run_id"], 1)  # identical re-run: the same run

    out = tmp_path / "run.xlsx"
    exported = CliRunner().invoke(main, ["reconcile", "export", str(summary["run_id"]), "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    sheet = load_workbook(out)["差异"]
    assert sheet.max_row == 2 + sum(seeded_day["expected"].values())  # title, header, one row each


def test_the_cli_names_a_missing_statement(recon_db):
    from click.testing import CliRunner

    from bootstrap.cli import main

    answer = CliRunner().invoke(main, ["reconcile", "payments", "--date", "1999-01-02"])
    assert answer.exit_code != 0 and "statement_missing" in answer.output


@pytest.fixture(scope="module")
def tokens(settings):
    return {name: login(settings, name, PASSWORD) for name in ("finance01", "finance02", "clerk01")}


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_api_runs_resolution_with_four_eyes_and_exports(client, seeded_day, tokens):
    day = seeded_day["day"].isoformat()
    assert client.get("/api/v1/reconciliation/runs", headers=_bearer(tokens["clerk01"])).status_code == 403
    assert client.get("/api/v1/reconciliation/runs").status_code == 401

    started = client.post("/api/v1/reconciliation/runs", json={"kind": "payments", "business_date": day},
                          headers=_bearer(tokens["finance01"]))
    assert started.status_code == 201, started.get_json()
    run = started.get_json()
    assert run["counts"] == seeded_day["expected"] and run["finished_at"].endswith("+08:00")

    listed = client.get(f"/api/v1/reconciliation/runs?since={day}&until={day}", headers=_bearer(tokens["finance02"]))
    assert [r["id"] for r in listed.get_json()["runs"]] == [run["id"]]

    page = client.get(f"/api/v1/reconciliation/discrepancies?run_id={run['id']}&category=LONG",
                      headers=_bearer(tokens["finance01"])).get_json()
    assert page["total"] == seeded_day["expected"]["LONG"]
    target = page["discrepancies"][0]["id"]
    detail = client.get(f"/api/v1/reconciliation/discrepancies/{target}", headers=_bearer(tokens["finance01"])).get_json()
    assert detail["right_records"] and not detail["left_records"]

    def act(user, action, body=None):
        return client.post(f"/api/v1/reconciliation/discrepancies/{target}/{action}", json=body or {},
                           headers=_bearer(tokens[user]))

    assert act("finance01", "resolve", {"reason_code": "platform_late", "note": "x"}).status_code == 409  # not confirmed
    assert act("finance01", "confirm").status_code == 200
    assert act("finance01", "resolve", {"reason_code": "not_a_code", "note": "x"}).status_code == 422
    assert act("finance01", "resolve", {"reason_code": "platform_late", "note": "平台次日补单"}).status_code == 200
    refused = act("finance01", "approve")
    assert refused.status_code == 403 and refused.get_json()["code"] == "four_eyes"
    assert act("clerk01", "approve").status_code == 403
    approved = act("finance02", "approve", {"note": "复核通过"})
    assert approved.status_code == 200
    body = approved.get_json()
    assert body["status"] == "approved"
    assert [(s["action"], s["actor"]) for s in body["steps"]] == [
        ("confirm", "finance01"), ("resolve", "finance01"), ("approve", "finance02")]

    xlsx = client.get(f"/api/v1/reconciliation/runs/{run['id']}/export?format=xlsx&lang=en",
                      headers=_bearer(tokens["finance02"]))
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.data))["Discrepancies"]
    statuses = [row[11] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert statuses.count("approved") == 1 and len(statuses) == run["discrepancy_count"]
    for cells in sheet.iter_rows():
        for cell in cells:
            assert cell.data_type != "f"
            assert not (isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES))

    open_csv = client.get(f"/api/v1/reconciliation/runs/{run['id']}/export?format=csv&open_only=true",
                          headers=_bearer(tokens["finance01"]))
    lines = open_csv.data.decode("utf-8-sig").strip().splitlines()
    carried = seeded_day["expected"]["TIMING"]  # carried items still need someone: they count as open
    assert len(lines) == 1 + run["discrepancy_count"] - 1
    assert carried > 0


def test_the_daily_job_reconciles_yesterday_of_both_kinds(app, seeded_day):
    from bootstrap.table import process_table
    from reconciliation.scheduled import daily_job

    job = process_table().jobs["reconcile.daily"]
    assert job.daily_at.hour == 2  # 02:00 Beijing time
    outcome = daily_job(app.extensions["govlink"], (seeded_day["day"] + timedelta(days=1)).isoformat())
    assert f"payments {seeded_day['day']}" in outcome and f"logistics {seeded_day['day']}" in outcome
    with app.extensions["govlink"].db.unit_of_work() as s:
        kinds = {run.kind: run for run in s.scalars(select(ReconciliationRun).where(
            ReconciliationRun.business_date == seeded_day["day"], ReconciliationRun.status == "current"))}
        assert kinds["payments"].counts == seeded_day["expected"] and kinds["payments"].started_by == "scheduler"
        assert kinds["logistics"].discrepancy_count == 0  # no legs, no bill lines that day


def test_a_ledger_database_that_refuses_is_a_503_to_retry_and_nothing_is_stored(client, seeded_day, tokens,
                                                                               monkeypatch):
    """PostgreSQL refuses DuckDB's attachment (here: a wrong password, a real refusal): the caller is
    told to retry, with no password in the answer, and no run is stored for the day."""
    from reconciliation import ledger, service

    def refused(engine, sql, params=None):
        found = ledger.postgres_ledger(engine, sql, params)
        return ledger.PostgresLedger(found.url.set(password="not-the-password"), found.query)

    monkeypatch.setattr(service, "postgres_ledger", refused)
    answer = client.post("/api/v1/reconciliation/runs", json={"kind": "payments", "business_date": seeded_day["day"].isoformat()},
                         headers=_bearer(tokens["finance01"]))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.get_json()["code"] == "database_unavailable" and "not-the-password" not in answer.get_data(as_text=True)
    listed = client.get(f"/api/v1/reconciliation/runs?since={seeded_day['day']}&until={seeded_day['day']}",
                        headers=_bearer(tokens["finance01"])).get_json()
    assert listed["runs"] == []
