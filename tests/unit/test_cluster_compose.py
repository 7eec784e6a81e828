"""docker-compose.yml and `make cluster` (scripts/cluster.sh, cluster.env) describe one topology (issue 22):
the same nodes, the multi-node AMQP and multi-host database settings, and the same health checks."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from config.settings import url_per_host

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _cluster_env() -> dict[str, str]:
    out = subprocess.run(["bash", "-c", f". {ROOT}/scripts/stack.env; . {ROOT}/scripts/cluster.env; set -o posix; set"],
                         capture_output=True, text=True, check=True).stdout
    return {k: v.strip("'") for k, _, v in (line.partition("=") for line in out.splitlines()) if k.isidentifier()}


def _script(*args: str) -> str:
    return subprocess.run(["bash", str(ROOT / "scripts" / "cluster.sh"), *args], capture_output=True, text=True,
                          check=True).stdout


def _numbered(services: dict, prefix: str) -> list[str]:
    return sorted(n for n in services if re.fullmatch(rf"{prefix}\d+", n))


def test_the_same_nodes_of_each_kind():
    services, env = _compose(), _cluster_env()
    assert len(_numbered(services, "rabbitmq")) == len(env["RABBIT_NODES"].split()) == 3
    assert len(_numbered(services, "etcd")) == len(env["ETCD_MEMBERS"].split()) == 3
    assert len(_numbered(services, "pg")) == len(env["PG_MEMBERS"].split()) == 2
    assert all(services[n]["build"] == "deploy/patroni" for n in _numbered(services, "pg"))
    assert len(_numbered(services, "keycloak")) == len(env["KC_CLUSTER_NODES"].split()) == 2
    assert len(_numbered(services, "gateway")) == len(env["GATEWAY_PORTS"].split()) == 2
    assert len(_numbered(services, "worker-connectors")) == int(env["CONNECTOR_WORKERS"]) == 2
    assert len(_numbered(services, "scheduler")) == int(env["SCHEDULERS"]) == 2
    assert "postgres" not in services and "keycloak" not in services  # no single instance left


def test_govlink_is_given_every_broker_node_and_every_database_member():
    services = _compose()
    env = dict(line.split("=", 1) for line in _script("env").split())
    for name, svc in services.items():
        settings = {k: re.sub(r"\$\{[^}]*\}", "secret", str(v)) for k, v in (svc.get("environment") or {}).items()}
        if "GOVLINK_AMQP_URL" not in settings:
            continue
        amqp = url_per_host(settings["GOVLINK_AMQP_URL"])
        assert [re.search(r"@([^:/]+)", u).group(1) for u in amqp] == _numbered(services, "rabbitmq"), name
        database = settings["GOVLINK_DATABASE_URL"]
        assert [re.search(r"@([^:/]+)", u).group(1) for u in url_per_host(database)] == _numbered(services, "pg"), name
        assert "target_session_attrs=read-write" in database
        assert settings["GOVLINK_KEYCLOAK_URL"].startswith("http://haproxy:")
    assert len(url_per_host(env["GOVLINK_AMQP_URL"])) == 3
    assert len(url_per_host(env["GOVLINK_DATABASE_URL"])) == 2 and "target_session_attrs=read-write" in env["GOVLINK_DATABASE_URL"]
    assert env["GOVLINK_KEYCLOAK_URL"].endswith(":" + _cluster_env()["HAPROXY_KC_PORT"])


def _routes(cfg: str) -> dict[str, tuple]:
    """{section ("listen gateway", "backend keycloak", ...): (health check path, number of servers, retry-on,
    redispatch, routing rules)}"""
    routes, name = {}, None
    for line in cfg.splitlines():
        line = line.split("#")[0].rstrip()
        words = line.split()
        if words and words[0] in ("listen", "frontend", "backend"):
            name = " ".join(words[:2])
            routes[name] = [None, 0, "", "", []]
        elif not name or not words:
            continue
        elif words[:2] == ["option", "httpchk"]:
            routes[name][0] = words[-1]
        elif words[0] == "server":
            routes[name][1] += 1
        elif words[0] == "retry-on":
            routes[name][2] = " ".join(words[1:])
        elif words[:2] == ["option", "redispatch"]:
            routes[name][3] = " ".join(words[1:])
        elif words[0] in ("use_backend", "default_backend"):
            routes[name][4].append(" ".join(words))
    return {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) for k, v in routes.items()}


def test_haproxy_routes_and_checks_are_the_same():
    ours = _routes(_script("haproxy-config"))
    compose = _routes((ROOT / "deploy/haproxy/haproxy.cfg").read_text())
    assert ours == compose
    assert ours["listen postgres-leader"][0] == "/primary"
    assert ours["listen gateway"][0] == "/healthz" and "empty-response" not in ours["listen gateway"][2]


def test_keycloak_is_reached_through_ready_nodes_and_through_live_ones_when_none_is_ready():
    """A survivor of its JGroups coordinator's death calls itself unready for up to 60 s (issue 22):
    the proxy must then send to the live nodes, not answer 503, and retry what a killed node held."""
    for cfg in (_script("haproxy-config"), (ROOT / "deploy/haproxy/haproxy.cfg").read_text()):
        routes = _routes(cfg)
        ready, live = routes["backend keycloak"], routes["backend keycloak-live"]
        assert ready[:2] == ("/health/ready", 2) and live[:2] == ("/health/live", 2)
        assert routes["frontend keycloak"][4] == ("use_backend keycloak-live if { nbsrv(keycloak) lt 1 }",
                                                  "default_backend keycloak")
        for backend in ("backend keycloak", "backend keycloak-live"):
            assert routes[backend][2].split() == ["conn-failure", "empty-response"] and routes[backend][3] == "redispatch 1"


def test_patroni_runs_synchronous_with_the_same_dcs_settings():
    ours = yaml.safe_load(_script("patroni-config"))["bootstrap"]["dcs"]
    compose = yaml.safe_load((ROOT / "deploy/patroni/patroni.yml").read_text())["bootstrap"]["dcs"]
    assert ours["synchronous_mode"] is True and ours == compose | {"postgresql": ours["postgresql"]}
    assert ours["postgresql"]["parameters"]["wal_level"] == compose["postgresql"]["parameters"]["wal_level"] == "replica"


def test_keycloak_nodes_run_in_production_mode_clustered_through_jdbc_ping():
    services, script = _compose(), (ROOT / "scripts/cluster.sh").read_text()
    assert len(_numbered(services, "keycloak")) == 2
    for name in _numbered(services, "keycloak"):
        svc = services[name]
        assert svc["command"][0] == "start" and svc["environment"]["KC_CACHE_STACK"] == "jdbc-ping"
        # Keycloak 26 keeps user sessions in the database unless persistent-user-sessions is disabled
        assert "persistent-user-sessions" not in str(svc["environment"]) and "KC_FEATURES_DISABLED" not in svc["environment"]
        assert "/health/ready" in " ".join(svc["healthcheck"]["test"])
        assert "haproxy" in svc["environment"]["KC_DB_URL"]
    assert "--cache-stack jdbc-ping" in script and " start --optimized" in script and "kc.sh\" start-dev" not in script
    assert "persistent-user-sessions" not in script + _cluster_env()["KC_FEATURES"] and "features-disabled" not in script


def test_every_node_kind_has_a_health_check_in_both():
    services, script = _compose(), (ROOT / "scripts/cluster.sh").read_text()
    for prefix in ("rabbitmq", "etcd", "pg", "keycloak", "gateway"):
        for name in _numbered(services, prefix):
            assert services[name].get("healthcheck"), name
    # scripts/cluster.sh waits on the same signals before it calls the cluster up
    for signal in ("await_startup", "endpoint health", "/primary", "sync_state = 'sync'", "/health/ready", "/healthz"):
        assert signal in script, signal
