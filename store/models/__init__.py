"""Every table, imported here so that Alembic and the tests see the whole schema."""
from store.models.bus import MessageLogHead, MessageLogRecord, ProcessedMessage, ServiceCall

__all__ = ["MessageLogHead", "MessageLogRecord", "ProcessedMessage", "ServiceCall"]
