"""For crawlers and harvesters: robots.txt, sitemap.xml, and gzip for documents (never
for images) with ETags and 304s that stay right."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from beeldpost import create_app

from support.validator import VALIDATOR_IDENTIFIER
from support.postgres import BACKENDS, settings_for
from support.presentation import make_jpeg, record_data, write_record

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
    app.extensions["beeldpost.journal"].scan()
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


def parsed(client, path: str, tag: str) -> ET.Element:
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "application/xml", path
    root = ET.fromstring(response.data)
    assert root.tag == f"{SITEMAP}{tag}"
    return root


def sitemaps(client) -> list[tuple[str, str | None]]:
    """(location, lastmod) of each sitemap in the index."""
    index = parsed(client, "/sitemap.xml", "sitemapindex")
    found = []
    for entry in index:
        modified = entry.find(f"{SITEMAP}lastmod")
        found.append((entry.find(f"{SITEMAP}loc").text,
                      modified.text if modified is not None else None))
    return found


def sitemap_entries(client) -> dict[str, str | None]:
    """Every URL of every sitemap the index lists, with its lastmod."""
    entries = {}
    for location, _modified in sitemaps(client):
        for url in parsed(client, urlsplit(location).path, "urlset"):
            place = url.find(f"{SITEMAP}loc").text
            assert place not in entries, f"{place} is listed twice"
            modified = url.find(f"{SITEMAP}lastmod")
            entries[place] = modified.text if modified is not None else None
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


@pytest.fixture(scope="module", params=BACKENDS)
def archive(request, tmp_path_factory, validator_png):
    """A few hundred published items, and sitemaps of at most 100 URLs (33 items) each."""
    root = tmp_path_factory.mktemp("sitemap-archive")
    images, manifests = root / "images", root / "manifests"
    images.mkdir()
    manifests.mkdir()
    for number in range(250):
        item = f"stuk-{number:03d}"
        make_jpeg(images / f"{item}.jpg", 320, 240)
        write_record(manifests, item, record_data(item, people=None))
    app = create_app({"images_dir": images, "manifests_dir": manifests, "cache_dir": root / "cache",
                      "journal_interval": 0, "sitemap_urls": 100,
                      **settings_for(request, request.param, root / "cache")})
    app.extensions["beeldpost.journal"].scan()
    return app.test_client()


def test_the_sitemap_index_splits_the_archive_into_sitemaps_of_bounded_size(archive):
    listed = sitemaps(archive)
    assert len(listed) == 8  # 250 items of 3 URLs and the collection, 33 items a sitemap
    assert [urlsplit(location).path for location, _ in listed] == \
        [f"/sitemap/{number}.xml" for number in range(8)]
    every = {}
    for number, (location, modified) in enumerate(listed):
        urls = parsed(archive, urlsplit(location).path, "urlset")
        assert len(urls) <= 100
        dates = [url.find(f"{SITEMAP}lastmod").text for url in urls]
        assert all(dates) and modified == max(dates)  # each sitemap's lastmod is its latest
        for url in urls:
            every[url.find(f"{SITEMAP}loc").text] = number
    assert len(every) == 250 * 3 + 1
    assert every[f"{BASE}/iiif/collection"] == 0
    assert every[f"{BASE}/items/stuk-000"] == 0 and every[f"{BASE}/items/stuk-249"] == 7
    assert archive.get("/sitemap/8.xml").status_code == 404
    assert archive.get("/sitemap/x.xml").status_code == 404


def test_the_sitemaps_size_is_a_setting_within_the_protocol():
    from beeldpost.settings import Settings

    assert Settings.from_env({}).sitemap_urls == 5_000
    with pytest.raises(ValueError, match="BEELDPOST_SITEMAP_URLS"):
        Settings.from_env({"BEELDPOST_SITEMAP_URLS": "50001"})


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
