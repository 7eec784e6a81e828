"""Every table, imported here so that Alembic and the tests see the whole schema."""
from store.models.guard import Case, RateLimitBucket
from store.models.bus import MessageLogHead, MessageLogRecord, MessageLogSpool, ProcessedMessage, ServiceCall
from store.models.identity import AccountRebinding, CibaRequest, ConsoleSession, EndedSession, IdentityVerification
from store.models.logistics import (CourierBill, CourierBillLine, Shipment, ShipmentLeg, ShipmentLegEvent,
                                    ShipmentTrackingEvent)
from store.models.payment import (PaymentCodeCounter, PaymentConfirmation, PaymentIdempotencyKey, PaymentNotice,
                                  PaymentNoticeEvent, PaymentReceipt, PaymentRefund, PaymentStatement,
                                  PaymentStatementLine)
from store.models.reconciliation import (ReconciliationDiscrepancy, ReconciliationImport, ReconciliationRun,
                                         ReconciliationStep)
from store.models.operations import ConnectorCircuit, OperatorAudit, ParkingSample
from store.models.scheduler import ScheduledRun
from store.models.supervision import (CaseSatisfaction, Complaint, RatedGroup, SatisfactionRollup, SupervisionAlert,
                                      SupervisionCursor, SupervisionRollup, SupervisionStep)

__all__ = [
    "Case", "CaseSatisfaction", "CibaRequest", "Complaint", "ConnectorCircuit", "ConsoleSession", "CourierBill", "CourierBillLine", "EndedSession",
    "IdentityVerification", "MessageLogHead", "MessageLogRecord", "MessageLogSpool", "OperatorAudit", "ParkingSample", "PaymentCodeCounter", "PaymentConfirmation",
    "PaymentIdempotencyKey", "PaymentNotice", "PaymentNoticeEvent", "PaymentReceipt", "PaymentRefund",
    "PaymentStatement", "PaymentStatementLine", "ProcessedMessage", "RateLimitBucket", "RatedGroup", "ReconciliationDiscrepancy",
    "ReconciliationImport", "ReconciliationRun", "ReconciliationStep", "SatisfactionRollup", "ScheduledRun",
    "ServiceCall", "Shipment", "ShipmentLeg", "ShipmentLegEvent", "ShipmentTrackingEvent", "SupervisionAlert",
    "SupervisionCursor", "SupervisionRollup", "SupervisionStep",
]
