"""Every table, imported here so that Alembic and the tests see the whole schema."""
from store.models.bus import MessageLogRecord, ProcessedMessage

__all__ = ["MessageLogRecord", "ProcessedMessage"]
