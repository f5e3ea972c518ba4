"""Production gunicorn settings (used by `beeldpost serve` and `make run`).

Each worker runs an event loop for HTTP and answers tiles that are stored bytes
there (gunicorn_worker.py, asgi.py); renders and the rest of the app
run on its threads. Threads rather than more processes: libvips releases the GIL
while it decodes and encodes, so a thread waiting on one render does not hold up
another, and each process keeps one set of opened pyramid levels.
"""

import os
import shutil
import tempfile

from beeldpost.image.admission import renders_per_worker
from beeldpost.settings import ServerSettings

_settings = ServerSettings.from_env()
bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "beeldpost.http.gunicorn_worker.BeeldpostWorker"
# Threads per worker for renders and pages. Enough that slow answers (heavy renders held
# by admission control, mid-size derivatives, which it does not bound) cannot take them
# all: a thumbnail waiting for a free thread waits behind a render. With 8, the soak's tiles waited 1.5 s at the median
# behind thumbnails; with 24, 0.17 s, and tile throughput was unchanged (bench/README.md).
threads = _settings.threads
# Parallelism comes from workers and threads; libvips' own thread pool per render would
# only fight them for the same two cores. Read by libvips when a worker imports it.
os.environ.setdefault("VIPS_CONCURRENCY", str(_settings.vips_concurrency))
# Renders of more than a few tiles at once, per worker: its share of the cores
# (image/service.py, SLOTTED_RENDER_PIXELS). admission.py imports no libvips.
os.environ.setdefault("BEELDPOST_RENDERS_PER_WORKER", str(renders_per_worker(workers)))
timeout = _settings.timeout
graceful_timeout = 10
# Seconds an idle keep-alive connection stays open. uvicorn starts counting when a
# response is handed to the socket, not when the client has read it: a whole image
# to a busy client can take seconds to drain, and a short limit then closes the
# connection under the client's next request (wrk saw read errors with 5).
# Idle connections cost an event loop next to nothing.
keepalive = 30
# The app writes one JSON line per request itself (request_log.py); gunicorn's
# own access log is off unless asked for.
accesslog = _settings.access_log
errorlog = "-"
loglevel = _settings.log_level
# Request heads are bounded by the worker's protocol instead (gunicorn_worker.py:
# 64 KB of request line and headers, 100 fields, else 431).

# Metrics from all workers are added up from files in this folder (prometheus-client's
# multiprocess mode); it must be set before any worker imports prometheus_client.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="beeldpost-metrics-")
)


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
