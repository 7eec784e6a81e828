"""The one normalised form every statement and bill is parsed into."""

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

from payment_bridge.errors import StatementError

PAID = "paid"
REFUND = "refund"


@dataclass(frozen=True)
class StatementLine:
    """One money movement as a payment platform reports it.

    ``order_ref`` is the payment code (non-tax statement) or ``out_trade_no``
    (WeChat bill); ``transaction_id`` the platform's or bank's number for it.
    ``amount_fen`` is positive: paid, or refunded when ``status`` is ``refund``.
    ``fee_fen`` is the channel fee, negative when a refund gives a fee back; where the
    platform bills fees in fractions of a fen (WeChat), ``fee_fen`` is rounded half away
    from zero and ``fee_mfen`` keeps the exact fee in thousandths of a fen.
    ``paid_at`` is when the movement happened (for a refund, the refund time),
    aware UTC. ``line_no`` is the 1-based line in the file, for people to find it.
    """

    platform: str
    order_ref: str
    transaction_id: str
    amount_fen: int
    fee_fen: int
    status: str
    paid_at: datetime
    line_no: int
    refund_ref: str | None = None
    fee_mfen: int | None = None  # exact fee in thousandths of a fen; None: exactly fee_fen

    @property
    def exact_fee_mfen(self) -> int:
        """The fee in thousandths of a fen, whichever way the platform gave it."""
        return self.fee_fen * 1000 if self.fee_mfen is None else self.fee_mfen


def sha256_of(raw: bytes) -> str:
    """Hex SHA-256 of a file exactly as received (kept with the import, never re-encoded)."""
    return hashlib.sha256(bytes(raw)).hexdigest()


def numbered_csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """CSV records with the physical line each ends on; trailing blank lines dropped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise StatementError(f"line {reader.line_num}: malformed CSV ({exc})") from None
    while rows and not rows[-1][1]:
        rows.pop()
    return rows
