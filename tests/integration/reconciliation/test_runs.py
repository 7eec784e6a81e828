"""Runs stored on PostgreSQL: exact findings, versions, carry and clear, four-eyes resolution."""
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select

from reconciliation import runs
from reconciliation.logistics import reconcile_logistics
from reconciliation.payments import reconcile_payments
from reconciliation.scenarios import logistics_scenario, payment_rules, payment_scenario
from store.models.reconciliation import ReconciliationDiscrepancy, ReconciliationRun, ReconciliationStep

RULES = payment_rules()


@pytest.fixture()
def day(recon_db, unique):
    """A business date of its own per test (runs are per date), cleaned up afterwards."""
    chosen = date(2000, 1, 1) + timedelta(days=int(unique[:6], 16) % 20000 * 2)
    yield chosen
    with recon_db.unit_of_work() as s:
        ids = select(ReconciliationRun.id).where(ReconciliationRun.business_date.in_([chosen, chosen + timedelta(1)]))
        disc = select(ReconciliationDiscrepancy.id).where(ReconciliationDiscrepancy.run_id.in_(ids))
        s.execute(delete(ReconciliationStep).where(ReconciliationStep.discrepancy_id.in_(disc)))
        s.execute(delete(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id.in_(ids)))
        s.execute(ReconciliationRun.__table__.update().where(ReconciliationRun.id.in_(ids)).values(supersedes_id=None))
        s.execute(delete(ReconciliationRun).where(ReconciliationRun.id.in_(ids)))


def _stored_counts(session, run_id):
    rows = session.execute(select(ReconciliationDiscrepancy.category, func.count()).where(
        ReconciliationDiscrepancy.run_id == run_id).group_by(ReconciliationDiscrepancy.category))
    return dict(sorted(rows.all()))


def test_a_generated_day_stores_exactly_the_generated_discrepancies(recon_db, day):
    s = payment_scenario(day, clean=2000, per_category=5, seed=1)
    result = reconcile_payments(s.ledger, s.statement, day, RULES)
    with recon_db.unit_of_work() as session:
        run = runs.store_run(session, result, started_by="test", import_shas=["a" * 64])
        run_id = run.id
    with recon_db.unit_of_work() as session:
        assert _stored_counts(session, run_id) == dict(sorted(s.expected.items()))
        stored = session.get(ReconciliationRun, run_id)
        assert (stored.version, stored.status, stored.content_hash) == (1, "current", result.content_hash)
        timing = session.scalars(select(ReconciliationDiscrepancy).where(
            ReconciliationDiscrepancy.run_id == run_id, ReconciliationDiscrepancy.category == "TIMING")).all()
        assert {d.status for d in timing} == {runs.CARRIED}
        assert timing[0].left_records or timing[0].right_records


def test_logistics_day_stores_every_subtype(recon_db, day):
    s = logistics_scenario(day, clean=500, per_category=3, seed=2)
    result = reconcile_logistics(s.postage, s.shipments, s.bill, day)
    with recon_db.unit_of_work() as session:
        run_id = runs.store_run(session, result, started_by="test").id
    with recon_db.unit_of_work() as session:
        assert session.get(ReconciliationRun, run_id).counts == dict(sorted(s.expected.items()))


def test_rerun_is_idempotent_and_a_late_file_supersedes(recon_db, day):
    s = payment_scenario(day, clean=200, per_category=2, seed=3)
    first = reconcile_payments(s.ledger, s.statement, day, RULES)
    with recon_db.unit_of_work() as session:
        v1 = runs.store_run(session, first, started_by="scheduler-a", import_shas=["x" * 64]).id
    with recon_db.unit_of_work() as session:  # a second scheduler, same inputs: the same run
        assert runs.store_run(session, first, started_by="scheduler-b", import_shas=["x" * 64]).id == v1
    late = reconcile_payments(s.ledger, s.statement[:-3], day, RULES)  # a corrected statement arrives
    with recon_db.unit_of_work() as session:
        v2 = runs.store_run(session, late, started_by="finance01", import_shas=["y" * 64])
        assert (v2.version, v2.supersedes_id) == (2, v1)
    with recon_db.unit_of_work() as session:
        all_runs = session.scalars(select(ReconciliationRun).where(
            ReconciliationRun.business_date == day).order_by(ReconciliationRun.version)).all()
        assert [(r.version, r.status) for r in all_runs] == [(1, "superseded"), (2, "current")]
        assert session.scalar(select(func.count()).where(ReconciliationDiscrepancy.run_id == v1)) > 0  # kept


def test_carried_items_are_cleared_by_the_next_days_run(recon_db, day):
    s = payment_scenario(day, clean=100, per_category=2, seed=4)
    with recon_db.unit_of_work() as session:
        runs.store_run(session, reconcile_payments(s.ledger, s.statement, day, RULES), started_by="test")
    nxt = day + timedelta(days=1)
    with recon_db.unit_of_work() as session:
        carried = runs.carried_into(session, "payments", nxt)
        assert len(carried) == s.expected["TIMING"]
        result = reconcile_payments(s.next_ledger, s.next_statement, nxt, RULES, carried=carried)
        assert len(result.cleared) == s.expected_cleared
        runs.store_run(session, result, started_by="test")
    with recon_db.unit_of_work() as session:
        previous = runs.current_run(session, "payments", day)
        statuses = session.scalars(select(ReconciliationDiscrepancy.status).where(
            ReconciliationDiscrepancy.run_id == previous.id, ReconciliationDiscrepancy.category == "TIMING")).all()
        assert set(statuses) == {runs.CLEARED}
        assert runs.carried_into(session, "payments", nxt) == []


def test_resolution_needs_a_second_person(recon_db, day):
    s = payment_scenario(day, clean=10, per_category=1, seed=5)
    with recon_db.unit_of_work() as session:
        run_id = runs.store_run(session, reconcile_payments(s.ledger, s.statement, day, RULES), started_by="t").id
        target = session.scalar(select(ReconciliationDiscrepancy.id).where(
            ReconciliationDiscrepancy.run_id == run_id, ReconciliationDiscrepancy.category == "SHORT"))
    with recon_db.unit_of_work() as session:
        with pytest.raises(runs.ResolutionError) as wrong:
            runs.resolve(session, target, "finance01", "platform_late", "not confirmed yet")
        assert wrong.value.code == "wrong_status"
    with recon_db.unit_of_work() as session:
        runs.confirm(session, target, "finance01")
        with pytest.raises(runs.ResolutionError) as unknown:
            runs.resolve(session, target, "finance01", "because", "note")
        assert unknown.value.code == "unknown_reason_code"
        runs.resolve(session, target, "finance01", "platform_late", "the platform lists it on the 16th")
    with recon_db.unit_of_work() as session:
        with pytest.raises(runs.ResolutionError) as own:
            runs.approve(session, target, "finance01")
        assert own.value.code == "four_eyes"
    with recon_db.unit_of_work() as session:
        runs.approve(session, target, "finance02", "checked against the 16th's statement")
    with recon_db.unit_of_work() as session:
        trail = [(st.action, st.actor, st.from_status, st.to_status) for st in runs.steps(session, target)]
        assert trail == [("confirm", "finance01", "open", "confirmed"),
                         ("resolve", "finance01", "confirmed", "resolved"),
                         ("approve", "finance02", "resolved", "approved")]
        assert session.get(ReconciliationDiscrepancy, target).status == runs.APPROVED


def test_imported_files_are_kept_unchanged_with_their_hash(recon_db, day):
    raw = b"\x00statement bytes \xff" + day.isoformat().encode()
    with recon_db.unit_of_work() as session:
        first = runs.import_file(session, source="nontax_statement", business_date=day, filename="s.csv",
                                 raw=raw, imported_by="scheduler")
        again = runs.import_file(session, source="nontax_statement", business_date=day, filename="s.csv",
                                 raw=raw, imported_by="scheduler")
        assert first.id == again.id
        first_id = first.id
    with recon_db.unit_of_work() as session:
        from store.models.reconciliation import ReconciliationImport

        row = session.get(ReconciliationImport, first_id)
        assert row.raw == raw and len(row.sha256) == 64
        session.delete(row)
