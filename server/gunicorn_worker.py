"""gunicorn's worker for Beeldpost: uvicorn's event loop in front of the Flask app.

gunicorn keeps doing what it is good at (the master, worker restarts, signals,
timeouts); the worker speaks HTTP with uvicorn (llhttp, uvloop) and serves the app
through server.asgi.AsgiFront, so the command line stays `server:create_app()`.
"""

from __future__ import annotations

from uvicorn_worker import UvicornWorker

from .asgi import AsgiFront


class BeeldpostWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "interface": "asgi3",
        "lifespan": "off",
        "server_header": False,  # no product name on every answer
        # uvicorn's access log follows gunicorn's `accesslog` (off unless asked for);
        # the app writes its own JSON line per request either way.
    }

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = AsgiFront(self.wsgi, threads=self.cfg.threads)
