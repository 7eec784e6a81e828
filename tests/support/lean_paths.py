"""Which path answered: the requests that went past a WSGI layer below Flask (routes/token_reads.py,
routes/call_path.py) into what it wraps."""
from __future__ import annotations

import contextlib


def layer_of(app, kind):
    """The layer of type `kind` in the app's chain of WSGI layers (each keeps what it wraps in `next`)."""
    layer = app.wsgi_app
    while not isinstance(layer, kind):
        layer = layer.next
    return layer


@contextlib.contextmanager
def calls_past(layer):
    """The PATH_INFO of every request `layer` handed on, while the block runs."""
    inner, calls = layer.next, []

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    layer.next = counting
    try:
        yield calls
    finally:
        layer.next = inner
