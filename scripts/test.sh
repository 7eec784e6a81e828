#!/usr/bin/env bash
# `make test`: after `make services`, prepare the realm and run the whole suite against the real
# PostgreSQL, RabbitMQ and Keycloak. Extra arguments go to pytest (e.g. `scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export GOVLINK_ENV=test
export GOVLINK_DATABASE_URL=${GOVLINK_TEST_DATABASE_URL:-postgresql://govlink:govlink@127.0.0.1:5432/govlink_test}
export GOVLINK_LOG_JSON=${GOVLINK_LOG_JSON:-true}
mkdir -p var/test-logs
export GOVLINK_TEST_LOG_DIR="$PWD/var/test-logs"

bash scripts/stack.sh browser
govlink realm apply >/dev/null
govlink realm demo-users >/dev/null
govlink preflight --wait 60
govlink db upgrade >/dev/null

python -m pytest "${@:-tests}"
