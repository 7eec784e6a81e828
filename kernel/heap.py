"""The start-up heap of a long-running process, kept out of the cyclic garbage collector's way.

A gateway worker, a connector worker, the scheduler and the simulators each hold some 60,000 to 160,000
objects made while starting (modules, classes, the Flask app and its schemas, SQLAlchemy's metadata, the
connectors' declarations) that live as long as the process. Python's collector walks all of them at every
full (generation 2) collection, and every thread of the process waits meanwhile: 50 to 190 ms in the
gateway's and the connector worker's, measured as they start. The simulators ran 49 full collections in
bench/service_call.py's 75 s, of up to 59 ms (1.7 s in all) and 102 ms in all once frozen. Frozen
(:func:`gc.freeze`), the start-up objects are left out of every later collection, which then walks only
what the process made since; that is collected as before. Garbage is collected first, so none is frozen.
The cost: a frozen object dropped later inside a reference cycle is never reclaimed. What a process drops
after start is mostly what it made after start; the exception is a SIGHUP reload of the connector worker's
declarations, which can leave the replaced start-up declarations behind, once per operator reload.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect, then freeze every object alive now (call once the process is ready to serve); return how
    many objects are frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("start-up heap frozen: %d objects left out of the cyclic collector's walks", frozen)
    return frozen
