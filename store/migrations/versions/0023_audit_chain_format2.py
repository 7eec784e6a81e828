"""The message log's chain format per record (issue 18): format 2 hashes a length-prefixed binary row.

Format 1 hashed the record's columns as JSON, which PostgreSQL could only rebuild with `to_json` per
column and `to_char` of the time: most of a full verification's time. Format 2 (bus/message_log/chain.py)
is `sha256(record_send(ROW(...)))`. `message_log.chain_format` says which one each record was hashed
with; existing records are format 1 (the column's default: a catalogue change, no table rewrite) and
are never re-hashed, since re-writing a chain is what the log exists to detect. New records are
written in format 2, and format 2 hashes its own marker, so changing a record's marker breaks its hash.

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("message_log", sa.Column("chain_format", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    # Format-2 records cannot be verified by the code before 0023: refuse rather than leave them unverifiable.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM message_log WHERE chain_format <> 1")).scalar():
        raise RuntimeError("message_log holds format-2 records: the code before 0023 cannot verify them")
    with op.batch_alter_table("message_log") as batch:
        batch.drop_column("chain_format")
