"""What the connectors add to govlink's processes (collected by `bootstrap.table`)."""
from connectors.cli import COMMANDS  # noqa: F401  (`govlink connectors check|describe`)


def _connectors_worker(runtime, args):
    from connectors.worker import worker

    return worker(runtime, args)


WORKERS = {"connectors": _connectors_worker}  # `govlink worker connectors [SERVICE...]`
