"""gunicorn's worker for Beeldpost: uvicorn's event loop in front of the Flask app.

gunicorn keeps doing what it is good at (the master, worker restarts, signals,
timeouts); the worker speaks HTTP with uvicorn (llhttp, uvloop) and serves the app
through beeldpost.http.asgi.AsgiFront, so the command line stays `beeldpost:create_app()`.

A worker ends with its master. gunicorn's own workers look for a new parent on
every turn of their loop; uvicorn's never do, so a master killed outright (kill -9,
the OOM killer) left its workers serving on, orphaned, holding the port a new
master needs. Here the kernel tells the worker (Linux: PR_SET_PDEATHSIG, SIGTERM,
which ends it gracefully: requests in flight are answered), and elsewhere the worker
looks at each heartbeat.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from uvicorn_worker import UvicornWorker


class BeeldpostWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        # protocol.WorkerProtocol, set in the worker (load_wsgi): gunicorn's master
        # imports this class, and should not import the app with it (Flask, libvips,
        # Pillow: 30 MB of the master's memory for nothing).
        "http": "httptools",
        "interface": "asgi3",
        "lifespan": "off",
        "server_header": False,  # no product name on every answer
        # uvicorn's access log follows gunicorn's `accesslog` (off unless asked for);
        # the app writes its own JSON line per request either way.
    }

    def init_process(self) -> None:
        _end_with_parent()
        if os.getppid() != self.ppid:  # gone before the kernel was told
            self.log.info("Parent changed before start, not starting: %s", self)
            sys.exit(0)
        super().init_process()

    async def callback_notify(self) -> None:
        self.notify()
        if os.getppid() != self.ppid and self.alive:  # where the kernel does not tell
            self.log.info("Parent changed, shutting down: %s", self)
            self.alive = False
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful way out

    def load_wsgi(self) -> None:
        from .asgi import AsgiFront
        from .protocol import WorkerProtocol

        self.config.http = WorkerProtocol
        super().load_wsgi()
        # The app's background work belongs to the server's processes: the catalogue
        # watcher (one of the workers holds its writer lock; the others stand by).
        watcher = self.wsgi.extensions.get("beeldpost.watcher")
        if watcher is not None:
            watcher.start()
        # Requests only read the index: the watcher (here or in `beeldpost watch`)
        # keeps it current, so no request scans the folders.
        self.wsgi.extensions["beeldpost.catalogue"].check_on_request = False
        self.wsgi = AsgiFront(self.wsgi, threads=self.cfg.threads)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent() -> None:
    """Ask the kernel for SIGTERM when the process that forked this one ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: callback_notify looks instead
        pass
