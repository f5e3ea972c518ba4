"""Beeldpost: a IIIF image and manifest server for archives."""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Imported lazily so that `server.gunicorn_conf` can set up the environment
    # (the metrics folder) before the app and prometheus_client are imported.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'server' has no attribute {name!r}")
