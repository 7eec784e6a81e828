"""Stand-ins for the five channels' applications, for `make run` and the browser tests (R2, R3).

`create_app(settings)` mounts them on one WSGI app: `/portal` (web portal), `/mobile` (mobile H5
app), `/kiosk`, `/hotline`, `/counter` (service-hall counter). Serve it with
`python -m simulators.channels` (default `GOVLINK_CHANNELS_URL` = http://127.0.0.1:8300, which the
realm registers as redirect URIs; any port on 127.0.0.1 also works) or in a test thread with
`simulators.channels.serving.serve_in_thread`.
"""
from __future__ import annotations

from flask import Flask, render_template_string
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from config.realm import derived_secret

INDEX = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>govlink channels</title></head><body>
<h1>合肥市政务服务 channels</h1><ul>
<li><a href="portal/">政府网站 web portal</a></li><li><a href="mobile/">移动客户端 mobile H5 app</a></li>
<li><a href="kiosk/">自助终端 kiosk</a></li><li><a href="hotline/">服务热线 hotline console</a></li>
<li><a href="counter/">服务大厅窗口 service-hall counter</a></li></ul></body></html>"""


def create_app(settings):
    """Every channel stand-in under its path prefix (each with its own session cookie)."""
    from simulators.channels.hotline import create_hotline
    from simulators.channels.kiosk import create_kiosk
    from simulators.channels.relying_party import create_relying_party

    index = Flask("channels")
    index.get("/")(lambda: render_template_string(INDEX))
    return DispatcherMiddleware(index.wsgi_app, {
        "/portal": create_relying_party(settings, client_id="web-portal", title="政府网站 web portal",
                                        client_secret=derived_secret(settings, "web-portal"), cookie="portal_session"),
        "/mobile": create_relying_party(settings, client_id="mobile-app", title="移动客户端 mobile app",
                                        client_secret=None, cookie="mobile_session"),
        "/counter": create_relying_party(settings, client_id="service-hall", title="服务大厅窗口 counter",
                                         client_secret=derived_secret(settings, "service-hall"), cookie="counter_session"),
        "/kiosk": create_kiosk(settings),
        "/hotline": create_hotline(settings),
    })
