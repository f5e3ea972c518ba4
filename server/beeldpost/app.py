"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

from flask import Flask

from .access import decision
from .access.gate import Gate
from .catalogue.journal import CatalogueDatabase, Journal, journal_database
from .catalogue.lookups import IndexLookups
from .catalogue.watcher import Watcher
from .catalogue.records import RecordStore
from .catalogue.store import Catalogue
from .harvest import discovery, edm
from .harvest import sitemap as harvest
from .http import cdn, compression, health, metrics, request_log
from .http.image_api import ImageApi
from .http.responses import add_cors, install_error_handlers
from .image.service import ImageService
from .pages import views as pages
from .presentation.routes import make_blueprint as make_presentation_blueprint
from .search import content_search as search
from .settings import Settings


def create_app(config: Settings | Mapping[str, object] | None = None) -> Flask:
    """Build the app from Settings, a mapping of setting overrides, or the environment."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env()
        if config:
            settings = settings.with_overrides(**dict(config))

    # Pages' styles and scripts are served as the app's static files (/static/...).
    app = Flask(__name__, static_folder="pages/static")
    app.config["BEELDPOST"] = settings
    app.config["DEBUG"] = settings.debug
    # `//` and trailing slashes are part of what a client asked; never rewrite them.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    # Change Discovery (what changed in the records) and the catalogue index, in one
    # database kept across restarts; requests read them through the Catalogue.
    journal = make_journal(settings)
    images, records = journal.images, journal.records
    catalogue = Catalogue(journal, records, images, settings.collection_size)
    app.extensions["beeldpost.images"] = images
    app.extensions["beeldpost.records"] = records
    app.extensions["beeldpost.journal"] = journal
    app.extensions["beeldpost.catalogue"] = catalogue
    # Who is asking: sessions, tokens, staff accounts, the reading room (access/).
    gate = Gate(settings, journal.db)
    app.extensions["beeldpost.gate"] = gate

    app.register_blueprint(make_presentation_blueprint())

    app.register_blueprint(health.make_blueprint())
    # Web pages (collection, item pages with Mirador / UV, embed, oEmbed) and framing rules.
    pages.install(app)
    # Harvesting and search: Change Discovery, EDM / JSON-LD records, Presentation 2.1,
    # Content Search 1.0 and 2.0, sitemap.xml and robots.txt.
    for module in (discovery, edm, search, harvest):
        app.register_blueprint(module.make_blueprint())

    # after_request hooks run in reverse order: CORS first, then metrics, then the log line.
    request_log.install(app)
    decision.install_log()  # one JSON line per access decision for an image that is not open
    metrics.install(app)
    app.after_request(add_cors)
    cdn.install(app)  # tags for purging one item from a shared cache
    compression.install(app)  # runs before the hooks above: the log counts gzipped bytes
    install_error_handlers(app)
    if not app.debug:
        logging.getLogger("beeldpost").setLevel(logging.INFO)
    # The Image API (everything under /iiif/3/ and /iiif/2/) is answered in front of
    # Flask, from the WSGI environ: http/image_api.py.
    app.wsgi_app = ImageApi(images, catalogue, settings.public_base_url, app.wsgi_app, gate)
    # What keeps the catalogue current: in the server, the watcher, started by one
    # process (gunicorn_worker.py; it first scans for what changed while it was down),
    # or `beeldpost watch` on its own; an app that no watcher keeps current checks for
    # changes when it is asked (Catalogue.check_on_request).
    if settings.watch:
        app.extensions["beeldpost.watcher"] = Watcher(
            journal.scan, watched_folders(settings),
            settings.local_cache_dir / "catalogue-writer.lock", settings.scan_interval,
            due=journal.listing_due)
    return app


def watched_folders(settings: Settings) -> list[Path]:
    """The folders file events come from: a bucket sends none (its periodic scan lists it)."""
    return [folder for folder in (settings.manifests_dir, settings.images_dir)
            if isinstance(folder, Path)]


def make_journal(settings: Settings) -> Journal:
    """The catalogue's parts as every process makes them (the server, `beeldpost watch`,
    `beeldpost journal`): its database; the index lookups that the image service and
    the record store are given, so that images and records are found where the index
    says; and the journal, which keeps the index current."""
    database = CatalogueDatabase(journal_database(settings))
    lookups = IndexLookups(database)
    images = ImageService(settings, lookups)
    records = make_record_store(settings, images, lookups)
    return Journal(database, records, images, settings.journal_interval)


def make_record_store(settings: Settings, images: ImageService,
                      lookups: IndexLookups | None = None) -> RecordStore:
    """Records checked against the images as the image service serves them (found where
    the index says, with `lookups`; else by walking the records folder)."""

    def image_size(identifier: str) -> tuple[int, int]:
        resolved = images.resolve(identifier, checking=True)
        # Records place people on the canvas, which keeps the full image's coordinates.
        return resolved.full_width, resolved.full_height

    return RecordStore(settings.manifests_dir, image_size,
                       lookups.record_files if lookups is not None else None)
