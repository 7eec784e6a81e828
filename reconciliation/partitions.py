"""A day's payment reconciliation split by payment code over worker processes.

Records meet only inside their payment code's group, so the groups can be cut into disjoint
partitions and matched apart: partition ``k`` of ``n`` holds the codes whose last character has
a code point ``≡ k (mod n)`` (:func:`partition_of`; :func:`partition_sql` says the same in SQL,
so each worker reads only its slice of the ledger). Each worker (a forked process) reads its
ledger slice, its part of the statement (cut once, as bytes, by
:func:`~reconciliation.statement_stream.split_statement`) and runs the engine's exact keys; the
parent joins the parts with :func:`reconciliation.engine.merge`, which applies the tolerance
rules to everything left over, and classifies. The result, and its content hash, are those of
:func:`reconciliation.payments.reconcile_payments` over the whole day.
"""
from __future__ import annotations

import gc
import multiprocessing
import pickle
import resource
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from io import BytesIO

from payment_bridge.errors import StatementError
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile
from reconciliation.categories import Discrepancy, RunResult
from reconciliation.engine import Matching, exact_only, match, merge
from reconciliation.payments import PaymentRules, carried_records, classify_payments, payment_pairing
from reconciliation.records import LedgerPayment, StatementEntry
from reconciliation.statement_stream import NontaxStatementReader, check_totals, split_statement, totals_line_of

LedgerSlice = Callable[[int, int], Iterable[LedgerPayment]]  # (partition, partitions) -> that slice


def partition_of(reference: str, partitions: int) -> int:
    """The partition of a payment code (or any group key): its last character's code point mod n."""
    return ord(reference[-1]) % partitions if reference else 0


def partition_sql(column: str, partition: int, partitions: int) -> str:
    """A SQL condition (PostgreSQL) true for the rows of ``column`` in ``partition``."""
    if not column.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"not a column name: {column!r}")
    return f"mod(ascii(right({column}, 1)), {int(partitions)}) = {int(partition)}"  # no %: a driver placeholder


@dataclass
class PartResult:
    """What one worker sends back: its exact-key matching, its statement part's sums and memory."""

    matching: Matching
    sums: tuple[int, int, int, int]
    line_count: int
    statement_date: date | None
    adm_div_code: str | None
    peak_rss_mib: float  # a worker: its peak less the pages it inherited from the parent


@dataclass
class PartitionedRun:
    result: RunResult
    statement_date: date | None
    adm_div_code: str | None
    line_count: int
    # The parent's peak resident size plus each worker's growth over what it shared at the fork.
    peak_rss_mib: float


def reconcile_payments_partitioned(ledger_slice: LedgerSlice, statement: bytes, day: date,
                                   rules: PaymentRules = PaymentRules(), carried: Sequence[Discrepancy] = (),
                                   *, workers: int = 2, profile: PaymentCodeProfile = DEFAULT_PROFILE,
                                   progress: Callable[[int], None] | None = None) -> PartitionedRun:
    """Reconcile a day with ``workers`` processes; ``ledger_slice(k, n)`` yields partition k's
    ledger (it runs in the worker: open connections there). ``statement`` is the raw daily file.
    ``progress(k)`` is called in the parent as each partition finishes."""
    carried_left, carried_right = carried_records(carried)
    carried_set = frozenset(carried_left) | frozenset(carried_right)
    pairing = payment_pairing(rules, carried_set)
    if workers <= 1:  # one process: the file read whole (the reader checks its totals)
        reader = NontaxStatementReader(BytesIO(statement), profile=profile)
        parts = [_run_part(exact_only(pairing), ledger_slice(0, 1), reader, carried_left, carried_right)]
        if progress:
            progress(0)
    else:
        parts = _in_workers(workers, lambda k: _run_part(
            exact_only(pairing), ledger_slice(k, workers), _part_reader(statement, k, workers, profile),
            [r for r in carried_left if partition_of(r[0], workers) == k],
            [r for r in carried_right if partition_of(r[0], workers) == k]), progress)
        check_totals(totals_line_of(statement), tuple(map(sum, zip(*(p.sums for p in parts)))))
    found = merge(pairing, [p.matching for p in parts])
    first = parts[0]
    own = peak_mib()
    peak = own + (sum(p.peak_rss_mib for p in parts) if workers > 1 else 0)
    return PartitionedRun(classify_payments(found, day, rules), first.statement_date, first.adm_div_code,
                          sum(p.line_count for p in parts), peak)


def _part_reader(statement: bytes, k: int, n: int, profile: PaymentCodeProfile) -> NontaxStatementReader:
    """Partition k's rows of the statement, cut in the worker (the parent keeps only the file)."""
    split = split_statement(statement, n, profile=profile, only=k)
    if split is None:  # not shaped for splitting: the whole-file reader names the fault
        list(NontaxStatementReader(BytesIO(statement), profile=profile))
        raise StatementError("statement rows are malformed")
    return NontaxStatementReader.part(split, k, profile=profile)


def _run_part(pairing, ledger: Iterable[LedgerPayment], reader: NontaxStatementReader,
              carried_left: list[LedgerPayment], carried_right: list[StatementEntry]) -> PartResult:
    from itertools import chain

    matching = match(pairing, chain(ledger, carried_left), chain(reader, carried_right))
    return PartResult(matching, reader.sums, reader.line_count, reader.statement_date, reader.adm_div_code,
                      peak_mib() - _inherited_mib)


def _in_workers(workers: int, work: Callable[[int], PartResult],
                progress: Callable[[int], None] | None) -> list[PartResult]:
    """Run ``work(k)`` for each partition in a forked process; results in partition order."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for k in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_worker, args=(work, k, send), name=f"reconcile-{k}", daemon=True)
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    results: list[PartResult | None] = [None] * workers
    failure: BaseException | None = None
    try:
        for k in _ready_order(pipes):
            status, payload = pickle.loads(pipes[k].recv_bytes())
            if status == "ok":
                results[k] = payload
                if progress:
                    progress(k)
            elif failure is None:
                failure = payload
    finally:
        for process in processes:
            process.join()
    if failure is not None:
        raise failure
    missing = [k for k, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"reconciliation worker(s) {missing} ended without a result")
    return results  # type: ignore[return-value]


def _ready_order(pipes):
    from multiprocessing.connection import wait

    waiting = dict(enumerate(pipes))
    while waiting:
        for ready in wait(list(waiting.values())):
            k = next(k for k, p in waiting.items() if p is ready)
            del waiting[k]
            yield k


_inherited_mib = 0.0  # a worker's resident size when it starts: the parent's pages, shared


def _resident_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return 0.0


def peak_mib() -> float:
    """This process's peak resident size (VmHWM). Not ``ru_maxrss``: Linux carries that across
    exec, so a process spawned from a big one would report the big one's peak as its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(work: Callable[[int], PartResult], k: int, send) -> None:
    global _inherited_mib
    _inherited_mib = _resident_mib()  # counted once, in the parent's peak
    gc.disable()  # millions of immutable tuples: the cyclic collector has nothing to find
    try:
        payload = pickle.dumps(("ok", work(k)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent, which raises it
        payload = pickle.dumps(("error", _portable(exc)), protocol=pickle.HIGHEST_PROTOCOL)
    send.send_bytes(payload)
    send.close()


def _portable(exc: BaseException) -> BaseException:
    """The exception if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
