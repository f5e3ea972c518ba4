"""The Image API's one HTTP layer (http/image_api.py): every request under /iiif/3/ and
/iiif/2/ is answered there, without Flask, and each answer is planned once."""

from __future__ import annotations

import json
import logging
import time

import pytest

from beeldpost import create_app
from beeldpost.http import image_api
from beeldpost.http.image_api import ImageApi
from beeldpost.http.request_log import access_log
from beeldpost.image import service as image_service
from beeldpost.image.service import ImageService, NotAtHand

from support.pictures import RECORD
from support.requests import HEADER_VARIANTS, IMAGE_REQUESTS, INFO_REQUESTS, V, make_folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory, validator_png):
    return make_folders(tmp_path_factory, validator_png)


def make_app(folders, **overrides):
    images, records, cache = folders
    settings = {"images_dir": images, "manifests_dir": records, "cache_dir": cache,
                "response_cache": False}
    app = create_app({**settings, **overrides})
    assert isinstance(app.wsgi_app, ImageApi)
    return app


def answer(client, path: str, method: str = "GET", headers: dict | None = None):
    response = client.open(path, method=method, headers=headers or {})
    return response.status_code, sorted(response.headers.items()), response.get_data()


@pytest.fixture(scope="module")
def client(folders):
    return make_app(folders).test_client()


@pytest.fixture
def flask_untouched(monkeypatch, client):
    """Fails the test if the Image API layer hands a request on to Flask."""
    layer = client.application.wsgi_app
    handed_on = []
    real = layer.fallback
    monkeypatch.setattr(layer, "fallback", lambda *args: handed_on.append(args) or real(*args))
    yield
    assert not handed_on, "an Image API request reached Flask"


@pytest.mark.parametrize("path", IMAGE_REQUESTS + INFO_REQUESTS)
@pytest.mark.parametrize("headers", HEADER_VARIANTS, ids=lambda h: ",".join(h) or "plain")
def test_head_answers_as_get_without_the_body(client, flask_untouched, path, headers):
    status, listed, body = answer(client, path, headers=headers)
    head_status, head_listed, head_body = answer(client, path, "HEAD", headers)
    assert (head_status, head_listed, head_body) == (status, listed, b"")
    names = dict(listed)
    assert names["Access-Control-Allow-Origin"] == "*"
    if status == 200:
        assert int(names["Content-Length"]) == len(body) > 0
    elif status >= 400:
        assert names["Content-Type"] == "text/plain; charset=utf-8"
        assert body.decode().startswith(f"{status} ") and len(body) < 400


def test_ids_behind_a_proxy(folders):
    client = make_app(folders, public_base_url="https://beeld.example.nl/iiif-server").test_client()
    assert client.get(f"/iiif/3/{V}/info.json").get_json()["id"] == \
        f"https://beeld.example.nl/iiif-server/iiif/3/{V}"
    assert client.get(f"/iiif/2/{V}/info.json").get_json()["@id"] == \
        f"https://beeld.example.nl/iiif-server/iiif/2/{V}"
    link = client.get(f"/iiif/3/{V}/full/max/0/default.jpg").headers["Link"]
    assert link.startswith(f"<https://beeld.example.nl/iiif-server/iiif/3/{V}/full/max/0/default.jpg>")


def test_the_rest_of_the_api_is_answered_here_too(client, flask_untouched):
    redirect = client.get(f"/iiif/3/{V}")
    assert redirect.status_code == 303
    assert redirect.headers["Location"] == f"http://localhost/iiif/3/{V}/info.json"
    assert client.get(f"/iiif/2/{V}/").headers["Location"] == f"http://localhost/iiif/2/{V}/info.json"
    assert client.get("/iiif/3/nothing-here").status_code == 404
    preflight = client.options(f"/iiif/3/{V}/info.json",
                               headers={"Access-Control-Request-Headers": "accept"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert preflight.headers["Access-Control-Allow-Headers"] == "accept"
    refused = client.post(f"/iiif/3/{V}/info.json")
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert client.get(f"/iiif/3/{V}/full/max/0").status_code == 400
    assert client.get(f"/iiif/3/{V}/a/b/c/d/e.jpg").status_code == 404  # unescaped slashes


def test_info_json_follows_a_changed_record(folders):
    """The kept info.json body is keyed on what it says: a new cap shows without a restart."""
    _images, records, _cache = folders
    client = make_app(folders).test_client()
    assert client.get("/iiif/3/capped/info.json").get_json()["width"] == 600
    record = records / "capped.yaml"
    original = record.read_text()
    try:
        record.write_text(RECORD.format(extra="max_size: 400"))
        time.sleep(ImageService.POLICY_SECONDS + 0.2)  # records are re-read after this
        assert client.get("/iiif/3/capped/info.json").get_json()["width"] == 400
    finally:
        record.write_text(original)


def test_requests_are_counted_and_logged(client):
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    access_log.addHandler(handler)
    try:
        client.get(f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg?x=1",
                   headers={"User-Agent": "tester"})
    finally:
        access_log.removeHandler(handler)
    entry = json.loads(lines[-1])
    assert entry["route"] == "iiif3.image" and entry["agent"] == "tester"
    assert entry["path"] == f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg?x=1"
    assert entry["status"] == 200 and entry["bytes"] > 0
    metrics_text = client.get("/metrics").get_data(as_text=True)
    assert 'beeldpost_http_requests_total{method="GET",route="iiif3.image",status="200"}' in metrics_text


def environ(path: str) -> dict:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "RAW_URI": path, "SERVER_NAME": "localhost",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}


def test_a_render_is_planned_once_though_tried_twice(folders, monkeypatch):
    """The event loop's try stops at the render; the thread's goes on from there: the
    request is parsed, its ETag made and the response cache asked once each."""
    app = make_app(folders, response_cache=True)
    layer: ImageApi = app.wsgi_app
    counts = {"parse": 0, "etag": 0, "cache": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(image_api, "parse_image_request",
                        counting("parse", image_api.parse_image_request))
    monkeypatch.setattr(image_service, "strong_etag", counting("etag", image_service.strong_etag))
    cache = layer.images.response_cache
    monkeypatch.setattr(cache, "get", counting("cache", cache.get))
    path = f"/iiif/3/{V}/pct:5,5,40,40/!300,300/0/default.png"  # never kept yet: a render
    layer.images.resolve(V)  # opened, so the first try gets as far as the render
    exchange = layer.exchange(environ(path))
    with pytest.raises(NotAtHand):
        layer.respond(exchange, at_hand=True)
    status, headers, body = layer.respond(exchange)
    assert status == 200 and dict(headers)["X-Beeldpost-Cache"] == "miss"
    assert counts == {"parse": 1, "etag": 1, "cache": 1}
    again = layer.exchange(environ(path))
    status, headers, _ = layer.respond(again, at_hand=True)  # kept now: answered at hand
    assert status == 200 and dict(headers)["X-Beeldpost-Cache"] == "hit"
