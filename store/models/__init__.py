"""Every table, imported here so that Alembic and the tests see the whole schema."""
from store.models.guard import Case, RateLimitBucket
from store.models.bus import MessageLogHead, MessageLogRecord, ProcessedMessage, ServiceCall
from store.models.identity import CibaRequest, EndedSession, IdentityVerification
from store.models.logistics import (CourierBill, CourierBillLine, Shipment, ShipmentLeg, ShipmentLegEvent,
                                    ShipmentTrackingEvent)
from store.models.payment import (PaymentCodeCounter, PaymentConfirmation, PaymentIdempotencyKey, PaymentNotice,
                                  PaymentNoticeEvent, PaymentReceipt, PaymentRefund, PaymentStatement,
                                  PaymentStatementLine)
from store.models.reconciliation import (ReconciliationDiscrepancy, ReconciliationImport, ReconciliationRun,
                                         ReconciliationStep)
from store.models.scheduler import ScheduledRun
from store.models.supervision import CaseSatisfaction, Complaint, SupervisionAlert, SupervisionCursor, SupervisionStep

__all__ = [
    "Case", "RateLimitBucket", "CaseSatisfaction", "CibaRequest", "Complaint", "CourierBill", "CourierBillLine", "EndedSession",
    "IdentityVerification", "MessageLogHead", "MessageLogRecord", "PaymentCodeCounter", "PaymentConfirmation",
    "PaymentIdempotencyKey", "PaymentNotice", "PaymentNoticeEvent", "PaymentReceipt", "PaymentRefund",
    "PaymentStatement", "PaymentStatementLine", "ProcessedMessage", "ReconciliationDiscrepancy", "ReconciliationImport",
    "ReconciliationRun", "ReconciliationStep", "ScheduledRun", "ServiceCall", "Shipment", "ShipmentLeg",
    "ShipmentLegEvent", "ShipmentTrackingEvent", "SupervisionAlert", "SupervisionCursor", "SupervisionStep",
]
