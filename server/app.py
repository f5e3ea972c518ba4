"""The application factory."""

from __future__ import annotations

import logging
from typing import Mapping

from flask import Flask

from .config import Settings
from .image_api import VERSION_2, VERSION_3, make_blueprint
from .fast_path import ImageApiFastPath
from .images import ImageService
from .presentation_api import make_blueprint as make_presentation_blueprint
from .records import RecordStore
from . import health, metrics, pages, request_log
from . import compression, discovery, edm, harvest, presentation2, search
from .journal import Journal, journal_path
from .responses import add_cors, install_error_handlers


def create_app(config: Settings | Mapping[str, object] | None = None) -> Flask:
    """Build the app from Settings, a mapping of setting overrides, or the environment."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env()
        if config:
            settings = settings.with_overrides(**dict(config))

    app = Flask(__name__)
    app.config["BEELDPOST"] = settings
    app.config["DEBUG"] = settings.debug
    # `//` and trailing slashes are part of what a client asked; never rewrite them.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    images = ImageService(settings)
    records = make_record_store(settings, images)
    # info.json (3.0) states the rights of the item showing the image.
    images.rights_for = records.rights_for_image
    # A record's size cap and limits shape its image's public service.
    images.policy_for = records.policy_for_image
    app.extensions["beeldpost.images"] = images
    app.extensions["beeldpost.records"] = records
    # Change Discovery: what changed in the records, kept in SQLite across restarts.
    journal = Journal(journal_path(settings), records, images, settings.journal_interval)
    app.extensions["beeldpost.journal"] = journal

    app.register_blueprint(make_blueprint(VERSION_3))
    app.register_blueprint(make_blueprint(VERSION_2))
    app.register_blueprint(make_presentation_blueprint())

    app.register_blueprint(health.make_blueprint())
    # Web pages (collection, item pages with Mirador / UV, embed, oEmbed) and framing rules.
    pages.install(app)
    # Harvesting and search: Change Discovery, EDM / JSON-LD records, Presentation 2.1,
    # Content Search 1.0 and 2.0, sitemap.xml and robots.txt.
    for module in (discovery, edm, presentation2, search, harvest):
        app.register_blueprint(module.make_blueprint())

    # after_request hooks run in reverse order: CORS first, then metrics, then the log line.
    request_log.install(app)
    metrics.install(app)
    app.after_request(add_cors)
    compression.install(app)  # runs before the hooks above: the log counts gzipped bytes
    install_error_handlers(app)
    if not app.debug:
        logging.getLogger("server").setLevel(logging.INFO)
    # info.json and image requests skip Flask's machinery (same answers; fast_path.py).
    app.wsgi_app = ImageApiFastPath(images, settings.public_base_url, app.wsgi_app)
    # Changes made while the server was down are journalled at start, off the request path.
    journal.scan_in_background()
    return app


def make_record_store(settings: Settings, images: ImageService) -> RecordStore:
    """Records checked against the images as the image service serves them."""

    def image_size(identifier: str) -> tuple[int, int]:
        resolved = images.resolve(identifier)
        # Records place people on the canvas, which keeps the full image's coordinates.
        return resolved.full_width, resolved.full_height

    return RecordStore(settings.manifests_dir, image_size)
