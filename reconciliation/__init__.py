"""Reconciliation (R7, DOMAIN.md section 5; DESIGN.md flow 6).

- :mod:`.records` the compact normalised records of every source (ledger payments, statement and
  channel-bill lines, shipments, courier bill lines);
- :mod:`.engine` the one matching engine: exact keys first, declared tolerance rules for what is
  left, ambiguity reported, never resolved at random;
- :mod:`.categories` the discrepancy categories and the deterministic result of a run;
- :mod:`.payments` ledger vs platform statement or channel bill (cut-off carry included);
- :mod:`.logistics` postage payments vs waybills vs courier bills, three ways;
- :mod:`.bulk` a day's payment reconciliation at a million rows: DuckDB counts the clean pairs,
  the engine gets the rest (:mod:`.duck` its private DuckDB, :mod:`.statement_table` the provincial
  daily statement checked and loaded there);
- :mod:`.runs` storing runs, discrepancies and their resolution;
- :mod:`.ledger` our side of a day read from the payment and logistics tables;
- :mod:`.service` one day's run from the real tables (what the CLI, API and scheduler call);
- :mod:`.scheduled` the daily job (02:00 Beijing), :mod:`.cli` ``govlink reconcile``;
- :mod:`.queries` and :mod:`.exports` the read side: runs, discrepancies, CSV / XLSX.
"""
