"""Issue 18, ten million lines a side: the raw statement (some 700 MiB) is let go once it is checked
and loaded, and the join gets DuckDB's memory that it held, from the process's budget."""
import sys

import pytest

from payment_bridge.errors import StatementError
from reconciliation import bulk
from reconciliation.bulk import JOIN_MEMORY_LIMIT, PROCESS_BUDGET_MIB, RawStatement, reconcile_payments_bulk
from reconciliation.records import KIND_PAID, PAID, LedgerPayment, StatementEntry
from reconciliation.scenarios import payment_rules, payment_scenario
from tests.support.ledger_rows import ledger_source
from tests.unit.reconciliation.test_bulk import DAY, statement_file


def _watch_prefilter(monkeypatch) -> dict:
    """What the session looked like when the join ran."""
    seen = {}
    prefilter = bulk._prefilter

    def watched(session, carried_codes):
        seen["memory_limit"] = session.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        seen["refs"] = sys.getrefcount(seen["raw"])
        return prefilter(session, carried_codes)

    monkeypatch.setattr(bulk, "_prefilter", watched)
    return seen


def test_the_raw_statement_is_not_held_while_the_join_runs(monkeypatch):
    scenario = payment_scenario(DAY, 300, 3, seed=7)
    raw, _ = statement_file(scenario.statement)
    seen = _watch_prefilter(monkeypatch)
    seen["raw"] = raw
    handed = RawStatement(raw)
    del raw
    run = reconcile_payments_bulk(ledger_source(scenario.ledger), handed, DAY, payment_rules(), threads=2)
    # seen["raw"] and getrefcount's own argument: nothing of the run (the handover, the checked
    # statement, a future's result) refers to the bytes any more
    assert seen["refs"] == 2
    assert handed.data is None
    assert run.result.counts() == dict(sorted(scenario.expected.items()))


def test_the_join_gets_the_memory_the_budget_leaves(monkeypatch):
    import duckdb

    seen = _watch_prefilter(monkeypatch)
    scenario = payment_scenario(DAY, 50, 1, seed=3)
    raw, _ = statement_file(scenario.statement)
    seen["raw"] = raw
    reconcile_payments_bulk(ledger_source(scenario.ledger), RawStatement(raw), DAY, payment_rules())
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{JOIN_MEMORY_LIMIT}'")
    assert seen["memory_limit"] == con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = '{bulk.BULK_MEMORY_LIMIT}'")
    loading = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert seen["memory_limit"] != loading  # more than while the raw statement was held
    assert JOIN_MEMORY_LIMIT.endswith("MiB") and int(JOIN_MEMORY_LIMIT[:-3]) < PROCESS_BUDGET_MIB


def test_bytes_are_still_taken_and_a_bad_handed_statement_is_refused():
    code = "34010024300000000001"
    raw, _ = statement_file([StatementEntry(code, "T1", 100, 0, KIND_PAID, 1710460800, 3)])
    run = reconcile_payments_bulk(ledger_source([LedgerPayment(code, "T1", 100, PAID, 1710460800)]), raw, DAY,
                                  payment_rules())
    assert run.clean_in_bulk == 1
    handed = RawStatement(raw.replace(b"T1", b"T 1"))
    with pytest.raises(StatementError, match="line 3"):
        reconcile_payments_bulk(ledger_source([]), handed, DAY, payment_rules())
    with pytest.raises(ValueError):  # handed over once
        reconcile_payments_bulk(ledger_source([]), handed, DAY, payment_rules())
