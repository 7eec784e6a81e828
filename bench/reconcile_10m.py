"""Reconciliation at ten million rows a side (issue 18): bench/reconcile.py with BENCH_RECONCILE_ROWS=10000000.

Heavy (about 2 GiB of files in a temporary folder, minutes of both cores): `make bench` runs it
only when BENCH_RECONCILE_10M=1 (scripts/bench.sh), or by name: `scripts/bench.sh reconcile_10m`.
"""
import os
import runpy

if __name__ == "__main__":
    os.environ["BENCH_RECONCILE_ROWS"] = os.environ.get("BENCH_RECONCILE_10M_ROWS", "10000000")
    runpy.run_module("bench.reconcile", run_name="__main__")
