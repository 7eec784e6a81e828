"""Our side of a day, read from the payment and logistics tables into the engine's records.

Each reader is one SQL statement whose rows are already in a record's field order, fetched in
batches and turned into records without a Python call per row (``tuple.__new__`` over the rows).
Times come out of PostgreSQL as UTC epoch seconds. A business day is the Beijing day that ends
at the rules' cut-off (:func:`reconciliation.payments.cutoff_epoch`).

- :func:`payment_ledger` (its SQL: :func:`payment_ledger_query`) payments confirmed and refunds
  completed in the day, and the notices still unpaid (a statement line for one of them is a
  STATUS_MISMATCH, not a LONG);
- :func:`postage_ledger`, :func:`shipment_ledger` the postage payments and booked legs of the
  day, for the three-way logistics reconciliation (R7);
- :func:`courier_bill_lines` the lines of the courier bills imported for the day;
- :func:`read_records` the general form: any SELECT;
- :func:`postgres_ledger` a ledger query (:func:`payment_ledger_query`) for DuckDB to read from
  PostgreSQL itself, through its postgres extension (:mod:`reconciliation.bulk`).

PostgreSQL only (``to_timestamp``, psycopg's ``%(name)s`` parameters), as in production and tests.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial

from sqlalchemy.engine import URL, Connection, Engine

from kernel.errors import CodedError
from reconciliation.duck import sql_literal
from reconciliation.payments import PaymentRules, cutoff_epoch
from reconciliation.records import CourierCharge, LedgerPayment, Shipment

BATCH_ROWS = 100_000
UNPAID_LOOKBACK_DAYS = 90  # an unpaid notice older than this is not expected on a statement
CONNECT_TIMEOUT_SECONDS = 5  # PostgresLedger's own connection, unless the database URL names one


def _epoch(column: str) -> str:
    return f"coalesce(floor(extract(epoch FROM {column}))::bigint, 0)"


def day_bounds(day: date, rules: PaymentRules = PaymentRules()) -> tuple[int, int]:
    """UTC epoch seconds [start, end) of business day ``day``."""
    end = cutoff_epoch(day, rules)
    return end - 86400, end


def read_records(connection: Connection, record_type, sql: str, params: dict | None = None) -> Iterator:
    """Rows of ``sql`` (columns in ``record_type``'s order) as records, in batches."""
    make = partial(tuple.__new__, record_type)
    with _driver(connection).cursor() as cursor:
        cursor.execute(sql, params or None)
        while rows := cursor.fetchmany(BATCH_ROWS):
            yield from map(make, rows)


def _driver(connection: Connection):
    if connection.dialect.name != "postgresql":
        raise RuntimeError("reconciliation reads the ledger from PostgreSQL (set GOVLINK_DATABASE_URL)")
    return connection.connection.driver_connection  # psycopg 3: plain tuples, no ORM rows


POSTGRES_EXTENSION = "postgres_scanner"  # DuckDB's, from the duckdb-extension-postgres-scanner wheel
ATTACHED_AS = "ledger_db"  # PostgreSQL's name in DuckDB


def _extension_path() -> str:
    """The postgres extension built for the DuckDB that runs: DuckDB checks its signature on LOAD."""
    import duckdb
    import duckdb_extension_postgres_scanner as package

    path = os.path.join(os.path.dirname(package.__file__), "extensions", f"v{duckdb.__version__}",
                        f"{POSTGRES_EXTENSION}.duckdb_extension")
    if not os.path.isfile(path):
        raise RuntimeError(f"DuckDB's postgres extension for DuckDB {duckdb.__version__} is not installed "
                           f"(duckdb-extension-postgres-scanner=={duckdb.__version__})")
    return path


def _conninfo_value(value: object) -> str:
    """A libpq connection-string value, quoted (backslash escapes)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class LedgerUnavailable(CodedError, RuntimeError):
    """DuckDB could not attach PostgreSQL for the ledger (down, refusing, or the credentials wrong):
    a condition to retry, not a fault in the day's data (503, Retry-After). `str()` is libpq's reason,
    without the password, for the log; the caller gets `message`."""

    code = "database_unavailable"
    status = 503
    headers = {"Retry-After": "5"}

    def __init__(self, reason: str):
        super().__init__("The database is not available right now; try again shortly.")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class PostgresLedger:
    """A ledger query (its parameters bound) that DuckDB reads straight from PostgreSQL, a million
    rows in about 0.4 s: DuckDB's postgres extension runs it as a binary COPY on a connection of its
    own and decodes the rows into DuckDB's vectors, so no Python runs per row and no value goes
    through text. :meth:`attach` loads the extension (DuckDB refuses a file whose signature is not
    DuckDB's) and attaches the database read-only; the password goes in a temporary secret, which
    DuckDB redacts, so neither it nor the URL is in an error message or a log."""

    url: URL  # SQLAlchemy's: its repr hides the password
    query: str

    def attach(self, con) -> None:
        """Attach the database to DuckDB connection ``con`` (before it is shut in: :func:`duck_session`)."""
        import duckdb

        url, options = self.url, dict(self.url.query)
        fields = {"HOST": url.host, "PORT": url.port, "DATABASE": url.database, "USER": url.username,
                  "PASSWORD": options.pop("password", None) or url.password}
        options.setdefault("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))
        con.execute(f"LOAD {sql_literal(_extension_path())}")
        con.execute("CREATE TEMPORARY SECRET ledger_pg (TYPE postgres, " + ", ".join(
            f"{key} {sql_literal(str(value))}" for key, value in fields.items() if value is not None) + ")")
        conninfo = " ".join(f"{key}={_conninfo_value(value)}" for key, value in sorted(options.items()))
        try:
            con.execute(f"ATTACH {sql_literal(conninfo)} AS {ATTACHED_AS} (TYPE postgres, SECRET ledger_pg, READ_ONLY)")
        except duckdb.IOException as exc:
            raise LedgerUnavailable(f"the ledger's database is not reachable: {exc}") from None

    def rows(self) -> str:
        """The table expression of the ledger's rows, on the attached connection."""
        return f"postgres_query({sql_literal(ATTACHED_AS)}, {sql_literal(self.query)})"


def postgres_ledger(engine: Engine, sql: str, params: dict | None = None) -> PostgresLedger:
    """Ledger query ``sql`` (columns in LedgerPayment's order) on ``engine``'s database, for the bulk
    path. A COPY takes no server-side parameters, so psycopg binds ``params`` on the client
    (:meth:`psycopg.ClientCursor.mogrify`, the escaping of its client-side cursors)."""
    from psycopg import ClientCursor

    with engine.connect() as connection:
        query = ClientCursor(_driver(connection)).mogrify(sql, params or None)
    return PostgresLedger(engine.url, query)


_PAYMENTS = """
SELECT n.payment_code AS payment_code, c.transaction_id AS transaction_id, c.amount_fen AS amount_fen,
       'paid' AS status, c.paid_at AS paid_at
  FROM payment_confirmations c JOIN payment_notices n ON n.id = c.notice_id
 WHERE c.paid_at >= to_timestamp(%(start)s) AND c.paid_at < to_timestamp(%(end)s)
UNION ALL
SELECT n.payment_code, coalesce(r.platform_refund_id, ''), r.amount_fen, 'refunded', r.completed_at
  FROM payment_refunds r JOIN payment_notices n ON n.id = r.notice_id
 WHERE r.status = 'succeeded' AND r.completed_at >= to_timestamp(%(start)s) AND r.completed_at < to_timestamp(%(end)s)
UNION ALL
SELECT n.payment_code, '', n.total_fen, 'unpaid', NULL
  FROM payment_notices n
 WHERE n.status IN ('created', 'registered', 'expired')
   AND n.created_at < to_timestamp(%(end)s) AND n.created_at >= to_timestamp(%(since)s)
   AND (%(platform)s = '' OR n.platform = %(platform)s)
"""

_POSTAGE = f"""
SELECT n.payment_code AS payment_code, c.transaction_id AS transaction_id, c.amount_fen AS amount_fen,
       'paid' AS status, {_epoch('c.paid_at')} AS paid_at
  FROM payment_confirmations c
  JOIN payment_notices n ON n.id = c.notice_id
  JOIN shipment_legs l ON l.payment_notice_id = n.id
 WHERE c.paid_at >= to_timestamp(%(start)s) AND c.paid_at < to_timestamp(%(end)s)
"""

_SHIPMENTS = f"""
SELECT l.waybill_no AS waybill_no, l.carrier AS carrier, l.postage_fen AS quote_fen,
       coalesce(n.payment_code, '') AS postage_code, l.weight_g AS weight_g,
       CASE WHEN l.state = 'cancelled' THEN 'cancelled' ELSE 'booked' END AS status,
       {_epoch('l.booked_at')} AS booked_at
  FROM shipment_legs l LEFT JOIN payment_notices n ON n.id = l.payment_notice_id
 WHERE l.waybill_no IS NOT NULL AND l.booked_at >= to_timestamp(%(start)s) AND l.booked_at < to_timestamp(%(end)s)
   AND (%(carrier)s = '' OR l.carrier = %(carrier)s)
"""

_BILL_LINES = f"""
SELECT b.waybill_no, c.carrier, b.fee_fen, b.surcharge_fen, b.weight_g, b.status, {_epoch('b.billed_at')}, b.line_no
  FROM courier_bill_lines b JOIN courier_bills c ON c.id = b.bill_id
 WHERE b.billed_at >= to_timestamp(%(start)s) AND b.billed_at < to_timestamp(%(end)s)
   AND (%(carrier)s = '' OR c.carrier = %(carrier)s)
"""


def _params(day: date, rules: PaymentRules, **more) -> dict:
    start, end = day_bounds(day, rules)
    return {"start": start, "end": end, "since": start - UNPAID_LOOKBACK_DAYS * 86400, **more}


def payment_ledger_query(day: date, rules: PaymentRules = PaymentRules(), *, platform: str = "") -> tuple[str, dict]:
    """The SQL and parameters of the payment ledger of ``day`` (optionally only one platform's notices):
    LedgerPayment's columns, but ``paid_at`` is the timestamp (NULL for a notice still unpaid), for
    a reader to turn into epoch seconds as it goes (:func:`payment_ledger` here, DuckDB in
    :mod:`reconciliation.bulk`): PostgreSQL's own conversion, through ``numeric``, is a third of
    the cost of sending a million rows."""
    return _PAYMENTS, _params(day, rules, platform=platform)


def payment_ledger(connection: Connection, day: date, rules: PaymentRules = PaymentRules(), *,
                   platform: str = "") -> Iterator[LedgerPayment]:
    """The payment ledger of ``day`` (optionally only one platform's notices)."""
    sql, params = payment_ledger_query(day, rules, platform=platform)
    return read_records(connection, LedgerPayment, f"SELECT {', '.join(LedgerPayment._fields[:-1])}, "
                                                   f"{_epoch('paid_at')} FROM ({sql}) AS day_rows", params)


def postage_ledger(connection: Connection, day: date, rules: PaymentRules = PaymentRules()) -> Iterator[LedgerPayment]:
    """Postage payments of ``day``: payments of notices that pay for a shipment leg."""
    return read_records(connection, LedgerPayment, _POSTAGE, _params(day, rules))


def shipment_ledger(connection: Connection, day: date, rules: PaymentRules = PaymentRules(), *,
                    carrier: str = "") -> Iterator[Shipment]:
    """Legs booked (with a waybill) on ``day``."""
    return read_records(connection, Shipment, _SHIPMENTS, _params(day, rules, carrier=carrier))


def courier_bill_lines(connection: Connection, day: date, rules: PaymentRules = PaymentRules(), *,
                       carrier: str = "") -> Iterator[CourierCharge]:
    """Courier bill lines (of every imported bill) for parcels billed on ``day``."""
    return read_records(connection, CourierCharge, _BILL_LINES, _params(day, rules, carrier=carrier))
