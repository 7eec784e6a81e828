"""The supervision check reads the steps it has work for (issue 18).

The check took every open, not yet escalated step past its due time, oldest first, up to 5,000, by the
(ended_at, escalated_at) index: the whole set sorted each minute. A step already warned waits open until its
escalation limit, so the check re-read those every minute with nothing to do for them; with more of them than
the limit, a step newly past due was never reached and its warning came late. Two partial indexes hold the
open steps still to warn (by due_at) and still to escalate (by escalate_at); the check reads both, and the
old index, which only it used, is dropped.

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TO_WARN = sa.text("ended_at IS NULL AND warned_at IS NULL")
TO_ESCALATE = sa.text("ended_at IS NULL AND escalated_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_supervision_steps_to_warn", "supervision_steps", ["due_at"],
                    postgresql_where=TO_WARN, sqlite_where=TO_WARN)
    op.create_index("ix_supervision_steps_to_escalate", "supervision_steps", ["escalate_at"],
                    postgresql_where=TO_ESCALATE, sqlite_where=TO_ESCALATE)
    op.drop_index("ix_supervision_steps_open", table_name="supervision_steps")


def downgrade() -> None:
    op.create_index("ix_supervision_steps_open", "supervision_steps", ["ended_at", "escalated_at"])
    op.drop_index("ix_supervision_steps_to_escalate", table_name="supervision_steps")
    op.drop_index("ix_supervision_steps_to_warn", table_name="supervision_steps")
