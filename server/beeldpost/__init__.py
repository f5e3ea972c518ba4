"""Beeldpost: a IIIF image and manifest server for archives.

The packages, from the bottom up (each imports only from those below it; tests/
test_layout.py holds them to it):

    settings, errors, etags, counters   the base: what every layer shares
    image/          the image core, protocol-neutral (no HTTP)
    catalogue/      records, transcripts, the Change Discovery journal
    http/           the Image API's HTTP layer and the HTTP rules of every answer
    presentation/   manifests and collections, and their routes
    harvest/, search/, pages/   Change Discovery and records, Content Search, web pages
    app, cli        the application factory and the `beeldpost` command

`beeldpost.create_app` is imported on first use, so that importing a lower package
brings in nothing above it.
"""

__all__ = ["create_app"]


def __getattr__(name: str):
    # Imported lazily so that `beeldpost.http.gunicorn_conf` can set up the environment
    # (the metrics folder) before the app and prometheus_client are imported, and so
    # that importing a lower package (beeldpost.image) does not bring in Flask.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'beeldpost' has no attribute {name!r}")
