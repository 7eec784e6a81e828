#!/usr/bin/env bash
# The production topology on one machine (issue 22, docs/deployment.md), from Debian's packages and
# the Keycloak of scripts/stack.sh. Idempotent: what runs is left alone, what is missing is started.
#   scripts/cluster.sh up        everything (RabbitMQ, etcd + Patroni, HAProxy, Keycloak, govlink)
#   scripts/cluster.sh rabbitmq  only the three RabbitMQ nodes
#   scripts/cluster.sh down      stop everything this script started (never the single-node stack)
#   scripts/cluster.sh status    one line per process
#   scripts/cluster.sh env       the GOVLINK_* settings that point a process at the cluster
# Every process runs in its own process group with its pid in $CLUSTER_DIR/pids/<name>.pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/stack.env
. "$ROOT/scripts/stack.env"
# shellcheck source=scripts/cluster.env
. "$ROOT/scripts/cluster.env"

log() { printf '\033[1;35m[cluster]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[cluster] error:\033[0m %s\n' "$*" >&2; exit 1; }
case "${1:-up}" in env | govlink-env | haproxy-config | patroni-config) ;;  # print only
  *) [ "$(id -u)" = 0 ] || die "run as root (the PostgreSQL members run as the postgres user)" ;; esac

nth() { local n=$1; shift; set -- $*; eval "echo \${$n}"; }  # nth 2 "a b c" -> b
wait_for() { local secs=$1 i; shift; for ((i = 0; i < secs; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; return 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's units would start a default etcd / haproxy on boot: the cluster starts its own.
  systemctl disable --now etcd haproxy patroni >/dev/null 2>&1 || true
}

PIDS="$CLUSTER_DIR/pids"
alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
spawn() { # name, user, command... : a process group of its own, output to $CLUSTER_DIR/log/<name>.log
  local name=$1 user=$2; shift 2
  mkdir -p "$PIDS" "$CLUSTER_DIR/log"
  if [ "$user" = root ]; then
    setsid "$@" >>"$CLUSTER_DIR/log/$name.log" 2>&1 </dev/null &
  else
    setsid runuser -u "$user" -- "$@" >>"$CLUSTER_DIR/log/$name.log" 2>&1 </dev/null &
  fi
  echo $! >"$PIDS/$name.pid"
}
stop_proc() { # name: SIGTERM the group, SIGKILL after 30 s
  local name=$1 pid
  [ -f "$PIDS/$name.pid" ] || return 0
  pid=$(cat "$PIDS/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    wait_for 30 bash -c "! kill -0 $pid" || kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}

# ---------------------------------------------------------------- RabbitMQ (three nodes)
rabbit_node() { echo "${RABBIT_NODE_PREFIX}$1@localhost"; }
rabbit_env() { # node: the environment of that node and of the CLI talking to it
  local n=$1 dir="$CLUSTER_DIR/rabbitmq/$1" i
  i=$(echo $RABBIT_NODES | tr ' ' '\n' | grep -nx "$n" | cut -d: -f1)
  echo HOME="$CLUSTER_DIR/rabbitmq" RABBITMQ_NODENAME="$(rabbit_node "$n")" \
    RABBITMQ_NODE_IP_ADDRESS="$BIND_HOST" RABBITMQ_NODE_PORT="$(nth "$i" "$RABBIT_AMQP_PORTS")" \
    RABBITMQ_DIST_PORT="$(nth "$i" "$RABBIT_DIST_PORTS")" RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="'-kernel inet_dist_use_interface {${BIND_HOST//./,}}'"
}
rctl() { local n=$1; shift; eval env "$(rabbit_env "$n")" /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$(rabbit_node "$n")" '"$@"'; }
rabbit_running() { rctl "$1" await_startup --timeout 2 >/dev/null 2>&1; }

rabbit_start() {
  local n=$1 dir="$CLUSTER_DIR/rabbitmq/$1" i port
  i=$(echo $RABBIT_NODES | tr ' ' '\n' | grep -nx "$n" | cut -d: -f1); port=$(nth "$i" "$RABBIT_AMQP_PORTS")
  rabbit_running "$n" && return 0
  alive "rabbit-$n" && return 0  # started, still waiting for its peers
  mkdir -p "$dir/mnesia" "$dir/log"
  echo "[]." >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  # pause_minority: a node cut off from the other two stops serving rather than diverging.
  printf '%s\n' "# written by govlink scripts/cluster.sh" "listeners.tcp.default = $BIND_HOST:$port" \
    "cluster_partition_handling = pause_minority" "vm_memory_high_watermark.absolute = 512MiB" >"$dir/rabbitmq.conf"
  log "starting RabbitMQ $(rabbit_node "$n") on :$port"
  eval spawn "rabbit-$n" root env "$(rabbit_env "$n")" /usr/lib/rabbitmq/bin/rabbitmq-server
}
rabbit_wait() { # a node of a stopped cluster waits for its peers: start them all, then wait
  local n=$1 deadline=$((SECONDS + 300))
  until rabbit_running "$n"; do
    ((SECONDS < deadline)) || { tail -20 "$CLUSTER_DIR/log/rabbit-$n.log" >&2; die "RabbitMQ $n did not start within 300 s"; }
    sleep 1
  done
}

rabbitmq_up() {
  apt_install rabbitmq-server
  mkdir -p "$CLUSTER_DIR/rabbitmq"
  # One Erlang cookie for the three nodes and their CLI (HOME=$CLUSTER_DIR/rabbitmq).
  [ -s "$CLUSTER_DIR/rabbitmq/.erlang.cookie" ] || { head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9 >"$CLUSTER_DIR/rabbitmq/.erlang.cookie"; }
  chmod 400 "$CLUSTER_DIR/rabbitmq/.erlang.cookie"
  local first n; first=$(nth 1 "$RABBIT_NODES")
  for n in $RABBIT_NODES; do rabbit_start "$n"; done
  for n in $RABBIT_NODES; do rabbit_wait "$n"; done
  for n in $RABBIT_NODES; do
    [ "$n" = "$first" ] && continue
    if ! rctl "$first" cluster_status --formatter json | grep -q "\"$(rabbit_node "$n")\""; then
      log "joining $(rabbit_node "$n") to $(rabbit_node "$first")"
      { rctl "$n" stop_app && rctl "$n" reset && rctl "$n" join_cluster "$(rabbit_node "$first")" && rctl "$n" start_app; } >/dev/null 2>&1 || die "$(rabbit_node "$n") could not join the cluster"
    fi
  done
  rctl "$first" list_users | grep -q "^$RABBIT_CLUSTER_USER\b" || {
    rctl "$first" add_user "$RABBIT_CLUSTER_USER" "$RABBIT_CLUSTER_PASSWORD" >/dev/null
    rctl "$first" set_permissions -p / "$RABBIT_CLUSTER_USER" ".*" ".*" ".*" >/dev/null
  }
  local running; running=$(rctl "$first" cluster_status --formatter json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))')
  [ "$running" = 3 ] || die "the RabbitMQ cluster has $running running nodes, not 3"
}

rabbitmq_down() {
  local n
  for n in $RABBIT_NODES; do
    if rabbit_running "$n"; then log "stopping $(rabbit_node "$n")"; rctl "$n" stop >/dev/null 2>&1 || true; fi
    stop_proc "rabbit-$n"
  done
}

# ---------------------------------------------------------------- etcd (three members)
etcd_cluster() { local i=1 m out=""; for m in $ETCD_MEMBERS; do out+="${out:+,}$m=http://$BIND_HOST:$(nth $i "$ETCD_PEER_PORTS")"; i=$((i + 1)); done; echo "$out"; }
etcd_endpoints() { local p out=""; for p in $ETCD_CLIENT_PORTS; do out+="${out:+,}$BIND_HOST:$p"; done; echo "$out"; }
etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" endpoint health >/dev/null 2>&1; }

etcd_up() {
  apt_install etcd-server etcd-client
  local i=1 m dir state
  for m in $ETCD_MEMBERS; do
    dir="$CLUSTER_DIR/etcd/$m"
    if ! alive "etcd-$m"; then
      state=new; [ -d "$dir/member" ] && state=existing
      mkdir -p "$dir"
      log "starting etcd $m on :$(nth $i "$ETCD_CLIENT_PORTS")"
      spawn "etcd-$m" root etcd --name "$m" --data-dir "$dir" \
        --listen-client-urls "http://$BIND_HOST:$(nth $i "$ETCD_CLIENT_PORTS")" \
        --advertise-client-urls "http://$BIND_HOST:$(nth $i "$ETCD_CLIENT_PORTS")" \
        --listen-peer-urls "http://$BIND_HOST:$(nth $i "$ETCD_PEER_PORTS")" \
        --initial-advertise-peer-urls "http://$BIND_HOST:$(nth $i "$ETCD_PEER_PORTS")" \
        --initial-cluster "$(etcd_cluster)" --initial-cluster-state "$state" --initial-cluster-token govlink-cluster \
        --heartbeat-interval 200 --election-timeout 2000 --quota-backend-bytes 268435456
    fi
    i=$((i + 1))
  done
  wait_for 60 etcd_healthy || { tail -20 "$CLUSTER_DIR"/log/etcd-*.log >&2; die "etcd is not healthy"; }
}

# ---------------------------------------------------------------- PostgreSQL under Patroni (two members)
PG_SUPERPASS=${GOVLINK_CLUSTER_PG_SUPERPASS:-govlink-super}
patroni_config() { # member index -> yaml
  local i=$1 m dir port rest peers
  m=$(nth "$i" "$PG_MEMBERS"); dir="$CLUSTER_DIR/postgres/$m"
  port=$(nth "$i" "$PG_CLUSTER_PORTS"); rest=$(nth "$i" "$PATRONI_REST_PORTS")
  cat <<YAML
# written by govlink scripts/cluster.sh
scope: govlink
namespace: /govlink-cluster/
name: $m
log: {level: WARNING}
restapi: {listen: "$BIND_HOST:$rest", connect_address: "$BIND_HOST:$rest"}
etcd3: {hosts: "$(etcd_endpoints)"}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true  # a commit returns once the standby has it: only that standby is promoted
    postgresql:
      use_pg_rewind: true
      parameters: {wal_level: replica, hot_standby: "on", wal_log_hints: "on", max_connections: 200,
                   max_wal_senders: 10, max_replication_slots: 10, shared_buffers: 128MB}
  initdb: [{encoding: UTF8}, {locale: C.UTF-8}]
postgresql:
  listen: "$BIND_HOST:$port"
  connect_address: "$BIND_HOST:$port"
  data_dir: $dir/data
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: $dir/pgpass
  authentication:
    superuser: {username: postgres, password: "$PG_SUPERPASS"}
    replication: {username: replicator, password: "$PG_SUPERPASS-rep"}
    rewind: {username: rewinder, password: "$PG_SUPERPASS-rew"}
  parameters: {unix_socket_directories: "$dir"}
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
YAML
}
patroni_leader_port() { # the PostgreSQL port of the member Patroni says leads (nothing if none)
  local i=1 rest
  for rest in $PATRONI_REST_PORTS; do
    curl -fsS -o /dev/null "http://$BIND_HOST:$rest/primary" 2>/dev/null && { nth $i "$PG_CLUSTER_PORTS"; return 0; }
    i=$((i + 1))
  done
  return 1
}
pg_sync_ok() { # the leader has a synchronous standby streaming
  local port; port=$(patroni_leader_port) || return 1
  PGPASSWORD=$PG_SUPERPASS psql -h "$BIND_HOST" -p "$port" -U postgres -qtAc \
    "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'" postgres | grep -qx 1
}

patroni_up() {
  apt_install patroni postgresql-15 curl
  local i=1 m dir
  for m in $PG_MEMBERS; do
    dir="$CLUSTER_DIR/postgres/$m"
    mkdir -p "$dir" && chown postgres:postgres "$dir" && chmod 700 "$dir"
    patroni_config "$i" >"$dir/patroni.yml.new"
    cmp -s "$dir/patroni.yml.new" "$dir/patroni.yml" || mv "$dir/patroni.yml.new" "$dir/patroni.yml"
    rm -f "$dir/patroni.yml.new"; chown postgres:postgres "$dir/patroni.yml"
    if ! alive "patroni-$m"; then
      log "starting Patroni $m (PostgreSQL :$(nth $i "$PG_CLUSTER_PORTS"), REST :$(nth $i "$PATRONI_REST_PORTS"))"
      spawn "patroni-$m" postgres patroni "$dir/patroni.yml"
    fi
    i=$((i + 1))
  done
  wait_for 120 patroni_leader_port || { tail -20 "$CLUSTER_DIR"/log/patroni-*.log >&2; die "Patroni elected no leader"; }
  wait_for 180 pg_sync_ok || { tail -20 "$CLUSTER_DIR"/log/patroni-*.log >&2; die "no synchronous standby streams to the leader"; }
  local port sql db; port=$(patroni_leader_port)
  sql() { PGPASSWORD=$PG_SUPERPASS psql -h "$BIND_HOST" -p "$port" -U postgres -qtAc "$1" postgres; }
  sql "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'" | grep -q 1 || sql "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD' CREATEDB"
  for db in govlink keycloak; do
    sql "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 || sql "CREATE DATABASE $db OWNER $PG_USER"
  done
}

patroni_down() {
  local m data
  for m in $PG_MEMBERS; do
    stop_proc "patroni-$m"
    # Patroni runs PostgreSQL in a session of its own: stop a postmaster it left behind.
    data="$CLUSTER_DIR/postgres/$m/data"
    if [ -f "$data/postmaster.pid" ] && kill -0 "$(head -1 "$data/postmaster.pid")" 2>/dev/null; then
      log "stopping PostgreSQL $m"
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
  done
}
etcd_down() { local m; for m in $ETCD_MEMBERS; do stop_proc "etcd-$m"; done; }

database_url() { # libpq's multi-host form: the member that takes writes
  local hosts="" p
  for p in $PG_CLUSTER_PORTS; do hosts+="${hosts:+,}$BIND_HOST:$p"; done
  echo "postgresql://$PG_USER:$PG_PASSWORD@$hosts/govlink?target_session_attrs=read-write"
}

# ---------------------------------------------------------------- HAProxy
haproxy_config() {
  local i out
  cat <<CFG
# written by govlink scripts/cluster.sh
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  retries 3
  option redispatch
listen postgres-leader  # writes go to the member Patroni's REST API calls the primary
  bind $BIND_HOST:$HAPROXY_PG_PORT
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
CFG
  i=1; for m in $PG_MEMBERS; do
    echo "  server $m $BIND_HOST:$(nth $i "$PG_CLUSTER_PORTS") check port $(nth $i "$PATRONI_REST_PORTS")"; i=$((i + 1)); done
  cat <<CFG
frontend keycloak
  mode http
  bind $BIND_HOST:$HAPROXY_KC_PORT
  timeout client 60s
  option forwardfor
  # When the JGroups coordinator dies, the survivor reports itself unready (Keycloak's cluster health
  # check) until the dead node's JGROUPS_PING row is stale, up to 60 s: with no ready node, send to
  # the nodes that are alive instead of answering 503 (docs/deployment.md).
  use_backend keycloak-live if { nbsrv(keycloak) lt 1 }
  default_backend keycloak
CFG
  local backend check
  for backend in keycloak:ready keycloak-live:live; do
    check=${backend#*:}
    cat <<CFG
backend ${backend%:*}
  mode http
  balance roundrobin
  timeout server 60s
  option httpchk GET /health/$check
  http-check expect status 200
  option redispatch 1  # a retry goes to the other node
  retry-on conn-failure empty-response  # a node killed before it answered: the other node answers
  default-server inter 1s fall 2 rise 2
CFG
    i=1; for m in $KC_CLUSTER_NODES; do
      echo "  server $m $BIND_HOST:$(nth $i "$KC_CLUSTER_PORTS") check port $(nth $i "$KC_CLUSTER_MGMT_PORTS")"; i=$((i + 1)); done
  done
  cat <<CFG
listen gateway
  mode http
  bind $BIND_HOST:$HAPROXY_GATEWAY_PORT
  balance roundrobin
  timeout client 60s
  timeout server 60s
  option httpchk GET /healthz
  http-check expect status 200
  retry-on conn-failure  # never empty-response: a POST the dead gateway took must not be sent twice
  default-server inter 1s fall 2 rise 2
CFG
  i=1; for p in $GATEWAY_PORTS; do echo "  server gw$i $BIND_HOST:$p check"; i=$((i + 1)); done
  cat <<CFG
listen stats
  mode http
  bind $BIND_HOST:$HAPROXY_STATS_PORT
  stats enable
  stats uri /
CFG
}

haproxy_up() {
  apt_install haproxy
  mkdir -p "$CLUSTER_DIR/haproxy"
  local cfg="$CLUSTER_DIR/haproxy/haproxy.cfg"
  haproxy_config >"$cfg.new"
  haproxy -c -q -f "$cfg.new" || die "the generated HAProxy configuration is invalid ($cfg.new)"
  if ! cmp -s "$cfg.new" "$cfg"; then mv "$cfg.new" "$cfg"; stop_proc haproxy; else rm -f "$cfg.new"; fi
  alive haproxy || { log "starting HAProxy (PostgreSQL :$HAPROXY_PG_PORT, Keycloak :$HAPROXY_KC_PORT, gateways :$HAPROXY_GATEWAY_PORT)"; spawn haproxy root haproxy -db -f "$cfg"; }
  wait_for 20 port_open "$HAPROXY_PG_PORT" || die "HAProxy did not start"
}

# ---------------------------------------------------------------- Keycloak (two nodes, production mode)
KC_CLUSTER_HOME="$CLUSTER_DIR/keycloak-dist"
kc_node_ready() { curl -fsS "http://$BIND_HOST:$1/health/ready" 2>/dev/null | grep -q '"UP"'; }
kc_build_options() {  # --cache, --cache-stack are read at start (given there too); kept here for the stamp
  echo --db postgres --health-enabled true --metrics-enabled true --features "$KC_FEATURES" --cache ispn --cache-stack jdbc-ping
}

keycloak_cluster_up() {
  # A copy of the single-node stack's Keycloak (with govlink's providers), built for production once:
  # the shared one keeps running start-dev from its own directory.
  [ -x "$KC_HOME/bin/kc.sh" ] || bash "$ROOT/scripts/stack.sh" up >/dev/null
  # The providers' sources by content (not by path: any checkout of the same sources is the same build).
  local stamp; stamp="$(kc_build_options) $(cd "$ROOT/keycloak-providers" 2>/dev/null && find pom.xml src -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
  if [ "$(cat "$KC_CLUSTER_HOME/.govlink-build" 2>/dev/null)" != "$stamp" ]; then
    local n; for n in $KC_CLUSTER_NODES; do stop_proc "keycloak-$n"; done
    log "building Keycloak for production in $KC_CLUSTER_HOME"
    rm -rf "$KC_CLUSTER_HOME" && cp -a "$KC_HOME" "$KC_CLUSTER_HOME"
    # shellcheck disable=SC2046
    JAVA_HOME="$KC_JAVA_HOME" "$KC_CLUSTER_HOME/bin/kc.sh" build $(kc_build_options) >"$CLUSTER_DIR/log/keycloak-build.log" 2>&1 ||
      { tail -20 "$CLUSTER_DIR/log/keycloak-build.log" >&2; die "kc.sh build failed"; }
    echo "$stamp" >"$KC_CLUSTER_HOME/.govlink-build"
  fi
  local i=1 n
  for n in $KC_CLUSTER_NODES; do
    if ! alive "keycloak-$n"; then
      log "starting Keycloak $n on :$(nth $i "$KC_CLUSTER_PORTS") (management :$(nth $i "$KC_CLUSTER_MGMT_PORTS"), JGroups :$(nth $i "$KC_CLUSTER_JGROUPS_PORTS"))"
      spawn "keycloak-$n" root env JAVA_HOME="$KC_JAVA_HOME" JAVA_OPTS_KC_HEAP="$KC_CLUSTER_HEAP" \
        JAVA_OPTS_APPEND="-Djgroups.bind.address=$BIND_HOST -Djgroups.bind.port=$(nth $i "$KC_CLUSTER_JGROUPS_PORTS")" \
        KC_BOOTSTRAP_ADMIN_USERNAME="$KC_ADMIN" KC_BOOTSTRAP_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
        "$KC_CLUSTER_HOME/bin/kc.sh" start --optimized --cache ispn --cache-stack jdbc-ping \
        --hostname "http://$BIND_HOST:$HAPROXY_KC_PORT" --http-enabled true --proxy-headers xforwarded \
        --http-host "$BIND_HOST" --http-port "$(nth $i "$KC_CLUSTER_PORTS")" \
        --http-management-host "$BIND_HOST" --http-management-port "$(nth $i "$KC_CLUSTER_MGMT_PORTS")" \
        --db-url "jdbc:postgresql://$BIND_HOST:$HAPROXY_PG_PORT/keycloak" --db-username "$PG_USER" --db-password "$PG_PASSWORD" \
        --spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri "http://$BIND_HOST:$HAPROXY_GATEWAY_PORT/idp/ciba/auth-channel"
      # One at a time: the first creates the schema, the second joins its cache cluster.
      wait_for 300 kc_node_ready "$(nth $i "$KC_CLUSTER_MGMT_PORTS")" ||
        { tail -30 "$CLUSTER_DIR/log/keycloak-$n.log" >&2; die "Keycloak $n was not ready within 300 s"; }
    fi
    i=$((i + 1))
  done
}
keycloak_cluster_down() { local n; for n in $KC_CLUSTER_NODES; do stop_proc "keycloak-$n"; done; }

# ---------------------------------------------------------------- govlink (two of each process)
govlink_env() { # the settings of the cluster's govlink processes (dev secrets: a local rehearsal)
  cluster_env
  echo "GOVLINK_REALM=hefei"
  echo "GOVLINK_PUBLIC_BASE_URL=http://$BIND_HOST:$HAPROXY_GATEWAY_PORT"
  echo "GOVLINK_SIMULATORS_URL=http://$BIND_HOST:$CLUSTER_SIM_PORT"
  echo "GOVLINK_MESSAGE_LOG_SPOOL_DIR=$CLUSTER_DIR/govlink/message-log-spool"
  echo "GOVLINK_LOG_JSON=true"
  echo "GOVLINK_WEB_WORKERS=1"
}
gw_ready() { curl -fsS "http://$BIND_HOST:$1/healthz" >/dev/null 2>&1; }

govlink_up() {
  local bin="$ROOT/.venv/bin"
  [ -x "$bin/govlink" ] || die "no $bin/govlink: run make venv (make cluster does)"
  mkdir -p "$CLUSTER_DIR/govlink/message-log-spool"
  cd "$ROOT"
  local -a envs; mapfile -t envs < <(govlink_env)
  if ! alive simulators; then
    spawn simulators root env "${envs[@]}" "$bin/python" -m simulators --bind "$BIND_HOST:$CLUSTER_SIM_PORT"
  fi
  env "${envs[@]}" "$bin/govlink" db upgrade >/dev/null 2>&1 || die "govlink db upgrade failed against the cluster's database"
  env "${envs[@]}" "$bin/govlink" realm apply >/dev/null 2>&1 || die "govlink realm apply failed against the cluster's Keycloak"
  env "${envs[@]}" "$bin/govlink" realm demo-users >/dev/null 2>&1
  local i=1 p n
  for p in $GATEWAY_PORTS; do
    alive "gateway-$i" || { log "starting gateway $i on :$p"
      spawn "gateway-$i" root env "${envs[@]}" PROMETHEUS_MULTIPROC_DIR="$CLUSTER_DIR/govlink/metrics-$i" \
        "$bin/gunicorn" -c config/gunicorn.py --bind "$BIND_HOST:$p" bootstrap.wsgi:app; }
    i=$((i + 1))
  done
  for ((n = 1; n <= CONNECTOR_WORKERS; n++)); do
    alive "worker-$n" || { log "starting connector worker $n"; spawn "worker-$n" root env "${envs[@]}" \
      GOVLINK_METRICS_PORT_WORKER_CONNECTORS=$((9210 + n)) "$bin/govlink" worker connectors; }
  done
  for ((n = 1; n <= SCHEDULERS; n++)); do
    alive "scheduler-$n" || { log "starting scheduler $n"; spawn "scheduler-$n" root env "${envs[@]}" \
      GOVLINK_METRICS_PORT_SCHEDULER=$((9220 + n)) "$bin/govlink" scheduler; }
  done
  for p in $GATEWAY_PORTS; do wait_for 120 gw_ready "$p" || die "the gateway on :$p is not healthy (log: $CLUSTER_DIR/log/)"; done
}
govlink_down() {
  local n
  for n in 1 2 3 4; do stop_proc "gateway-$n"; stop_proc "worker-$n"; stop_proc "scheduler-$n"; done
  stop_proc simulators
}

amqp_url() { # the multi-node AMQP setting
  local hosts="" p
  for p in $RABBIT_AMQP_PORTS; do hosts+="${hosts:+,}$BIND_HOST:$p"; done
  echo "amqp://$RABBIT_CLUSTER_USER:$RABBIT_CLUSTER_PASSWORD@$hosts/%2F"
}

cluster_env() {
  echo "GOVLINK_AMQP_URL=$(amqp_url)"
  echo "GOVLINK_DATABASE_URL=$(database_url)"
  echo "GOVLINK_KEYCLOAK_URL=http://$BIND_HOST:$HAPROXY_KC_PORT"
  echo "GOVLINK_KEYCLOAK_MANAGEMENT_URL=http://$BIND_HOST:$(nth 1 "$KC_CLUSTER_MGMT_PORTS")"
}

haproxy_down() { stop_proc haproxy; }

memory() { # proportional set size (shared pages split between their users) per part, in MiB
  local f name pids pm total=0 kb
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    pids=$(ps -e -o pid=,pgid= | awk -v g="$(cat "$f")" '$2==g{print $1}')
    case $name in patroni-*)  # Patroni starts PostgreSQL in a session of its own
      pm=$(head -1 "$CLUSTER_DIR/postgres/${name#patroni-}/data/postmaster.pid" 2>/dev/null || true)
      [ -n "$pm" ] && pids+=" $(ps -e -o pid=,ppid= | awk -v p="$pm" '$1==p||$2==p{print $1}')" ;;
    esac
    kb=0; for p in $pids; do kb=$((kb + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0))); done
    printf '%-14s %6d MiB\n' "$name" $((kb / 1024)); total=$((total + kb))
  done
  printf '%-14s %6d MiB\n' total $((total / 1024))
}

status() {
  local n
  for n in $RABBIT_NODES; do printf '%-12s %s\n' "rabbit-$n" "$(rabbit_running "$n" && echo up || echo down)"; done
  for n in $ETCD_MEMBERS; do printf '%-12s %s\n' "etcd-$n" "$(alive "etcd-$n" && echo up || echo down)"; done
  local i=1; for n in $PG_MEMBERS; do
    printf '%-12s %s\n' "patroni-$n" "$(curl -fsS "http://$BIND_HOST:$(nth $i "$PATRONI_REST_PORTS")/patroni" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["role"], d["state"])' 2>/dev/null || echo down)"; i=$((i + 1)); done
  printf '%-12s %s\n' haproxy "$(alive haproxy && echo up || echo down)"
  i=1; for n in $GATEWAY_PORTS; do printf '%-12s %s\n' "gateway-$i" "$(gw_ready "$n" && echo up || echo down)"; i=$((i + 1)); done
  for n in worker-1 worker-2 scheduler-1 scheduler-2 simulators; do printf '%-12s %s\n' "$n" "$(alive "$n" && echo up || echo down)"; done
  i=1; for n in $KC_CLUSTER_NODES; do printf '%-12s %s\n' "keycloak-$n" "$(kc_node_ready "$(nth $i "$KC_CLUSTER_MGMT_PORTS")" && echo up || echo down)"; i=$((i + 1)); done
}

case "${1:-up}" in
  up) rabbitmq_up; etcd_up; patroni_up; haproxy_up; keycloak_cluster_up; govlink_up; log "cluster ready: $(amqp_url) $(database_url)" ;;
  rabbitmq) rabbitmq_up ;;
  postgres) etcd_up; patroni_up; haproxy_up ;;
  keycloak) keycloak_cluster_up ;;
  govlink) govlink_up ;;
  govlink-env) govlink_env ;;
  down) govlink_down; keycloak_cluster_down; haproxy_down; patroni_down; etcd_down; rabbitmq_down ;;
  status) status ;;
  memory) memory ;;
  haproxy-config) haproxy_config ;;
  patroni-config) patroni_config 1 ;;  # what HAProxy is given (tests/unit/test_cluster_compose.py compares it)
  env) cluster_env ;;
  rctl) shift; rctl "$@" ;;  # scripts/cluster.sh rctl c1 list_queues name leader members
  *) die "usage: $0 up|rabbitmq|down|status|env" ;;
esac
