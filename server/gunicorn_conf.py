"""Production gunicorn settings (used by `beeldpost serve` and `make run`).

Threads rather than more processes: libvips releases the GIL while it decodes
and encodes, so a thread waiting on one tile does not hold up another, and each
process keeps one set of opened pyramid levels.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("BEELDPOST_THREADS", "4"))
timeout = int(os.environ.get("BEELDPOST_TIMEOUT", "60"))
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("BEELDPOST_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("BEELDPOST_LOG_LEVEL", "info")
# Requests lines beyond this are refused by gunicorn itself with a 400.
limit_request_line = 8190
