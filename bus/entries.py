"""What the bus adds to govlink's processes (collected by `bootstrap.table`): `govlink dlq`, `govlink audit`."""
from bus.cli import COMMANDS  # noqa: F401
