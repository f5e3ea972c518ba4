"""For crawlers and harvesters: robots.txt, sitemap.xml, and gzip for documents (never
for images) with ETags and 304s that stay right."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from beeldpost import create_app

from support.validator import VALIDATOR_IDENTIFIER
from support.presentation import make_jpeg, write_record

BASE = "http://localhost"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def client(tmp_path, images_dir):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for item in ("alpha", "beta"):
        make_jpeg(images_dir / f"{item}.jpg", 1200, 800)
        write_record(manifests, item)
    app = create_app({"images_dir": images_dir, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "journal_interval": 0})
    app.extensions["beeldpost.journal"].background.join(30)
    app.config["MANIFESTS"] = manifests
    return app.test_client()


def test_robots_allows_everything_and_names_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert "User-agent: *" in lines and "Allow: /" in lines
    assert not any(line.startswith("Disallow: /") for line in lines)
    assert f"Sitemap: {BASE}/sitemap.xml" in lines


def test_robots_uses_the_public_url(tmp_path, images_dir):
    app = create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache",
                      "public_base_url": "https://beeld.archief.example/sub"})
    text = app.test_client().get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: https://beeld.archief.example/sub/sitemap.xml" in text


def sitemap_entries(client) -> dict[str, str | None]:
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{SITEMAP}urlset"
    entries = {}
    for url in root:
        location = url.find(f"{SITEMAP}loc").text
        modified = url.find(f"{SITEMAP}lastmod")
        entries[location] = modified.text if modified is not None else None
    return entries


def test_the_sitemap_lists_item_pages_and_manifests_with_their_last_change(client):
    entries = sitemap_entries(client)
    for item in ("alpha", "beta"):
        for path in (f"/items/{item}", f"/iiif/manifests/{item}", f"/iiif/manifests/{item}/v2"):
            assert entries[f"{BASE}{path}"], path
    assert f"{BASE}/iiif/collection" in entries
    discovery = client.get("/iiif/discovery/page/0").get_json()["orderedItems"]
    alpha = [a["endTime"] for a in discovery
             if a["object"]["id"] == f"{BASE}/iiif/manifests/alpha"]
    assert entries[f"{BASE}/iiif/manifests/alpha"] == alpha[-1]
    for location in entries:
        path = urlsplit(location).path
        if not path.startswith("/items/"):  # item pages are the pages module's to serve
            assert client.get(path).status_code == 200, path


def test_the_sitemap_follows_the_records(client):
    manifests = client.application.config["MANIFESTS"]
    (manifests / "beta.yaml").unlink()
    entries = sitemap_entries(client)
    assert f"{BASE}/iiif/manifests/alpha" in entries
    assert not any("beta" in location for location in entries)


# --------------------------------------------------------------------------- gzip


def test_json_is_gzipped_when_asked_with_its_own_etag(client):
    path = "/iiif/manifests/alpha"
    plain = client.get(path)
    zipped = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert int(zipped.headers["Content-Length"]) == len(zipped.data) < len(plain.data)
    assert "Accept-Encoding" in zipped.headers["Vary"] and "Accept" in zipped.headers["Vary"]
    assert "Accept-Encoding" in plain.headers["Vary"]
    assert zipped.headers["ETag"] == plain.headers["ETag"][:-1] + '-gz"'
    assert zipped.headers["Access-Control-Allow-Origin"] == "*"
    revalidated = client.get(path, headers={"Accept-Encoding": "gzip",
                                            "If-None-Match": zipped.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.data == b""
    assert revalidated.headers["ETag"] == zipped.headers["ETag"]
    assert revalidated.headers["Access-Control-Allow-Origin"] == "*"
    plain_again = client.get(path, headers={"If-None-Match": plain.headers["ETag"]})
    assert plain_again.status_code == 304
    refused = client.get(path, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


@pytest.mark.parametrize("path", [
    "/iiif/manifests/alpha/edm.xml", "/iiif/manifests/alpha/v2", "/iiif/collection",
    "/iiif/manifests/alpha/record.jsonld",
    "/iiif/manifests/alpha/search?q=alinea", "/iiif/discovery/page/0",
])
def test_documents_are_gzipped(client, path):
    response = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data)


def test_images_small_answers_and_errors_are_never_gzipped(client):
    accept = {"Accept-Encoding": "gzip"}
    image = client.get(f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/max/0/default.png", headers=accept)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert "Content-Encoding" not in image.headers
    small = client.get("/robots.txt", headers=accept)
    assert "Content-Encoding" not in small.headers
    missing = client.get("/iiif/manifests/nothing" + "x" * 2000, headers=accept)
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers


def test_head_matches_get(client):
    accept = {"Accept-Encoding": "gzip"}
    get = client.get("/iiif/manifests/alpha", headers=accept)
    head = client.head("/iiif/manifests/alpha", headers=accept)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["ETag"] == get.headers["ETag"]
