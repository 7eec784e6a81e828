"""Alembic environment: the engine comes from store.migrate (never from an ini file)."""
from alembic import context

import store.models  # noqa: F401  (registers every table on Base.metadata)
from store.base import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
