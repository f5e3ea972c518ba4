"""Liveness, readiness and metrics endpoints for operators and orchestrators."""

from __future__ import annotations

import os
import tempfile

from flask import Blueprint, current_app, g, jsonify

from ..errors import BeeldpostError
from .metrics import metrics_response


def _check_images(folder) -> str | None:
    # Readable, without reading its names (100,000 of them in an archive).
    try:
        os.stat(folder)
    except OSError as error:
        return f"images folder {folder} is not readable: {error.strerror}"
    if not os.access(folder, os.R_OK | os.X_OK):
        return f"images folder {folder} is not readable: permission denied"
    return None


def _check_cache(folder) -> str | None:
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-"):
            pass
    except OSError as error:
        return f"cache folder {folder} is not writable: {error.strerror}"
    return None


def _check_catalogue() -> str | None:
    catalogue = current_app.extensions["beeldpost.catalogue"]
    try:
        if not catalogue.is_built():
            return "the catalogue index is being made from the records for the first time"
    except BeeldpostError as error:
        return error.message
    return None


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("health", __name__)

    @blueprint.before_request
    def _label():
        g.route = "operations"

    @blueprint.get("/health")
    def health():
        """The process answers: nothing more is checked (liveness)."""
        return jsonify(status="ok")

    @blueprint.get("/ready")
    def ready():
        """The server can do its work: images readable, cache writable, buckets reachable
        (readiness)."""
        settings = current_app.config["BEELDPOST"]
        # A bucket: reachable and there (one cheap request, its answer kept a second).
        buckets = current_app.extensions["beeldpost.images"].storage_problems()
        problems = {
            "images": buckets["images"] if "images" in buckets else _check_images(settings.images_dir),
            "cache": buckets["cache"] if "cache" in buckets else _check_cache(settings.cache_dir),
            "catalogue": _check_catalogue(),
        }
        if buckets:  # the local files that work with buckets: builds, the journal, locks
            problems["scratch"] = _check_cache(settings.scratch_dir)
        failing = {name: problem for name, problem in problems.items() if problem}
        body = {"status": "unavailable" if failing else "ready",
                "checks": {name: problem or "ok" for name, problem in problems.items()}}
        response = jsonify(body)
        response.status_code = 503 if failing else 200
        response.headers["Cache-Control"] = "no-store"
        if failing:  # as every 503: when to ask again (a store comes back, a scan ends)
            response.headers["Retry-After"] = str(settings.retry_after)
        return response

    @blueprint.get("/metrics")
    def metrics():
        return metrics_response()

    return blueprint
