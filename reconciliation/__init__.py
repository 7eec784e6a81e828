"""Reconciliation (R7, DOMAIN.md section 5; DESIGN.md flow 6).

- :mod:`.records` the compact normalised records of every source (ledger payments, statement and
  channel-bill lines, shipments, courier bill lines);
- :mod:`.engine` the one matching engine: exact keys first, declared tolerance rules for what is
  left, ambiguity reported, never resolved at random;
- :mod:`.categories` the discrepancy categories and the deterministic result of a run;
- :mod:`.payments` ledger vs platform statement or channel bill (cut-off carry included);
- :mod:`.logistics` postage payments vs waybills vs courier bills, three ways;
- :mod:`.statement_stream` a streaming reader of the provincial daily statement for big files;
- :mod:`.runs` storing runs, discrepancies and their resolution (the only module here doing I/O).
"""
