"""Issue 18: `govlink reconcile payments` (a file given, or the statement stored for the day) hands
the statement's bytes over to the bulk path, so that they are freed before DuckDB's join (some
740 MB at ten million lines, which the join's memory limit is raised by)."""
import json
import sys

import pytest

from reconciliation import bulk
from tests.integration.reconciliation.test_production_wiring import seeded_day  # noqa: F401 (a fixture)


def _watch(monkeypatch) -> dict:
    """The bytes the run took, and how many references they had while the join ran."""
    seen = {}
    take, prefilter = bulk.RawStatement.take, bulk._prefilter

    def taking(self):
        seen["raw"] = take(self)
        return seen["raw"]

    def watched(session, carried_codes):
        seen["refs"] = sys.getrefcount(seen["raw"])
        return prefilter(session, carried_codes)

    monkeypatch.setattr(bulk.RawStatement, "take", taking)
    monkeypatch.setattr(bulk, "_prefilter", watched)
    return seen


@pytest.mark.parametrize("given_file", [True, False])
def test_no_one_holds_the_statement_while_the_join_runs(seeded_day, tmp_path, monkeypatch,  # noqa: F811
                                                        given_file):
    from click.testing import CliRunner

    from bootstrap.cli import main

    args = ["reconcile", "payments", "--date", seeded_day["day"].isoformat(), "--workers", "2", "--json"]
    if given_file:
        path = tmp_path / "statement.csv"
        path.write_bytes(seeded_day["raw"])
        args += ["--statement", str(path)]
    seen = _watch(monkeypatch)
    answer = CliRunner().invoke(main, args, catch_exceptions=False)
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output.strip().splitlines()[-1])["counts"] == seeded_day["expected"]
    assert seen["refs"] == 2  # seen["raw"] and getrefcount's argument: the CLI and the service let go
