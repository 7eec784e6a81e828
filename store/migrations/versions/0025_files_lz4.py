"""Files kept as received (statements, bills) are compressed with LZ4 on PostgreSQL (issue 18).

A daily statement of ten million lines is some 740 MB. Kept in `reconciliation_imports.raw` with
PostgreSQL's default TOAST compression (pglz) its INSERT took 18.7 and 20.7 s; with LZ4 7.4 and 6.2 s (the
same 742 MiB file, `runs.import_file`, alternating, on a quiet machine). The columns that hold whole files get
LZ4 where the server was built with it (`default_toast_compression` lists it; Debian's and the PGDG packages
are); values already stored keep their compression until rewritten. SQLite has no such setting.

Revision ID: 0025
Revises: 0024
"""
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

FILE_COLUMNS = (("reconciliation_imports", "raw"), ("payment_statements", "raw"), ("courier_bills", "raw"))


def _set(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    statements = "; ".join(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}"
                           for table, column in FILE_COLUMNS)
    op.execute(f"""
DO $$ BEGIN
  IF '{method}' = ANY (SELECT unnest(enumvals) FROM pg_settings WHERE name = 'default_toast_compression') THEN
    {statements};
  END IF;
END $$""")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
