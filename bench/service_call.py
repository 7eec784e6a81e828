"""A department call through the whole path (issue 18) against the same SOAP call made with zeep.

    python -m bench.service_call

Starts, each as a process of its own as `make run` does (Procfile): the simulators, the connector
worker for `population-registry` (`govlink worker connectors population-registry`) and the gateway
(gunicorn, config/gunicorn.py) on a free port: a department call needs no call back from Keycloak,
so the bench leaves 127.0.0.1:8000 (and its lock) to the tests. A population-registry person is registered in the simulator; the
case system's token comes from the real Keycloak (client credentials).

- ours: `POST /api/v1/services/population-registry/verify-identity` (gateway -> RabbitMQ -> worker
  -> SOAP to the simulator -> reply -> gateway), answered synchronously;
- baseline: `VerifyIdentity` on the simulator's WSDL with zeep, one client per thread.

Both run closed-loop with CONCURRENCY threads for SECONDS each (calls/s), then ours at a steady
100 calls/s (open loop, each call sent at its time) for SECONDS, for p50 and p99, after WARMUP_SECONDS
(3) at that rate that are not counted (the client's threads and connections are made then). Prints
`RESULT service_call ours=<calls/s> baseline=<calls/s> ratio=... p50_ms=... p99_ms=...`
(targets: ratio >= 0.25, p99 < 50 ms at 100 calls/s).

On a shared machine calls/s follow the load of everything else, so the bench also prints the CPU each call
costs, read from /proc for every process of the path (simulators, worker, gateway master and workers, this
one), for ours and for the baseline: `RESULT service_call_cpu ours_ms=... baseline_ms=... load=...`.
"""
from __future__ import annotations

import http.client
import json
import os
import select
import socket
import statistics as stats
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import requests

CONCURRENCY = int(os.environ.get("BENCH_SERVICE_CONCURRENCY", "8"))
SECONDS = float(os.environ.get("BENCH_SERVICE_SECONDS", "15"))
RATE = 100
WARMUP_SECONDS = float(os.environ.get("BENCH_SERVICE_WARMUP_SECONDS", "3"))
BIN = Path(sys.executable).parent
NAME = "王晓明"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def token(settings) -> str:
    from config.realm import derived_secret

    r = requests.post(f"{settings.issuer}/protocol/openid-connect/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": "case-system",
        "client_secret": derived_secret(settings, "case-system")})
    r.raise_for_status()
    return r.json()["access_token"]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (this process included: its threads are the clients)."""
    total = 0.0
    for pid in [os.getpid(), *pids]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def path_pids(procs) -> list[int]:
    """The bench's processes and their children (gunicorn's workers)."""
    pids = [p.pid for p in procs]
    for p in procs:
        try:
            pids += [int(c) for c in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()]
        except OSError:
            pass
    return pids


def caller(gateway: str, access_token: str, body: dict):
    """`call(state)`: one department call through the gateway, on the calling thread's own keep-alive
    connection (`state`). The load generator is http.client, not requests: requests' own CPU per call
    (1.6 ms, measured with /proc as below) is more than a tenth of the whole path's, on the same two
    cores, and a city's callers do not run on the gateway's machine. The answer is still read and checked."""
    target = urlsplit(gateway)
    path = "/api/v1/services/population-registry/verify-identity"
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"}

    def call(state):
        connection = state.get("http")
        if connection is not None and connection.sock is not None and select.select([connection.sock], [], [], 0)[0]:
            connection.close()  # readable while idle: the gateway closed it (keep-alive timeout), as urllib3 checks
        if connection is None:
            connection = state["http"] = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            connection.request("POST", path, data, headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException):
            state.pop("http").close()  # a new connection next time
            raise
        if response.status != 200 or json.loads(answer)["result"]["match"] is not True:
            raise RuntimeError(f"{response.status} {answer[:200]!r}")

    return call


def closed_loop(call, seconds: float, concurrency: int) -> tuple[float, int]:
    """calls/s of `call(session)` from `concurrency` threads for `seconds`; and the failures."""
    done, failed, stop = [0] * concurrency, [0] * concurrency, time.monotonic() + seconds

    def worker(i):
        state = {}
        while time.monotonic() < stop:
            try:
                call(state)
                done[i] += 1
            except Exception:  # noqa: BLE001 (counted, reported)
                failed[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


def steady(call, rate: int, seconds: float, warmup: float = WARMUP_SECONDS) -> tuple[list[float], int]:
    """Latencies (ms) of calls sent at `rate`/s for `seconds`, each at its time (open loop), after
    `warmup` seconds at the same rate from the same threads, not counted: the client's threads and
    their connections to the gateway are made then, as a steady load has them already."""
    latencies, failures, local = [], [0], threading.local()
    counted = int(rate * warmup)

    def one(n):
        started = time.perf_counter()
        try:
            call(local.__dict__)
            if n >= counted:
                latencies.append((time.perf_counter() - started) * 1000)
        except Exception:  # noqa: BLE001 (counted, reported)
            failures[0] += 1

    with ThreadPoolExecutor(max_workers=64) as pool:
        begin = time.perf_counter()
        for n in range(int(rate * (warmup + seconds))):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    return latencies, failures[0]


def main() -> None:
    from config.settings import Settings
    from kernel.identifiers import make_resident_id

    settings = Settings.from_env()
    sim_url, gateway = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, GOVLINK_SIMULATORS_URL=sim_url, GOVLINK_LOG_LEVEL="WARNING", GOVLINK_BIND=gateway[7:])
    procs = [subprocess.Popen([str(BIN / "python"), "-m", "simulators", "--bind", sim_url[7:]], env=env)]
    try:
        wait_for(f"{sim_url}/population/soap?wsdl")
        id_number = make_resident_id("340104", date(1988, 3, 9), 317)
        requests.post(f"{sim_url}/population/_admin/people", json={"name": NAME, "idNumber": id_number},
                      timeout=5).raise_for_status()
        procs.append(subprocess.Popen([str(BIN / "govlink"), "worker", "connectors", "population-registry"], env=env))
        procs.append(subprocess.Popen([str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "bootstrap.wsgi:app"], env=env))
        wait_for(f"{gateway}/healthz")
        ours = caller(gateway, token(settings), {"payload": {"name": NAME, "id_number": id_number}})

        def baseline(state):
            if "zeep" not in state:
                import zeep

                state["zeep"] = zeep.Client(f"{sim_url}/population/soap?wsdl")
            state["zeep"].service.VerifyIdentity(name=NAME, idNumber=id_number)

        for _ in range(20):  # warm: first calls, worker's connection, WSDL, token cache
            ours({})
        closed_loop(baseline, 2, CONCURRENCY)
        pids = path_pids(procs)
        cpu = cpu_seconds(pids)
        ours_rate, ours_failed = closed_loop(ours, SECONDS, CONCURRENCY)
        ours_cpu, cpu = (cpu_seconds(pids) - cpu) * 1000 / max(1.0, ours_rate * SECONDS), cpu_seconds(pids)
        base_rate, base_failed = closed_loop(baseline, SECONDS, CONCURRENCY)
        base_cpu = (cpu_seconds(pids) - cpu) * 1000 / max(1.0, base_rate * SECONDS)
        latencies, late_failed = steady(ours, RATE, SECONDS)
        p50, p99 = stats.median(latencies), stats.quantiles(latencies, n=100)[98]
        print(f"ours: {ours_rate:.0f} calls/s ({ours_failed} failed); zeep direct: {base_rate:.0f} calls/s "
              f"({base_failed} failed); steady {RATE}/s: {len(latencies)} answered, {late_failed} failed")
        print(f"RESULT service_call ours={ours_rate:.0f} baseline={base_rate:.0f} ratio={ours_rate / base_rate:.2f} "
              f"p50_ms={p50:.1f} p99_ms={p99:.1f}")
        print(f"RESULT service_call_cpu ours_ms={ours_cpu:.1f} baseline_ms={base_cpu:.1f} "
              f"load={os.getloadavg()[0]:.1f}")
        if ours_failed or late_failed:
            raise SystemExit(1)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
