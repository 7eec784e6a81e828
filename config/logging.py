"""Structured JSON logs with the request / correlation id, and personal identifiers masked.

Every process (gateway, workers, simulators, CLI) calls `configure_logging(settings)` once.
Masking here is the last line of defence: code should already log `mask(identifier)`.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

from kernel.telemetry import correlation_id  # noqa: F401  (one correlation id for logs and answers)

# 18-character resident ID numbers and unified social credit codes, wherever they appear in text.
_IDENTIFIER = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Za-z])")


def mask_identifiers(text: str) -> str:
    """Mask every resident ID number or USCC-shaped token in free text."""
    from kernel.identifiers import mask

    return _IDENTIFIER.sub(lambda m: mask(m.group(1)), text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, correlation id, extras."""

    _skip = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in self._skip and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_identifiers(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """Readable lines for a developer's terminal, still masked."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        cid = correlation_id.get()
        return mask_identifiers(f"{line} [cid={cid}]" if cid else line)


def configure_logging(settings, stream=None) -> None:
    """Install one handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_govlink", False):
            root.removeHandler(old)
    handler._govlink = True
    root.addHandler(handler)
    root.setLevel(settings.logging_level)
    for noisy in ("pika", "zeep", "urllib3", "spyne", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
