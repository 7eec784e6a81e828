#!/usr/bin/env bash
# `make bench`: every benchmark in bench/ (each prints RESULT lines with a ratio against a
# baseline measured in the same run). Name some to run only those: scripts/bench.sh bus auth
# The city benches (bench/city.py, then bench/city_reads.py on its data) run at BENCH_CITY_SCALE
# (default 0.1 = 100,000 cases; 1.0 = the whole city): BENCH_CITY_SCALE=1 scripts/bench.sh city city_reads
# Issue 18's other lines: city_audit (audit verify), poll_tick, reconcile_10m (ten million rows a side:
# minutes and ~2 GiB of temporary files), service_call (gateway on a free port, worker, simulators),
# supervision_ingest (the supervision check reading the message log, on a database of its own).
# BENCH_SKIP="reconcile_10m service_call" leaves some out.
# The benches write to a database of their own, govlink_bench (GOVLINK_BENCH_DATABASE_URL; `make services`
# creates it), never the tests' govlink_test: a bench's department calls leave message-log records that the
# supervision check of a later test run would otherwise have to read first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export GOVLINK_ENV=test
export GOVLINK_DATABASE_URL=${GOVLINK_BENCH_DATABASE_URL:-postgresql://govlink:govlink@127.0.0.1:5432/govlink_bench}
export GOVLINK_LOG_LEVEL=${GOVLINK_LOG_LEVEL:-WARNING}
bash scripts/stack.sh bench-tools
govlink realm apply >/dev/null
govlink db upgrade >/dev/null
if [ $# -gt 0 ]; then names=("$@"); else
  names=(); for f in bench/*.py; do n=$(basename "$f" .py); case $n in __init__|baseline_*|_*) ;; *) names+=("$n");; esac; done
fi
status=0
for name in "${names[@]}"; do
  case " ${BENCH_SKIP:-} " in *" $name "*) echo "== bench/$name.py skipped (BENCH_SKIP)"; continue;; esac
  echo "== bench/$name.py"
  python -m "bench.$name" || { echo "bench/$name.py failed"; status=1; }
done
exit $status
