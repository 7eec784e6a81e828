"""Bulk loading of the city month (bench/city.py), as a restore does it.

- `loosen`: the loaded tables' keys, unique constraints, foreign keys and indexes, as the migrations
  made them, are kept (their definitions from the catalogue) and dropped before the load;
  `tighten` puts every one back after it, each index built once from sorted data instead of
  row by row (random UUID and hash keys made the row-by-row load slow down as the indexes
  outgrew memory). The schema after `tighten` is the migrated one, constraint for constraint.
- `Streams`: one `COPY ... FREEZE` per table (in the transaction that truncated it: no hint bits
  or freezing to write later, no VACUUM), each on a connection and a thread of its own, fed
  with text lines in chunks through a short queue, so generating rows in Python and writing them
  into PostgreSQL overlap, with memory bounded by the queues.
"""
from __future__ import annotations

import queue
import threading
from collections import Counter

import psycopg

N = "\\N"  # NULL in COPY's text format
CHUNK_LINES = 2000
QUEUE_CHUNKS = 4


def esc(text: str) -> str:
    """A value in COPY's text format (backslash, tab, newline and carriage return escaped)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class Streams:
    """`add(table, line)` appends one line (tab-separated, newline-terminated) to that table's COPY."""

    def __init__(self, url: str, tables: dict[str, list[str]]):
        self.counts: Counter = Counter()
        self.error: BaseException | None = None
        self._buffers: dict[str, list[str]] = {}
        self._queues: dict[str, queue.Queue] = {}
        self._threads: list[threading.Thread] = []
        for table, columns in tables.items():
            conn = psycopg.connect(url, autocommit=False)
            conn.execute(f"TRUNCATE {table}")  # in COPY's transaction: FREEZE is allowed
            q: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
            thread = threading.Thread(target=self._pump, args=(conn, table, columns, q), daemon=True)
            thread.start()
            self._buffers[table], self._queues[table] = [], q
            self._threads.append(thread)

    def _pump(self, conn, table: str, columns: list[str], q: queue.Queue) -> None:
        try:
            with conn:
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FREEZE)") as copy:
                    while (chunk := q.get()) is not None:
                        copy.write(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the generating thread
            self.error = exc
            while q.get() is not None:  # drain, so the generator never blocks on a dead stream
                pass

    def add(self, table: str, line: str) -> None:
        buffer = self._buffers[table]
        buffer.append(line)
        if len(buffer) >= CHUNK_LINES:
            self._flush(table)

    def write(self, table: str, text: str, count: int) -> None:
        """Many lines at once."""
        self._flush(table)
        if text:
            self.counts[table] += count
            self._queues[table].put(text.encode())

    def _flush(self, table: str) -> None:
        if self.error is not None:
            raise RuntimeError(f"COPY failed: {self.error}") from self.error
        buffer = self._buffers[table]
        if buffer:
            self.counts[table] += len(buffer)
            self._queues[table].put("".join(buffer).encode())
            buffer.clear()

    def close(self) -> None:
        try:
            for table in self._buffers:
                self._flush(table)
        finally:
            for q in self._queues.values():
                q.put(None)
            for thread in self._threads:
                thread.join()
        if self.error is not None:
            raise RuntimeError(f"COPY failed: {self.error}") from self.error


def loosen(conn, tables: list[str]) -> list[tuple[str, str]]:
    """Drop the tables' foreign keys (and those pointing at them), keys, unique constraints and indexes;
    return the statements that put them back, in order (keys, indexes, then foreign keys)."""
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f') "
        "AND (conrelid::regclass::text = ANY(%s) OR (contype = 'f' AND confrelid::regclass::text = ANY(%s)))",
        (tables, tables)).fetchall()
    owned = {name for _, name, _, _ in constraints}
    indexes = [(t, name, d) for t, name, d in conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s)",
        (tables,)) if name not in owned]
    keys = [(t, f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {d}') for t, name, kind, d in constraints if kind != "f"]
    foreign = [(t, f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {d}') for t, name, kind, d in constraints if kind == "f"]
    for t, name, kind, _ in sorted(constraints, key=lambda c: c[2] != "f"):  # foreign keys first
        conn.execute(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"')
    for _, name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return keys + [(t, d) for t, _, d in indexes] + foreign


def tighten(url: str, statements: list[tuple[str, str]], lanes: list[set[str]]) -> None:
    """Run `loosen`'s statements: keys and indexes on one connection per lane (a set of tables; the
    rest go to the last lane) at once, then the foreign keys (which need the keys)."""
    foreign = [s for _, s in statements if "FOREIGN KEY" in s]
    work: list[list[str]] = [[] for _ in lanes]
    for table, statement in statements:
        if "FOREIGN KEY" not in statement:
            lane = next((i for i, tables in enumerate(lanes) if table in tables), len(lanes) - 1)
            work[lane].append(statement)
    errors: list[BaseException] = []

    def run(batch: list[str]) -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET maintenance_work_mem = '512MB'")
                conn.execute("SET max_parallel_maintenance_workers = 0")  # the lanes are the parallelism
                for statement in batch:
                    conn.execute(statement)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(batch,)) for batch in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    run(foreign)
    if errors:
        raise errors[0]
