"""Runs and discrepancies page through by keyset (issue 18): following `next` reads every item once,
in order, whatever the list's length (it was capped at 100 runs and 500 discrepancies)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, insert

from store.models.reconciliation import ReconciliationDiscrepancy, ReconciliationRun
from tests.integration.payment.keycloak_login import login

PASSWORD = "Hefei-Demo-2026"  # the demo staff of config/realm.py demo_users()
DAYS = [date(2032, 2, d) for d in (3, 4, 5)]  # days no other test uses
PER_RUN = {DAYS[0]: 1234, DAYS[1]: 3, DAYS[2]: 0}


@pytest.fixture(scope="module")
def finance(settings):
    return {"Authorization": f"Bearer {login(settings, 'finance01', PASSWORD)}"}


@pytest.fixture(scope="module")
def seeded(recon_db):
    now = datetime.now(UTC)
    run_ids = []
    with recon_db.unit_of_work() as s:
        for day in DAYS:
            for kind, version, status in (("payments", 1, "superseded"), ("payments", 2, "current"),
                                          ("logistics", 1, "current")):
                run = ReconciliationRun(kind=kind, business_date=day, version=version, status=status, input_hash="0" * 64,
                                        content_hash="0" * 64, import_ids=[], matched_count=0, matched_amount_fen=0,
                                        discrepancy_count=0, unmatched_amount_fen=0, counts={}, cleared_count=0,
                                        started_by="test", started_at=now, finished_at=now)
                s.add(run)
                s.flush()
                run_ids.append(run.id)
                n = PER_RUN[day] if (kind, status) == ("payments", "current") else 0
                if n:
                    s.execute(insert(ReconciliationDiscrepancy), [
                        {"run_id": run.id, "seq": i + 1, "category": "LONG", "subtype": "x", "key": f"K{i:06d}",
                         "rule": "r", "left_amount_fen": 100, "right_amount_fen": None, "left_records": [],
                         "right_records": [], "fingerprint": f"{run.id}-{i}", "status": "open", "updated_at": now}
                        for i in range(n)])
    yield run_ids
    with recon_db.unit_of_work() as s:
        s.execute(delete(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id.in_(run_ids)))
        s.execute(delete(ReconciliationRun).where(ReconciliationRun.id.in_(run_ids)))


def _follow(client, headers, url):
    pages = []
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        pages.append(response.get_json())
        url = pages[-1]["next_url"]
    return pages


def test_discrepancies_page_through_by_keyset(client, finance, seeded):
    since, until = DAYS[0].isoformat(), DAYS[-1].isoformat()
    pages = _follow(client, finance, f"/api/v1/reconciliation/discrepancies?since={since}&until={until}&limit=500")
    assert [len(p["discrepancies"]) for p in pages] == [3, 500, 500, 234] or \
        [len(p["discrepancies"]) for p in pages] == [500, 500, 237]
    items = [d for p in pages for d in p["discrepancies"]]
    assert len(items) == 1237 and len({d["id"] for d in items}) == 1237 and all(p["total"] == 1237 for p in pages)
    # Newest day first, then by run and position: the order of the unpaged list.
    assert [(d["business_date"], d["seq"]) for d in items] == \
        [(DAYS[1].isoformat(), s) for s in (1, 2, 3)] + [(DAYS[0].isoformat(), s) for s in range(1, 1235)]
    assert pages[-1]["next"] is None
    bad = client.get("/api/v1/reconciliation/discrepancies?after=2032-02-04.1'--.3", headers=finance)
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_cursor"
    both = client.get(f"/api/v1/reconciliation/discrepancies?after={pages[0]['next']}&offset=5", headers=finance)
    assert both.status_code == 422 and both.get_json()["code"] == "invalid_paging"


def test_runs_page_through_by_keyset_every_version_once(client, finance, seeded):
    since, until = DAYS[0].isoformat(), DAYS[-1].isoformat()
    pages = _follow(client, finance, f"/api/v1/reconciliation/runs?since={since}&until={until}&all_versions=true&limit=2")
    runs = [r for p in pages for r in p["runs"]]
    assert [len(p["runs"]) for p in pages] == [2, 2, 2, 2, 1]
    assert sorted(r["id"] for r in runs) == sorted(seeded)
    assert [(r["business_date"], r["kind"], r["version"]) for r in runs] == \
        [(d.isoformat(), k, v) for d in reversed(DAYS) for k, v in (("logistics", 1), ("payments", 2), ("payments", 1))]
    current = _follow(client, finance, f"/api/v1/reconciliation/runs?since={since}&until={until}&limit=500")
    assert len(current) == 1 and len(current[0]["runs"]) == 6 and current[0]["next"] is None
