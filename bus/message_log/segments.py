"""Spool files of the message log: where they live, and reading and writing them safely."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bus.envelope import encode

SPOOL_SUFFIX = ".spool"
CLAIMING_SUFFIX = ".claiming"  # a segment being created: locked, then renamed to its .spool name


def spool_folder(base: str | os.PathLike, database_url: str) -> Path:
    """The spool folder of one database under `base`: a spool is only ever replayed into its own chain."""
    where = database_url.split("@")[-1]  # no credentials in the key
    return Path(base) / hashlib.sha256(where.encode()).hexdigest()[:16]


class _Segment:
    """One spool file: `committed` bytes of it are in the chain; `fd` holds its flock while open."""

    def __init__(self, path: Path, fd: int, size: int, committed: int, own: bool):
        self.path, self.fd, self.size, self.committed, self.own = path, fd, size, committed, own
        self.sealed = not own  # no more appends (rotated, or another process's)
        self.failures = 0  # consecutive non-connection failures of the batch at `committed`

    @property
    def name(self) -> str:
        return self.path.name


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(fd: int, start: int, end: int, limit: int, chunk: int = 1 << 20) -> tuple[list[bytes], int]:
    """Up to `limit` complete lines of the file between `start` and `end`; and the offset after the last one."""
    lines: list[bytes] = []
    pos = start
    buffer = b""
    while pos < end and len(lines) < limit:
        data = os.pread(fd, min(chunk, end - pos), pos)
        if not data:
            break
        pos += len(data)
        buffer += data
        parts = buffer.split(b"\n")
        buffer = parts.pop()
        lines.extend(parts)
    lines = lines[:limit]
    consumed = start + sum(len(line) + 1 for line in lines)
    return lines, consumed


def spool_line(envelope: dict, direction: str) -> bytes:
    """A record as the spool holds it: its direction, a tab, the envelope's wire form, a newline (compact JSON has none)."""
    return b"".join((direction.encode(), b"\t", encode(envelope), b"\n"))


def read_line(line: bytes) -> tuple[dict, str, str] | None:
    """(envelope, direction, its wire form) of a spool line, None if it cannot be read (cut short by a crash).

    A line is the direction, a tab and the envelope's wire form: one JSON encoding per record. Lines of the form
    before (`{"d": direction, "e": "<wire form>"}`), in a spool a process of that version left, still read."""
    try:
        if line.startswith(b"{"):
            item = json.loads(line)
            direction, body = item["d"], item["e"]
        else:
            head, tab, rest = line.partition(b"\t")
            if not tab:
                return None
            direction, body = head.decode(), rest.decode()
        envelope = json.loads(body)
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(envelope, dict) or not isinstance(direction, str) or not isinstance(body, str):
        return None
    return envelope, direction, body
