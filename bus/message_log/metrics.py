"""The message log's Prometheus metrics (spool, writer, backlog)."""
from prometheus_client import Counter, Gauge

WRITE_FAILURES = Counter("govlink_message_log_write_failures_total",
                         "Attempts to write spooled records into the chain that failed (retried, never dropped)")
REPLAYED = Counter("govlink_message_log_replayed_total", "Records written from the spool of a process that died")
SLOWED = Counter("govlink_message_log_backpressure_total", "record() calls slowed down because the backlog was full")
OVERFLOW = Counter("govlink_message_log_overflow_total",
                   "record() calls that waited the longest allowed and were spooled beyond the backlog limit")
REJECTED = Counter("govlink_message_log_rejected_total",
                   "Spooled records the chain refused for good; kept in a .rejected file beside the spool")
UNRECORDED = Counter("govlink_message_log_unrecorded_total",
                     "record() calls that could neither spool nor write the record (the caller got an error)")
BACKLOG = Gauge("govlink_message_log_backlog", "Records spooled by this process and not yet in the chain",
                multiprocess_mode="livesum")
