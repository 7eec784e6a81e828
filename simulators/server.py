"""One small server for every simulator: each system's WSGI app under its path prefix, on one port.

To add a simulator, write its module (with a `create_app()` returning a WSGI app) and add one line
to `SIMULATORS`. `python -m simulators` serves them on `GOVLINK_SIMULATORS_BIND` (default
127.0.0.1:8100); tests call `run_in_thread()` for a private server on a free port.
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import Callable

from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from simulators import (e_licence, ems, enterprise, kuaidi100, national_identity, nontax_platform, population,
                        sf_express, tencent_sms, wechatpay)
from config.settings import Settings
from kernel.heap import freeze_startup_heap
from simulators.channels.serving import serve_in_thread

DEFAULT_BIND = "127.0.0.1:8100"

# (path prefix, factory of the system's WSGI app). One line per outside system.
SIMULATORS: list[tuple[str, Callable]] = [
    ("/population", population.create_app),  # 公安人口库, SOAP
    ("/enterprise", enterprise.create_app),  # 市场监管企业库, SOAP
    ("/e-licence", e_licence.create_app),  # 电子证照库, REST
    ("/nontax", nontax_platform.create_app),  # 省级非税收入平台, GBK XML + MAC
    ("/wechatpay", wechatpay.create_app),  # 微信支付 API v3
    ("/sf-express", sf_express.create_app),  # 顺丰开放平台, signed form (msgDigest)
    ("/ems", ems.create_app),  # 中国邮政 EMS, SM4-sealed payloads
    ("/kuaidi100", kuaidi100.create_app),  # 快递100, subscriptions and signed pushes
    ("/tencent-sms", tencent_sms.create_app),  # 腾讯云短信 SendSms, TC3-HMAC-SHA256
    ("/national-id", national_identity.create_app),  # 国家政务服务平台统一身份认证, OIDC provider
]

log = logging.getLogger("govlink.simulators")


def create_app(simulators: list[tuple[str, Callable]] | None = None):
    """Every simulator mounted under its prefix; `/` lists them and `/healthz` answers ok."""
    simulators = SIMULATORS if simulators is None else simulators
    index = Flask("simulators")

    @index.get("/")
    def listing():
        return jsonify(simulators=[prefix for prefix, _ in simulators])

    @index.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return DispatcherMiddleware(index.wsgi_app, {prefix: factory() for prefix, factory in simulators})


def run_in_thread(port: int = 0, host: str = "127.0.0.1", *, quiet: bool = True) -> tuple[str, Callable[[], None]]:
    """Serve every simulator from a daemon thread; returns (base_url, stop).

    `port=0` picks a free port. Each call builds fresh simulators (own data, modes and counters).
    """
    return serve_in_thread(create_app(), host, port, quiet=quiet)


def parse_bind(text: str) -> tuple[str, int]:
    """`HOST:PORT` -> (host, port)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"bind address must be HOST:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    """Serve every simulator in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default=os.environ.get("GOVLINK_SIMULATORS_BIND", DEFAULT_BIND), help="HOST:PORT")
    args = parser.parse_args(argv)
    host, port = parse_bind(args.bind)
    level = Settings.from_env().logging_level  # GOVLINK_LOG_LEVEL, checked as every process checks it
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
    # werkzeug sets its own logger to INFO unless it has a level: without this it logs every request
    logging.getLogger("werkzeug").setLevel(level)
    server = make_server(host, port, create_app(), threaded=True)
    freeze_startup_heap()  # the simulators' start-up objects leave the collector's full walks (kernel/heap.py)
    log.info("simulators on http://%s:%s: %s", host, server.server_port, ", ".join(p for p, _ in SIMULATORS))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
