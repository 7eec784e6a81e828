#!/usr/bin/env bash
# `make run`: migrations, realm, then every govlink process in the foreground (honcho); Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOVLINK_LOG_JSON=${GOVLINK_LOG_JSON:-false}
export PATH="$PWD/.venv/bin:$PATH"

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

  Ctrl-C stops everything started here; \`make stop\` stops the services.

INFO
exec honcho start -f Procfile
