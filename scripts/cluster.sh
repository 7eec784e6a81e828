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
[ "$(id -u)" = 0 ] || die "run as root (the PostgreSQL members run as the postgres user)"

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
  mkdir -p "$dir/mnesia" "$dir/log"
  echo "[]." >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  # pause_minority: a node cut off from the other two stops serving rather than diverging.
  printf '%s\n' "# written by govlink scripts/cluster.sh" "listeners.tcp.default = $BIND_HOST:$port" \
    "cluster_partition_handling = pause_minority" "vm_memory_high_watermark.absolute = 512MiB" >"$dir/rabbitmq.conf"
  log "starting RabbitMQ $(rabbit_node "$n") on :$port"
  eval spawn "rabbit-$n" root env "$(rabbit_env "$n")" /usr/lib/rabbitmq/bin/rabbitmq-server
  wait_for 90 rabbit_running "$n" || { tail -20 "$CLUSTER_DIR/log/rabbit-$n.log" >&2; die "RabbitMQ $n did not start"; }
}

rabbitmq_up() {
  apt_install rabbitmq-server
  mkdir -p "$CLUSTER_DIR/rabbitmq"
  # One Erlang cookie for the three nodes and their CLI (HOME=$CLUSTER_DIR/rabbitmq).
  [ -s "$CLUSTER_DIR/rabbitmq/.erlang.cookie" ] || { head -c 24 /dev/urandom | base64 | tr -dc A-Za-z0-9 >"$CLUSTER_DIR/rabbitmq/.erlang.cookie"; }
  chmod 400 "$CLUSTER_DIR/rabbitmq/.erlang.cookie"
  local first n; first=$(nth 1 "$RABBIT_NODES")
  for n in $RABBIT_NODES; do rabbit_start "$n"; done
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

amqp_url() { # the multi-node AMQP setting
  local hosts="" p
  for p in $RABBIT_AMQP_PORTS; do hosts+="${hosts:+,}$BIND_HOST:$p"; done
  echo "amqp://$RABBIT_CLUSTER_USER:$RABBIT_CLUSTER_PASSWORD@$hosts/%2F"
}

cluster_env() {
  echo "GOVLINK_AMQP_URL=$(amqp_url)"
}

status() {
  local n
  for n in $RABBIT_NODES; do printf '%-12s %s\n' "rabbit-$n" "$(rabbit_running "$n" && echo up || echo down)"; done
}

case "${1:-up}" in
  up) rabbitmq_up; log "cluster ready: $(amqp_url)" ;;
  rabbitmq) rabbitmq_up ;;
  down) rabbitmq_down ;;
  status) status ;;
  env) cluster_env ;;
  rctl) shift; rctl "$@" ;;  # scripts/cluster.sh rctl c1 list_queues name leader members
  *) die "usage: $0 up|rabbitmq|down|status|env" ;;
esac
