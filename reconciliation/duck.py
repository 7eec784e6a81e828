"""A private DuckDB database for one reconciliation run.

:func:`duck_session` opens an in-memory DuckDB with its own temporary directory (mode 0700,
created by :func:`tempfile.mkdtemp`): the CSV rows handed to DuckDB go through named pipes made
there with mode 0600 (:meth:`DuckSession.pipe` and :func:`feed`: the data is personal and
financial, and is never written to disk) and DuckDB spills there when it runs out of memory.
DuckDB may read and write nothing else (``allowed_directories`` without external access, which
cannot be turned back on while the database runs), never installs or loads an extension by itself,
uses ``threads`` threads (default: the cores this process may run on) and at most
``memory_limit``. ``prepare``, if given, runs on the connection before it is shut in: what it
attaches (the ledger's PostgreSQL, :class:`reconciliation.ledger.PostgresLedger`) stays
reachable, nothing else becomes so. ``on_disk``: the database is a file in that directory (its
tables compressed and paged out to it under the memory limit) instead of in memory;
``uncompressed_text``: its text columns are stored as they are (:data:`TEXT_COMPRESSION` off).
An on-disk database is not checkpointed when it is closed: it is deleted with the directory.
The connection is closed and the directory removed when the block ends, whatever happens.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# DuckDB's compressions of text (``uncompressed_text``): choosing and applying them is most of the
# CPU of storing a table of unique codes and transaction numbers on disk
TEXT_COMPRESSION = "fsst,dictionary"
MEMORY_LIMIT = "384MB"  # DuckDB's buffers; the process (Python, the raw statement) stays well under 1 GiB


@dataclass
class DuckSession:
    con: object  # duckdb.DuckDBPyConnection
    directory: str

    def path(self, name: str) -> str:
        """The path of file ``name`` in the private directory (a plain name, no separators)."""
        if not name or os.sep in name or name.startswith("."):
            raise ValueError(f"not a plain file name: {name!r}")
        return os.path.join(self.directory, name)

    def pipe(self, name: str) -> str:
        """A new named pipe ``name`` in the private directory, mode 0600; its path. What is written
        to it reaches DuckDB's reader without being stored (:func:`feed`)."""
        path = self.path(name)
        os.mkfifo(path, 0o600)
        return path


@contextmanager
def feed(path: str, chunks: Iterable[bytes]) -> Iterator[None]:
    """Write ``chunks`` to named pipe ``path`` in a thread while the block (a DuckDB query reading
    it) runs. The pipe's end is the end of the data. If the block ends with the thread still
    writing (it failed, or its reader never opened the pipe), the rest is read here and dropped, so
    the thread always ends; if the thread fails, its exception is raised after the block (the reader
    saw the end of the data too early)."""
    failed: list[BaseException] = []

    def write() -> None:
        try:
            with open(path, "wb") as out:  # waits for the reader
                for chunk in chunks:
                    out.write(chunk)
        except BrokenPipeError:
            pass  # the reader is gone: the block failed, and says why
        except BaseException as exc:  # noqa: BLE001 (raised in the caller's thread)
            failed.append(exc)

    writer = threading.Thread(target=write, name="duckdb-feed", daemon=True)
    writer.start()
    try:
        yield
    finally:
        if writer.is_alive():
            _drain(path, writer)
        writer.join()
    if failed:
        raise failed[0]


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _drain(path: str, writer: threading.Thread) -> None:
    """Read named pipe ``path`` until ``writer`` ends, dropping what it wrote."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets a writer waiting for a reader go on
    try:
        while writer.is_alive():
            try:
                if not os.read(fd, 1 << 20):
                    writer.join(0.01)  # nothing written yet, or the writer closed: it ends soon
            except BlockingIOError:
                writer.join(0.01)
    finally:
        os.close(fd)


@contextmanager
def duck_session(*, threads: int | None = None, memory_limit: str = MEMORY_LIMIT,
                 prepare: Callable[[object], None] | None = None, on_disk: bool = False,
                 uncompressed_text: bool = False) -> Iterator[DuckSession]:
    import duckdb

    directory = tempfile.mkdtemp(prefix="govlink-reconcile-")
    con = None
    try:
        con = duckdb.connect(os.path.join(directory, "work.duckdb") if on_disk else ":memory:", config={
            "threads": threads or cores(), "memory_limit": memory_limit,
            "temp_directory": os.path.join(directory, "spill"),
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        })
        if on_disk:  # the file is deleted with the directory: closing it need not checkpoint it
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
        if uncompressed_text:
            con.execute(f"SET disabled_compression_methods = {sql_literal(TEXT_COMPRESSION)}")
        if prepare is not None:
            prepare(con)
        con.execute("SET allowed_directories = ?", [[directory + os.sep]])
        con.execute("SET enable_external_access = false")
        yield DuckSession(con, directory)
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(directory, ignore_errors=True)
