#!/usr/bin/env bash
# Installs what is missing and starts what is not running: PostgreSQL and RabbitMQ from Debian's
# packages, Keycloak from the keycloak-quarkus-dist zip on Maven Central (cached outside the
# checkout). Idempotent: with everything up it returns in seconds.
#   scripts/stack.sh up      install + start + wait until healthy (default)
#   scripts/stack.sh down    stop what this script started
#   scripts/stack.sh status  one line per service
#   scripts/stack.sh rabbitmq only the broker: loopback listeners and users
#   scripts/stack.sh browser Debian's Chromium for the browser tests
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/stack.env
. "$ROOT/scripts/stack.env"

log() { printf '\033[1;34m[stack]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[stack] error:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  if [ $apt_updated = 0 ]; then as_root apt-get update -q >/dev/null; apt_updated=1; fi
  # policy-rc.d keeps apt from trying to start services; this script starts them itself.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

wait_for() { # name, seconds, command...
  local name=$1 secs=$2; shift 2
  local i
  for ((i = 0; i < secs; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

# ---------------------------------------------------------------- PostgreSQL
pg_cluster() { pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1" "$2}'; }

postgres_up() {
  apt_install postgresql
  local cluster; cluster=$(pg_cluster)
  [ -n "$cluster" ] || die "no PostgreSQL cluster found after installing postgresql (pg_lsclusters is empty)"
  # shellcheck disable=SC2086
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    log "starting PostgreSQL ($cluster)"
    as_root pg_ctlcluster $cluster start || die "PostgreSQL did not start; see /var/log/postgresql/"
  fi
  wait_for postgres 60 pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL is not ready on port $PG_PORT after 60 s"
  # Role and databases for govlink, its tests and Keycloak.
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'\"" | grep -q 1 ||
    as_root su postgres -c "psql -qc \"CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD' CREATEDB\""
  local db
  for db in $PG_DATABASES; do
    as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 ||
      as_root su postgres -c "createdb -O $PG_USER $db"
  done
}

postgres_down() {
  local cluster; cluster=$(pg_cluster)
  # shellcheck disable=SC2086
  [ -n "$cluster" ] && pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && { log "stopping PostgreSQL"; as_root pg_ctlcluster $cluster stop; }
  return 0
}

# ---------------------------------------------------------------- RabbitMQ
rabbit_ping() { as_root rabbitmq-diagnostics -q check_running; }

rabbitmq_config() {
  # Loopback only: AMQP and management listeners, the Erlang distribution port and epmd.
  local conf=/etc/rabbitmq/rabbitmq.conf env=/etc/rabbitmq/rabbitmq-env.conf
  local want="# written by govlink scripts/stack.sh
listeners.tcp.default = $BIND_HOST:$RABBIT_PORT
management.tcp.ip = $BIND_HOST
management.tcp.port = 15672"
  if [ -s "$conf" ] && ! head -1 "$conf" | grep -q "govlink"; then
    log "keeping $conf (not govlink's): make it listen on $BIND_HOST yourself"
  elif [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" | as_root tee "$conf" >/dev/null; RABBIT_RESTART=1
  fi
  # epmd and the distribution port too, if the node's host name (rabbit@<host>) resolves to loopback:
  # the CLI tools reach the node through that name.
  local erl="SERVER_ADDITIONAL_ERL_ARGS=\"-kernel inet_dist_use_interface {${BIND_HOST//./,}}\" # govlink
export ERL_EPMD_ADDRESS=$BIND_HOST # govlink"
  if ! getent hosts "$(hostname -s)" | grep -qE '^(127\.|::1)'; then
    log "$(hostname -s) does not resolve to loopback: epmd and the Erlang distribution keep every interface"
    return 0
  fi
  RABBIT_EPMD_ADDRESS=$BIND_HOST
  if ! grep -q "# govlink" "$env" 2>/dev/null || [ "$(grep "# govlink" "$env")" != "$erl" ]; then
    { grep -v "# govlink" "$env" 2>/dev/null || true; printf '%s\n' "$erl"; } | as_root tee "$env.new" >/dev/null
    as_root mv "$env.new" "$env"; RABBIT_RESTART=1
  fi
}

rabbitmq_up() {
  apt_install rabbitmq-server
  RABBIT_RESTART=0 RABBIT_EPMD_ADDRESS=
  rabbitmq_config
  if [ "$RABBIT_RESTART" = 1 ] && rabbit_ping >/dev/null 2>&1; then
    log "restarting RabbitMQ to listen on $BIND_HOST only"
    as_root rabbitmqctl -q stop >/dev/null 2>&1 || true
    wait_for rabbitmq-stop 60 bash -c "! rabbitmq-diagnostics -q check_running" || true
  fi
  if [ "$RABBIT_RESTART" = 1 ]; then as_root epmd -kill >/dev/null 2>&1 || true; fi
  if ! rabbit_ping >/dev/null 2>&1; then
    log "starting RabbitMQ"
    as_root rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null
    as_root env ${RABBIT_EPMD_ADDRESS:+ERL_EPMD_ADDRESS=$RABBIT_EPMD_ADDRESS} rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  wait_for rabbitmq 90 rabbit_ping || die "RabbitMQ did not answer a ping within 90 s; see /var/log/rabbitmq/"
  rabbitmq_users
}

rabbitmq_users() {
  # The guest user may only connect from localhost. govlink's own user is not an administrator (its
  # rights are set_permissions per vhost); an admin user is kept for scripts and the management UI.
  local users; users=$(as_root rabbitmqctl -q list_users)
  echo "$users" | grep -q "^$RABBIT_USER\b" || {
    as_root rabbitmqctl -q add_user "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null
    as_root rabbitmqctl -q set_permissions -p / "$RABBIT_USER" ".*" ".*" ".*" >/dev/null
  }
  # shellcheck disable=SC2086  # no tags at all when RABBIT_USER_TAGS is empty
  as_root rabbitmqctl -q set_user_tags "$RABBIT_USER" $RABBIT_USER_TAGS >/dev/null
  echo "$users" | grep -q "^$RABBIT_ADMIN\b" || {
    as_root rabbitmqctl -q add_user "$RABBIT_ADMIN" "$RABBIT_ADMIN_PASSWORD" >/dev/null
    as_root rabbitmqctl -q set_permissions -p / "$RABBIT_ADMIN" ".*" ".*" ".*" >/dev/null
  }
  as_root rabbitmqctl -q set_user_tags "$RABBIT_ADMIN" administrator >/dev/null
}

rabbitmq_down() { rabbit_ping >/dev/null 2>&1 && { log "stopping RabbitMQ"; as_root rabbitmqctl -q stop; }; return 0; }

# ---------------------------------------------------------------- Keycloak
kc_ready() { curl -fsS "http://127.0.0.1:$KC_MGMT_PORT/health/ready" | grep -q '"UP"'; }

keycloak_install() {
  [ -x "$KC_HOME/bin/kc.sh" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  command -v unzip >/dev/null || apt_install unzip
  log "downloading Keycloak $KC_VERSION from Maven Central (cached in $GOVLINK_CACHE)"
  mkdir -p "$GOVLINK_CACHE"
  local zip="$GOVLINK_CACHE/keycloak-quarkus-dist-$KC_VERSION.zip"
  if [ ! -s "$zip" ]; then
    mvn -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip" \
      -DoutputDirectory="$GOVLINK_CACHE" || die "could not fetch keycloak-quarkus-dist $KC_VERSION from Maven Central"
  fi
  rm -rf "$KC_HOME.tmp" && mkdir -p "$KC_HOME.tmp"
  unzip -q "$zip" -d "$KC_HOME.tmp" && mv "$KC_HOME.tmp/keycloak-$KC_VERSION" "$KC_HOME" && rm -rf "$KC_HOME.tmp"
}

keycloak_providers() {
  # govlink's own Keycloak providers (identifier validators); rebuilt only when their sources change.
  local src="$ROOT/keycloak-providers"
  [ -f "$src/pom.xml" ] || return 0
  local stamp="$KC_HOME/providers/.govlink-src-hash" hash
  # Paths relative to the checkout: the same sources give the same stamp from any worktree.
  hash=$(cd "$src" && find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
    log "building govlink's Keycloak providers (Maven)"
    (cd "$src" && mvn -q -B -DskipTests package) || die "building keycloak-providers failed"
    rm -f "$KC_HOME"/providers/govlink-*.jar
    cp "$src"/target/govlink-keycloak-providers-*.jar "$KC_HOME/providers/"
    echo "$hash" >"$stamp"
    KC_RESTART=1
  fi
}

KC_OPTIONS_STAMP="$GOVLINK_CACHE/keycloak.options"
kc_options_hash() { echo "bind=$BIND_HOST port=$KC_PORT mgmt=$KC_MGMT_PORT features=$KC_FEATURES ciba=$KC_CIBA_CHANNEL_URI" | sha256sum | cut -c1-16; }

keycloak_up() {
  keycloak_install
  KC_RESTART=0
  keycloak_providers
  # Started with other options (e.g. before it listened on loopback only): restart with these.
  [ "$(cat "$KC_OPTIONS_STAMP" 2>/dev/null)" = "$(kc_options_hash)" ] || KC_RESTART=1
  if [ "$KC_RESTART" = 1 ] && [ -f "$KC_PIDFILE" ] && kill -0 "$(cat "$KC_PIDFILE")" 2>/dev/null; then
    log "restarting Keycloak (new providers or options)"; keycloak_down
  fi
  if ! kc_ready 2>/dev/null; then
    if ! { [ -f "$KC_PIDFILE" ] && kill -0 "$(cat "$KC_PIDFILE")" 2>/dev/null; }; then
      [ -d "$KC_JAVA_HOME" ] || die "Keycloak needs the JDK at $KC_JAVA_HOME (set GOVLINK_KC_JAVA_HOME)"
      log "starting Keycloak $KC_VERSION on :$KC_PORT (management :$KC_MGMT_PORT, log $KC_LOG)"
      mkdir -p "$(dirname "$KC_LOG")"
      echo "$(kc_options_hash)" >"$KC_OPTIONS_STAMP"
      JAVA_HOME="$KC_JAVA_HOME" KC_BOOTSTRAP_ADMIN_USERNAME="$KC_ADMIN" KC_BOOTSTRAP_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
        setsid nohup "$KC_HOME/bin/kc.sh" start-dev \
        --http-host "$BIND_HOST" --http-management-host "$BIND_HOST" \
        --http-port "$KC_PORT" --http-management-port "$KC_MGMT_PORT" --health-enabled true --metrics-enabled true \
        --db postgres --db-url "jdbc:postgresql://127.0.0.1:$PG_PORT/keycloak" \
        --db-username "$PG_USER" --db-password "$PG_PASSWORD" \
        --features "$KC_FEATURES" --spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri "$KC_CIBA_CHANNEL_URI" \
        >"$KC_LOG" 2>&1 </dev/null &
      echo $! >"$KC_PIDFILE"
    fi
    wait_for keycloak 240 kc_ready || { tail -n 30 "$KC_LOG" >&2; die "Keycloak was not ready within 240 s (log: $KC_LOG)"; }
  fi
}

keycloak_down() {
  if [ -f "$KC_PIDFILE" ]; then
    local pid; pid=$(cat "$KC_PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping Keycloak"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      wait_for keycloak-stop 60 bash -c "! kill -0 $pid" || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$KC_PIDFILE"
  fi
}

# ---------------------------------------------------------------- Chromium (browser tests)
chromium_install() {
  # Debian's Chromium, driven by Playwright's Python package in tests/browser (never a downloaded browser).
  [ -x /usr/bin/chromium ] && return 0
  apt_install chromium
}

status() {
  printf '%-10s %s\n' postgres "$(pg_isready -h 127.0.0.1 -p "$PG_PORT" 2>&1 || true)"
  printf '%-10s %s\n' rabbitmq "$(rabbit_ping >/dev/null 2>&1 && echo up || echo down)"
  printf '%-10s %s\n' keycloak "$(kc_ready 2>/dev/null && echo up || echo down)"
}

case "${1:-up}" in
  up)
    apt_install curl ca-certificates
    postgres_up; rabbitmq_up; keycloak_up
    log "services ready: PostgreSQL :$PG_PORT, RabbitMQ :$RABBIT_PORT (management :15672), Keycloak :$KC_PORT" ;;
  rabbitmq) rabbitmq_up ;;  # only the broker (listeners, users), e.g. after changing stack.env
  browser) chromium_install ;;  # only the test suite needs it (make test)
  bench-tools) apt_install wrk ;;  # the HTTP load generator of bench/auth.py (make bench)
  down) keycloak_down; rabbitmq_down; postgres_down ;;
  status) status ;;
  *) die "usage: $0 up|down|status|rabbitmq|browser|bench-tools" ;;
esac
