"""gunicorn settings for the gateway; every value can be overridden from the environment."""
import os
import tempfile

bind = os.environ.get("GOVLINK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GOVLINK_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GOVLINK_WEB_THREADS", "8"))
timeout = 60
graceful_timeout = 20
accesslog = None  # the app logs each request with its correlation id
errorlog = "-"

# Several worker processes: Prometheus metrics are aggregated through files in one folder.
os.makedirs(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="govlink-metrics-")), exist_ok=True)


def post_worker_init(worker):
    """The app is loaded: its start-up objects leave the cyclic collector's walks (kernel/heap.py)."""
    from kernel.heap import freeze_startup_heap

    freeze_startup_heap()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
