"""The lean WSGI path answers exactly as the Flask blueprints it stands in front of."""

from __future__ import annotations

import json
import logging
import time

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from server import create_app
from server.fast_path import ImageApiFastPath
from server.images import ImageService
from server.request_log import access_log

from conftest import VALIDATOR_IDENTIFIER
from test_public_cap import RECORD, textured

V = VALIDATOR_IDENTIFIER


def make_folders(tmp_path_factory, validator_png):
    """Images (a plain one, a rights-capped one, one with a space) and their records."""
    root = tmp_path_factory.mktemp("fast")
    images, records = root / "images", root / "manifests"
    images.mkdir()
    records.mkdir()
    textured(1200, 800).jpegsave(str(images / "capped.jpg"), Q=90)
    (images / validator_png.name).write_bytes(validator_png.read_bytes())
    (images / "een foto.png").write_bytes(validator_png.read_bytes())
    (records / "capped.yaml").write_text(RECORD.format(extra="max_size: 600"))
    return images, records, root / "cache"


@pytest.fixture(scope="module")
def folders(tmp_path_factory, validator_png):
    return make_folders(tmp_path_factory, validator_png)


def both_paths(folders, **overrides):
    images, records, cache = folders
    # The response cache would turn the second path's render into a hit (and say so).
    settings = {"images_dir": images, "manifests_dir": records, "cache_dir": cache,
                "response_cache": False}
    app = create_app({**settings, **overrides})
    assert isinstance(app.wsgi_app, ImageApiFastPath)
    return app.test_client(), Client(app.wsgi_app.fallback, Response)


def answer(client, path: str, method: str = "GET", headers: dict | None = None):
    response = client.open(path, method=method, headers=headers or {})
    return response.status_code, sorted(response.headers.items()), response.get_data()


IMAGE_REQUESTS = [
    f"/iiif/3/{V}/full/max/0/default.jpg",
    f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg",  # one stored tile, served as stored
    f"/iiif/2/{V}/0,0,512,512/256,/0/default.png",
    f"/iiif/3/{V}/square/!100,80/90/gray.webp",
    f"/iiif/2/{V}/pct:10,10,50,50/pct:20/!45/bitonal.gif",
    "/iiif/3/capped/full/max/0/default.jpg",  # rights-capped: 600 px public image
    "/iiif/3/capped/0,0,256,256/256,/0/default.jpg",
    "/iiif/2/capped/full/full/0/color.jpg",
    "/iiif/3/een%20foto/full/64,/0/default.jpg",  # escaped identifier
    # errors: bad grammar, unknown image, unsupported format, beyond the cap, bad UTF-8
    f"/iiif/3/{V}/full/full/0/default.jpg",
    f"/iiif/3/{V}/0,0,0,0/max/0/default.jpg",
    "/iiif/3/nothing-here/full/max/0/default.jpg",
    f"/iiif/3/{V}/full/max/0/default.jp2",
    "/iiif/3/capped/full/^1200,/0/default.jpg",
    "/iiif/3/%ff%fe/full/max/0/default.jpg",
    f"/iiif/2/{V}/full/full/0/default.jpg?junk=1&x",
]

INFO_REQUESTS = [f"/iiif/3/{V}/info.json", f"/iiif/2/{V}/info.json", "/iiif/3/capped/info.json",
                 "/iiif/2/capped/info.json", "/iiif/3/een%20foto/info.json",
                 "/iiif/3/nothing-here/info.json"]

HEADER_VARIANTS = [
    {},
    {"Accept": "application/ld+json"},
    {"Accept-Encoding": "gzip, deflate"},
    {"Accept-Encoding": "gzip;q=0"},
    {"Host": "archief.example.nl:80"},
    {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
    {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    {"If-None-Match": "*"},
    {"If-None-Match": 'W/"weak", "nope"'},
]


@pytest.mark.parametrize("path", IMAGE_REQUESTS + INFO_REQUESTS)
@pytest.mark.parametrize("headers", HEADER_VARIANTS, ids=lambda h: ",".join(h) or "plain")
def test_same_answer_as_flask(folders, path, headers):
    fast, flask = both_paths(folders)
    expected = answer(flask, path, headers=headers)
    assert answer(fast, path, headers=headers) == expected
    assert answer(fast, path, "HEAD", headers) == answer(flask, path, "HEAD", headers)


@pytest.mark.parametrize("path", IMAGE_REQUESTS[:9] + INFO_REQUESTS[:5])
@pytest.mark.parametrize("gzip", [False, True])
def test_same_revalidation_as_flask(folders, path, gzip):
    """A client sending back the ETag it got (plain or gzipped twin) gets the same 304."""
    fast, flask = both_paths(folders)
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    etag = dict(answer(flask, path, headers=headers)[1])["ETag"]
    headers["If-None-Match"] = etag
    status, *_ = expected = answer(flask, path, headers=headers)
    assert status == 304
    assert answer(fast, path, headers=headers) == expected


def test_same_ids_behind_a_proxy(folders):
    fast, flask = both_paths(folders, public_base_url="https://beeld.example.nl/iiif-server")
    for path in (f"/iiif/3/{V}/info.json", f"/iiif/2/{V}/info.json",
                 f"/iiif/3/{V}/full/max/0/default.jpg"):
        expected = answer(flask, path)
        assert answer(fast, path) == expected
        assert "https://beeld.example.nl/iiif-server/iiif/" in str(expected)


def test_other_requests_go_to_flask(folders):
    fast, _ = both_paths(folders)
    redirect = fast.get(f"/iiif/3/{V}")
    assert redirect.status_code == 303 and redirect.headers["Location"].endswith("/info.json")
    assert fast.options(f"/iiif/3/{V}/info.json").headers["Access-Control-Allow-Methods"]
    assert fast.post(f"/iiif/3/{V}/info.json").status_code == 405
    assert fast.get(f"/iiif/3/{V}/full/max/0").status_code == 400


def test_info_json_follows_a_changed_record(folders):
    """The kept info.json body is keyed on what it says: a new cap shows without a restart."""
    _images, records, _cache = folders
    fast, _ = both_paths(folders)
    assert fast.get("/iiif/3/capped/info.json").get_json()["width"] == 600
    record = records / "capped.yaml"
    original = record.read_text()
    try:
        record.write_text(RECORD.format(extra="max_size: 400"))
        time.sleep(ImageService.POLICY_SECONDS + 0.2)  # records are re-read after this
        assert fast.get("/iiif/3/capped/info.json").get_json()["width"] == 400
    finally:
        record.write_text(original)


def test_requests_are_counted_and_logged(folders):
    fast, _ = both_paths(folders)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    access_log.addHandler(handler)
    try:
        fast.get(f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg?x=1",
                 headers={"User-Agent": "tester"})
    finally:
        access_log.removeHandler(handler)
    entry = json.loads(lines[-1])
    assert entry["route"] == "iiif3.image" and entry["agent"] == "tester"
    assert entry["path"] == f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg?x=1"
    assert entry["status"] == 200 and entry["bytes"] > 0
    metrics_text = fast.get("/metrics").get_data(as_text=True)
    assert 'beeldpost_http_requests_total{method="GET",route="iiif3.image",status="200"}' in metrics_text
