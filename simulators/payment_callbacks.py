"""Callback delivery shared by the payment simulators, with switches to misbehave.

`GET/POST /<system>/_control` (JSON) reads and changes:
    callbacks        normal | drop (never sent) | delay (sent after delay_seconds) |
                     duplicate (sent `copies` times) | corrupt (one byte of the body flipped after signing)
    delay_seconds    for `delay` (default 2)
    copies           for `duplicate` (default 2)
    callback_url     where pushes go (default: the gateway's /callbacks/payments/<platform>)
`POST /<system>/_control/reset` restores the defaults and clears the delivery log. `GET` also shows
`deliveries`: one entry per push sent, with the HTTP status and body our side answered.
"""
from __future__ import annotations

import threading
import time

import requests
from flask import Blueprint

from kernel.http import http_session
from simulators.control import control_blueprint

MODES = ("normal", "drop", "delay", "duplicate", "corrupt")


class CallbackSwitches:
    def __init__(self, default_url: str):
        self.default_url = default_url
        self._lock = threading.Lock()
        self.http = http_session(10.0, user_agent="simulator-payment-platform/1.0")
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.mode = "normal"
            self.delay_seconds = 2.0
            self.copies = 2
            self.callback_url = self.default_url
            self.deliveries: list[dict] = []

    def update(self, changes: dict) -> None:
        unknown = set(changes) - {"callbacks", "delay_seconds", "copies", "callback_url"}
        if unknown:
            raise ValueError(f"unknown control field(s): {', '.join(sorted(unknown))}")
        if "callbacks" in changes and changes["callbacks"] not in MODES:
            raise ValueError(f"callbacks must be one of {', '.join(MODES)}")
        with self._lock:
            self.mode = changes.get("callbacks", self.mode)
            self.delay_seconds = float(changes.get("delay_seconds", self.delay_seconds))
            self.copies = max(1, int(changes.get("copies", self.copies)))
            self.callback_url = changes.get("callback_url") or self.callback_url

    def snapshot(self) -> dict:
        with self._lock:
            return {"callbacks": self.mode, "delay_seconds": self.delay_seconds, "copies": self.copies,
                    "callback_url": self.callback_url, "deliveries": list(self.deliveries)}

    def push(self, ref: str, headers: dict, body: bytes, url: str | None = None) -> None:
        """Send a signed callback per the switches, from a background thread (as platforms do)."""
        mode = self.mode
        target = url or self.callback_url
        if mode == "drop":
            self._log(ref, target, "dropped", None, None)
            return
        if mode == "corrupt":
            body = body[:-2] + bytes([body[-2] ^ 0x01]) + body[-1:]
        copies = self.copies if mode == "duplicate" else 1
        delay = self.delay_seconds if mode == "delay" else 0.0

        def send():
            if delay:
                time.sleep(delay)
            for _ in range(copies):
                try:
                    response = self.http.post(target, data=body, headers=headers)
                    self._log(ref, target, mode, response.status_code, response.content)
                except requests.RequestException as exc:
                    self._log(ref, target, mode, None, type(exc).__name__.encode())

        threading.Thread(target=send, name=f"push-{ref}", daemon=True).start()

    def _log(self, ref, url, mode, status, body) -> None:
        text = None
        if body is not None:
            try:
                text = body.decode("gbk")
            except UnicodeDecodeError:
                text = body.decode("utf-8", "replace")
        with self._lock:
            self.deliveries.append({"ref": ref, "url": url, "mode": mode, "status": status, "answer": text})

    def blueprint(self, name: str) -> Blueprint:
        """`/_control` and `/_control/reset` for these switches (see the module's docstring)."""
        return control_blueprint(self, f"{name}_control")
