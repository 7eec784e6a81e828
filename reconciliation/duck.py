"""A private DuckDB database for one reconciliation run.

:func:`duck_session` opens an in-memory DuckDB with its own temporary directory (mode 0700,
created by :func:`tempfile.mkdtemp`): the CSV files handed to DuckDB are created there with mode
0600 (the data is personal and financial) and DuckDB spills there when it runs out of memory.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

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

    def create(self, name: str) -> BinaryIO:
        """A new file ``name`` in the private directory, mode 0600, open for writing."""
        return open(os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


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
