"""Liveness, readiness, metrics and the structured request log."""

from __future__ import annotations

import json
import logging
import time
import urllib.request

import pytest

from beeldpost import create_app
from beeldpost.counters import Tally

from support.validator import VALIDATOR_IDENTIFIER


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_ready(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"images": "ok", "cache": "ok", "catalogue": "ok"}


def test_not_ready_until_the_catalogue_index_is_made(tmp_path, images_dir, monkeypatch):
    """A server on a fresh archive is ready once its watcher made the index (the first
    full scan), not before: until then its lists would be empty."""
    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache"})
    catalogue = app.extensions["beeldpost.catalogue"]
    catalogue.check_on_request = False  # as served: only the watcher scans
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(app.config["BEELDPOST"].retry_after)
    assert "catalogue index" in response.get_json()["checks"]["catalogue"]
    app.extensions["beeldpost.journal"].scan()
    ready = client.get("/ready")
    assert ready.status_code == 200 and "Retry-After" not in ready.headers


def test_not_ready_names_the_problem(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    app = create_app({"images_dir": tmp_path / "missing", "cache_dir": blocked})
    response = app.test_client().get("/ready")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    checks = response.get_json()["checks"]
    assert "images folder" in checks["images"] and "cache folder" in checks["cache"]


def test_metrics_count_requests_by_route_and_status(client):
    client.get(f"/iiif/3/{VALIDATOR_IDENTIFIER}/info.json")
    client.get("/iiif/3/nothing/info.json")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'beeldpost_http_requests_total{method="GET",route="iiif3.info",status="200"}' in text
    assert 'beeldpost_http_requests_total{method="GET",route="iiif3.info",status="404"}' in text
    assert "beeldpost_http_request_duration_seconds_bucket" in text
    assert "beeldpost_renders_in_flight" in text
    assert 'beeldpost_cache_requests_total{cache="derivative"' in text


def test_one_json_log_line_per_request(client, caplog):
    logger = logging.getLogger("beeldpost.access")
    logger.addHandler(caplog.handler)
    try:
        client.get(f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/10,/0/default.jpg?x=1")
    finally:
        logger.removeHandler(caplog.handler)
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "beeldpost.access"]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["status"] == 200 and entry["method"] == "GET"
    assert entry["route"] == "iiif3.image"
    assert entry["path"].endswith("default.jpg?x=1")
    assert entry["ms"] > 0 and entry["bytes"] > 0


@pytest.mark.live
def test_metrics_add_up_across_gunicorn_workers(live_server):
    for _ in range(20):
        try:
            urllib.request.urlopen(f"{live_server.url}/iiif/3/none/info.json", timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 404

    def counted() -> float:
        with urllib.request.urlopen(f"{live_server.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        lines = [line for line in text.splitlines()
                 if line.startswith("beeldpost_http_requests_total{")
                 and 'route="iiif3.info"' in line and 'status="404"' in line]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    # At least our 20 (the server's own start-up probe adds one), from whichever worker
    # served them: the worker that answers /metrics writes its own counts first, the
    # other's follow within a second (counters.Tally.FLUSH_SECONDS).
    deadline = time.monotonic() + 3 * Tally.FLUSH_SECONDS
    while (found := counted()) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found >= 20
