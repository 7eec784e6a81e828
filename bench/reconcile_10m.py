"""Reconciliation at ten million rows a side (issue 18): bench/reconcile.py with BENCH_RECONCILE_ROWS=10000000.

Heavy (minutes of both cores, some 6 GiB for the generator and 2 GiB of temporary files); leave it
out of `make bench` with BENCH_SKIP=reconcile_10m.
"""
import os

if __name__ == "__main__":
    os.environ["BENCH_RECONCILE_ROWS"] = os.environ.get("BENCH_RECONCILE_10M_ROWS", "10000000")
    from bench import reconcile  # reads BENCH_RECONCILE_ROWS on import (so do its spawned children)

    reconcile.main()
