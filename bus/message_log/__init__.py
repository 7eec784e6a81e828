"""The tamper-evident message log (R10): every envelope in and out, chained by SHA-256.

- `chain`: how records are hashed and appended (`append`, `record_hash`);
- `spool`: `MessageLog.record()`, durable on local disk first, in the chain soon after;
- `operator`: operators' actions as `audit` records;
- `verify`: walking the chain with bounded memory, from the start or from an anchor;
- `checkpoint`: sealed checkpoints, so `govlink audit verify` checks only what is new.

Callers that already hold a transaction can call `append(session, ...)` and commit the record
with their change instead of going through the spool.
"""
from bus.message_log.chain import DIRECTIONS, GENESIS, _row, append, record_hash
from bus.message_log.operator import OperatorActionRefused, record_operator_action
from bus.message_log.spool import MessageLog, MessageLogUnavailable, spool_folder
from bus.message_log.verify import Anchor, VerifyReport, verify

__all__ = ["DIRECTIONS", "GENESIS", "Anchor", "MessageLog", "MessageLogUnavailable", "OperatorActionRefused",
           "VerifyReport", "_row", "append", "record_hash", "record_operator_action", "spool_folder", "verify"]
