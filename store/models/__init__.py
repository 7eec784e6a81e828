"""Every table, imported here so that Alembic and the tests see the whole schema."""
from store.models.bus import MessageLogHead, MessageLogRecord, ProcessedMessage, ServiceCall
from store.models.identity import CibaRequest, EndedSession, IdentityVerification
from store.models.payment import (PaymentCodeCounter, PaymentConfirmation, PaymentIdempotencyKey, PaymentNotice,
                                  PaymentNoticeEvent, PaymentReceipt, PaymentRefund, PaymentStatement,
                                  PaymentStatementLine)

__all__ = ["CibaRequest", "EndedSession", "IdentityVerification", "MessageLogHead", "MessageLogRecord",
           "PaymentCodeCounter", "PaymentConfirmation", "PaymentIdempotencyKey", "PaymentNotice", "PaymentNoticeEvent",
           "PaymentReceipt", "PaymentRefund", "PaymentStatement", "PaymentStatementLine", "ProcessedMessage", "ServiceCall"]
