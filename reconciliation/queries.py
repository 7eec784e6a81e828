"""Read side of reconciliation for the API, the finance console and exports.

Plain dicts out, money in integer fen, times as aware UTC datetimes (the edges show Beijing time).
"""
from __future__ import annotations

import re
from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer

from kernel.errors import CodedError
from reconciliation.categories import CATEGORIES
from reconciliation.runs import APPROVED, CARRIED, CLEARED, CONFIRMED, OPEN, RESOLVED, steps
from store.models.reconciliation import ReconciliationDiscrepancy, ReconciliationRun

STATUSES = (OPEN, CONFIRMED, RESOLVED, APPROVED, CARRIED, CLEARED)
UNSETTLED = (OPEN, CONFIRMED, RESOLVED, CARRIED)  # still needs someone: "open" in the exports' sense
PAGE_MAX = 500
_RUN_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(payments|logistics)\.(\d{1,9})$")
_ITEM_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(\d{1,18})\.(\d{1,9})$")


class BadCursor(CodedError, ValueError):
    """A paging cursor that is not one this module gave out (422 `invalid_cursor`)."""

    code = "invalid_cursor"
    status = 422

    def __init__(self, reason: str):
        super().__init__("after is not a cursor of this list: pass the `next` of the page before.")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _cursor_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadCursor("not a cursor of this list") from None


def run_cursor(run: dict) -> str:
    """Where the next page of runs starts: after this run (keyset: day, kind, version)."""
    return f"{run['business_date'].isoformat()}.{run['kind']}.{run['version']}"


def discrepancy_cursor(item: dict) -> str:
    """Where the next page of discrepancies starts: after this one (keyset: day, run, seq)."""
    return f"{item['business_date'].isoformat()}.{item['run_id']}.{item['seq']}"


def run_dict(run: ReconciliationRun) -> dict:
    return {"id": run.id, "kind": run.kind, "business_date": run.business_date, "version": run.version,
            "status": run.status, "supersedes_id": run.supersedes_id, "input_hash": run.input_hash,
            "content_hash": run.content_hash, "matched_count": run.matched_count,
            "matched_amount_fen": run.matched_amount_fen, "discrepancy_count": run.discrepancy_count,
            "unmatched_amount_fen": run.unmatched_amount_fen, "counts": dict(run.counts or {}),
            "cleared_count": run.cleared_count, "started_by": run.started_by, "started_at": run.started_at,
            "finished_at": run.finished_at}


def discrepancy_dict(row: ReconciliationDiscrepancy, *, records: bool = False) -> dict:
    out = {"id": row.id, "run_id": row.run_id, "seq": row.seq, "category": row.category, "subtype": row.subtype,
           "key": row.key, "rule": row.rule, "left_amount_fen": row.left_amount_fen,
           "right_amount_fen": row.right_amount_fen, "status": row.status, "updated_at": row.updated_at}
    if records:
        out["left_records"] = list(row.left_records or [])
        out["right_records"] = list(row.right_records or [])
    return out


def step_dict(step) -> dict:
    return {"id": step.id, "action": step.action, "actor": step.actor, "from_status": step.from_status,
            "to_status": step.to_status, "reason_code": step.reason_code, "note": step.note, "at": step.at}


def list_runs(session: Session, *, kind: str | None = None, since: date | None = None, until: date | None = None,
              current_only: bool = True, limit: int = 100, after: str | None = None) -> list[dict]:
    """Runs newest day first (the current version of each day unless ``current_only`` is False);
    ``after``: a cursor (run_cursor) of the last run of the page before (keyset paging)."""
    query = select(ReconciliationRun)
    if after:
        match = _RUN_CURSOR.match(after)
        if not match:
            raise BadCursor("not a cursor of this list")
        day, kind_, version = _cursor_date(match[1]), match[2], int(match[3])
        run = ReconciliationRun
        query = query.where(or_(run.business_date < day, and_(run.business_date == day, or_(
            run.kind > kind_, and_(run.kind == kind_, run.version < version)))))
    if kind:
        query = query.where(ReconciliationRun.kind == kind)
    if since:
        query = query.where(ReconciliationRun.business_date >= since)
    if until:
        query = query.where(ReconciliationRun.business_date <= until)
    if current_only:
        query = query.where(ReconciliationRun.status == "current")
    query = query.order_by(ReconciliationRun.business_date.desc(), ReconciliationRun.kind,
                           ReconciliationRun.version.desc()).limit(min(limit, PAGE_MAX + 1))
    return [run_dict(run) for run in session.scalars(query)]


def page_runs(session: Session, *, limit: int = 100, **filters) -> tuple[list[dict], str | None]:
    """A page of list_runs and the cursor of the next page (None on the last page)."""
    limit = min(limit, PAGE_MAX)
    items = list_runs(session, limit=limit + 1, **filters)
    return items[:limit], run_cursor(items[limit - 1]) if len(items) > limit else None


def get_run(session: Session, run_id: int) -> dict | None:
    run = session.get(ReconciliationRun, run_id)
    return run_dict(run) if run is not None else None


def open_counts(session: Session, run_ids: list[int]) -> dict[int, int]:
    """How many discrepancies of each run still need someone."""
    if not run_ids:
        return {}
    rows = session.execute(select(ReconciliationDiscrepancy.run_id, func.count()).where(
        ReconciliationDiscrepancy.run_id.in_(run_ids), ReconciliationDiscrepancy.status.in_(UNSETTLED))
        .group_by(ReconciliationDiscrepancy.run_id))
    return {run_id: count for run_id, count in rows}


def _item_filters(query, *, category, status, statuses):
    if category:
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}")
        query = query.where(ReconciliationDiscrepancy.category == category)
    if status:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        query = query.where(ReconciliationDiscrepancy.status == status)
    if statuses:
        query = query.where(ReconciliationDiscrepancy.status.in_(statuses))
    return query


def _run_filters(query, *, run_id, current_only, since, until, column=ReconciliationDiscrepancy.run_id):
    if run_id is not None:
        query = query.where(column == run_id)
    elif current_only:
        query = query.where(ReconciliationRun.status == "current")
    if since:
        query = query.where(ReconciliationRun.business_date >= since)
    if until:
        query = query.where(ReconciliationRun.business_date <= until)
    return query


def _item(row, business_date, kind, records: bool) -> dict:
    item = discrepancy_dict(row, records=records)
    item["business_date"] = business_date
    item["kind"] = kind
    return item


def list_discrepancies(session: Session, *, run_id: int | None = None, category: str | None = None,
                       status: str | None = None, statuses: tuple[str, ...] | None = None,
                       since: date | None = None, until: date | None = None, current_only: bool = True,
                       limit: int = 100, offset: int = 0, records: bool = False) -> tuple[list[dict], int]:
    """Discrepancies with filters (``limit=0``: all); returns (page, total)."""
    query = select(ReconciliationDiscrepancy, ReconciliationRun.business_date, ReconciliationRun.kind).join(
        ReconciliationRun, ReconciliationRun.id == ReconciliationDiscrepancy.run_id)
    if not records:  # a list shows no records: do not read (and parse) them
        query = query.options(defer(ReconciliationDiscrepancy.left_records), defer(ReconciliationDiscrepancy.right_records))
    query = _run_filters(query, run_id=run_id, current_only=current_only, since=since, until=until)
    query = _item_filters(query, category=category, status=status, statuses=statuses)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.order_by(ReconciliationRun.business_date.desc(), ReconciliationDiscrepancy.run_id,
                                          ReconciliationDiscrepancy.seq)
                           .limit(min(limit, PAGE_MAX + 1) if limit else None).offset(offset))
    return [_item(row, business_date, kind, records) for row, business_date, kind in rows], total or 0


def page_discrepancies(session: Session, *, limit: int = 100, after: str | None = None, offset: int = 0,
                       run_id: int | None = None, category: str | None = None, status: str | None = None,
                       statuses: tuple[str, ...] | None = None, since: date | None = None, until: date | None = None,
                       current_only: bool = True, records: bool = False) -> tuple[list[dict], int, str | None]:
    """A page of the discrepancies in list_discrepancies' order, the total and the cursor of the next
    page (None on the last). With ``after`` (a discrepancy_cursor) the page is read by keyset: the
    runs in order, then each run's items from its (run_id, seq) index (status: (run_id, status, seq))
    until the page is full, so a deep page costs what the first does. ``offset`` (deprecated) pages
    the old way."""
    limit = min(limit, PAGE_MAX)
    filters = {"run_id": run_id, "category": category, "status": status, "statuses": statuses, "since": since,
               "until": until, "current_only": current_only, "records": records}
    if offset:
        items, total = list_discrepancies(session, limit=limit + 1, offset=offset, **filters)
        return items[:limit], total, discrepancy_cursor(items[limit - 1]) if len(items) > limit else None
    counted = _item_filters(_run_filters(select(func.count()).select_from(ReconciliationDiscrepancy).join(
        ReconciliationRun, ReconciliationRun.id == ReconciliationDiscrepancy.run_id), run_id=run_id,
        current_only=current_only, since=since, until=until), category=category, status=status, statuses=statuses)
    total = session.scalar(counted) or 0
    runs = _run_filters(select(ReconciliationRun.id, ReconciliationRun.business_date, ReconciliationRun.kind),
                        run_id=run_id, current_only=current_only, since=since, until=until, column=ReconciliationRun.id)
    cursor = None
    if after:
        match = _ITEM_CURSOR.match(after)
        if not match:
            raise BadCursor("not a cursor of this list")
        cursor = (_cursor_date(match[1]), int(match[2]), int(match[3]))
        runs = runs.where(or_(ReconciliationRun.business_date < cursor[0], and_(
            ReconciliationRun.business_date == cursor[0], ReconciliationRun.id >= cursor[1])))
    out: list[dict] = []
    for run_id_, business_date, kind in session.execute(runs.order_by(ReconciliationRun.business_date.desc(),
                                                                      ReconciliationRun.id)):
        query = _item_filters(select(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id == run_id_),
                              category=category, status=status, statuses=statuses)
        if cursor is not None and run_id_ == cursor[1]:
            query = query.where(ReconciliationDiscrepancy.seq > cursor[2])
        if not records:
            query = query.options(defer(ReconciliationDiscrepancy.left_records),
                                  defer(ReconciliationDiscrepancy.right_records))
        for row in session.scalars(query.order_by(ReconciliationDiscrepancy.seq).limit(limit + 1 - len(out))):
            out.append(_item(row, business_date, kind, records))
        if len(out) > limit:
            break
    return out[:limit], total, discrepancy_cursor(out[limit - 1]) if len(out) > limit else None


def get_discrepancy(session: Session, discrepancy_id: int) -> dict | None:
    """One discrepancy with the records on each side and its resolution steps."""
    row = session.get(ReconciliationDiscrepancy, discrepancy_id)
    if row is None:
        return None
    out = discrepancy_dict(row, records=True)
    run = session.get(ReconciliationRun, row.run_id)
    out["business_date"] = run.business_date
    out["kind"] = run.kind
    out["run_status"] = run.status
    out["steps"] = [step_dict(s) for s in steps(session, discrepancy_id)]
    return out


def amounts_by_day(session: Session, *, kind: str | None = None, days: int = 30) -> list[dict]:
    """Matched and unmatched amounts of the current runs, oldest day first (for the chart)."""
    query = select(ReconciliationRun.business_date, func.sum(ReconciliationRun.matched_amount_fen),
                   func.sum(ReconciliationRun.unmatched_amount_fen)).where(ReconciliationRun.status == "current")
    if kind:
        query = query.where(ReconciliationRun.kind == kind)
    rows = session.execute(query.group_by(ReconciliationRun.business_date)
                           .order_by(ReconciliationRun.business_date.desc()).limit(days)).all()
    return [{"business_date": d, "matched_fen": int(m or 0), "unmatched_fen": int(u or 0)} for d, m, u in reversed(rows)]
