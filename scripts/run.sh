#!/usr/bin/env bash
# `make run`: its own database on the PostgreSQL of `make services` (created if missing), migrations,
# realm, then every govlink process in the foreground (honcho) and, once they are ready, the demo seed
# (GOVLINK_DEMO_SEED; on in dev). Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/stack.env
. scripts/stack.env
export GOVLINK_LOG_JSON=${GOVLINK_LOG_JSON:-false}
export GOVLINK_DATABASE_URL=${GOVLINK_DATABASE_URL:-postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/${GOVLINK_DEV_DATABASE:-govlink_dev}}
export PATH="$PWD/.venv/bin:$PATH"

govlink db create --wait 30 || exit 1
govlink preflight --wait 30 || exit 1
govlink db upgrade >/dev/null
govlink realm apply
govlink realm demo-users

cat <<INFO

  govlink is starting. Open:
    API docs (Swagger UI)  http://127.0.0.1:8000/api/docs
    OpenAPI document       http://127.0.0.1:8000/api/openapi.json
    Readiness              http://127.0.0.1:8000/readyz
    Metrics                http://127.0.0.1:8000/metrics
    Keycloak (realm hefei) http://127.0.0.1:8080/realms/hefei/account   (admin console: /admin, admin / admin)
    RabbitMQ management    http://127.0.0.1:15672                      (govlink / govlink)
  Demo account (citizen):  $(govlink realm demo-users --show)
  Consoles (finance01 / supervisor01, same password)  http://127.0.0.1:8000/console/finance/  /supervision/
  Database               $(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$GOVLINK_DATABASE_URL")

  Ctrl-C stops everything started here; \`make stop\` stops the services.

INFO
# The demo seed waits for the processes below, drives a day of traffic through them and says
# "demo seed: done" (or why it failed: the system keeps running either way).
(govlink demo seed --auto --wait-ready 180 || echo "demo seed: failed (see above); the system runs without it") &
exec honcho start -f Procfile
