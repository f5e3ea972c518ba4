"""gunicorn's worker for Beeldpost: uvicorn's event loop in front of the Flask app.

gunicorn keeps doing what it is good at (the master, worker restarts, signals,
timeouts); the worker speaks HTTP with uvicorn (llhttp, uvloop) and serves the app
through beeldpost.http.asgi.AsgiFront, so the command line stays `beeldpost:create_app()`.
"""

from __future__ import annotations

from uvicorn_worker import UvicornWorker

from .asgi import AsgiFront
from .protocol import WorkerProtocol


class BeeldpostWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": WorkerProtocol,
        "interface": "asgi3",
        "lifespan": "off",
        "server_header": False,  # no product name on every answer
        # uvicorn's access log follows gunicorn's `accesslog` (off unless asked for);
        # the app writes its own JSON line per request either way.
    }

    def load_wsgi(self) -> None:
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
