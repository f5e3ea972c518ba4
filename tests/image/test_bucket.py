"""Sources, pyramids and rendered answers in buckets of a real S3-compatible store
(SeaweedFS): the same answers as from folders, a stored tile one ranged GET, no request
downloading a pyramid, one build across servers, nothing half-written ever visible,
and a server that rides out storage going away and heals when it comes back."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from beeldpost import create_app
from beeldpost.image.bucket import BucketDerivatives, BuildPending
from beeldpost.image.service import ImageService
from beeldpost.settings import S3Url, Settings

from support.live import LiveServer
from support.paths import REPO
from support.pictures import textured

TILE = "/iiif/3/photo/256,256,256,256/256,/0/default.jpg"  # one stored tile
RENDERS = [  # each reads a small part of the pyramid
    "/iiif/3/photo/full/400,/0/default.jpg",
    "/iiif/3/photo/1000,1000,1024,1024/512,/0/default.jpg",
    "/iiif/3/photo/square/200,/90/gray.png",
    "/iiif/3/photo/pct:40,40,10,10/max/0/default.webp",
]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A photo-sized source: a 4000×3000 JPEG with fine detail everywhere."""
    path = tmp_path_factory.mktemp("bucket-photo") / "photo.jpg"
    textured(4000, 3000).jpegsave(str(path), Q=90)
    return path


def make_app(tmp_path: Path, images, cache, known: dict[str, str] | None = None, **settings):
    """An app on these places whose catalogue scans once, on its first request (the
    scan lists a bucket; requests never do). `known`: the content hashes the catalogue
    hands the image core (what its scan stored), by identifier."""
    app = create_app({"images_dir": images, "cache_dir": cache, "scratch_dir": tmp_path / "scratch",
                      "manifests_dir": tmp_path / "manifests", "watch": False,
                      "journal_interval": 3600, **settings})
    if known is not None:  # (a stand-in for the index's answer)
        app.extensions["beeldpost.images"].lookups.stored_hash = \
            lambda source: known.get(source.identifier)
    return app


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def in_buckets(s3_env, photo, tmp_path):
    """An app whose images and cache are buckets, the photo in a folder of the first."""
    sources, cache = s3_env.new_bucket("bron"), s3_env.new_bucket("cache")
    sources.put("fonds/serie/photo.jpg", photo)
    app = make_app(tmp_path, S3Url(sources.url), S3Url(cache.url), {"photo": sha256(photo)})
    return app, sources, cache


def counts(app) -> tuple[dict, dict]:
    """Requests and bytes read so far from the cache's bucket."""
    bucket = app.extensions["beeldpost.images"].cache_storage.bucket
    return dict(bucket.requests), dict(bucket.read_bytes)


def delta(before: dict, after: dict) -> dict:
    return {key: after.get(key, 0) - before.get(key, 0) for key in after
            if after.get(key, 0) != before.get(key, 0)}


@pytest.mark.parametrize("images_in, cache_in", [("bucket", "bucket"), ("bucket", "folder"),
                                                 ("folder", "bucket")])
def test_the_answers_are_those_of_folders(s3_env, photo, tmp_path, images_in, cache_in):
    folder = tmp_path / "images"
    (folder / "fonds").mkdir(parents=True)
    (folder / "fonds" / "photo.jpg").write_bytes(photo.read_bytes())
    reference = make_app(tmp_path / "reference", folder, tmp_path / "reference-cache").test_client()
    images: object = folder
    if images_in == "bucket":
        sources = s3_env.new_bucket("bron")
        sources.put("fonds/photo.jpg", photo)
        images = S3Url(sources.url)
    cache_bucket = s3_env.new_bucket("cache") if cache_in == "bucket" else None
    cache = S3Url(cache_bucket.url) if cache_bucket else tmp_path / "cache"
    client = make_app(tmp_path / "app", images, cache).test_client()
    info = client.get("/iiif/3/photo/info.json")
    assert info.status_code == 200, info.data
    assert (info.json["width"], info.json["height"]) == (4000, 3000)
    assert info.json == reference.get("/iiif/3/photo/info.json").json
    for path in [TILE, *RENDERS]:
        answer, expected = client.get(path), reference.get(path)
        assert answer.status_code == 200, (path, answer.data)
        assert answer.data == expected.data and answer.headers["ETag"] == expected.headers["ETag"]
    if cache_bucket is not None:  # the pyramid went up; the scratch folder keeps no copy
        assert [key for key in cache_bucket.keys() if key.endswith(".tif")]
        assert not list((tmp_path / "app" / "scratch").rglob("*.tif"))


def test_a_stored_tile_is_one_ranged_get_of_its_bytes(in_buckets):
    app, sources, cache = in_buckets
    client = app.test_client()
    assert client.get("/iiif/3/photo/info.json").status_code == 200  # pyramid built, indexes read
    images = app.extensions["beeldpost.images"]
    (tif,) = [key for key in cache.keys() if key.endswith(".tif")]
    entry = images.stored_tiles.opened(S3Url(cache.url + tif))
    level, column, row = 0, 1, 1
    index = entry.indexes[level]
    size = index.byte_counts[row * index.columns + column]
    # The build read the source once; nothing hashed it (the catalogue knew its hash).
    assert images.sources.bucket.requests["get"] == 1
    source_requests = dict(images.sources.bucket.requests)
    for tile in range(3):  # three different stored tiles: one ranged GET each
        before = counts(app)
        answer = client.get(f"/iiif/3/photo/{256 * tile},256,256,256/256,/0/default.jpg")
        assert answer.status_code == 200 and answer.headers["X-Beeldpost-Cache"] == "stored-tile"
        requests, read = (delta(b, a) for b, a in zip(before, counts(app)))
        assert requests == {"get_range": 1}
        if tile == 1:
            assert read == {"get_range": size}  # exactly the tile's bytes
    before = counts(app)
    assert client.get(TILE).status_code == 200  # asked again: the worker holds it
    assert counts(app) == before
    # The source was neither read, listed nor even asked for by any of it (its stat is kept).
    assert dict(images.sources.bucket.requests) == source_requests


def test_an_edge_tile_is_one_ranged_get_of_its_cut_bytes(in_buckets, photo, tmp_path):
    """Kept cut at the end of the pyramid (stored_edges.py), as in a folder: no decode."""
    app, sources, cache = in_buckets
    client = app.test_client()
    assert client.get("/iiif/3/photo/info.json").status_code == 200
    edge = "/iiif/3/photo/3840,256,160,256/160,/0/default.jpg"  # 4000 = 15 × 256 + 160
    before = counts(app)
    answer = client.get(edge)
    assert answer.status_code == 200 and answer.headers["X-Beeldpost-Cache"] == "stored-tile"
    requests, read = (delta(b, a) for b, a in zip(before, counts(app)))
    assert requests == {"get_range": 1} and read == {"get_range": len(answer.data)}
    folder = tmp_path / "folder"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "photo.jpg").write_bytes(photo.read_bytes())
    reference = make_app(folder, folder / "images", folder / "cache").test_client().get(edge)
    assert answer.data == reference.data and answer.headers["ETag"] == reference.headers["ETag"]


def test_no_request_downloads_a_whole_pyramid(in_buckets):
    app, sources, cache = in_buckets
    app = make_app(Path(app.config["BEELDPOST"].scratch_dir).parent / "uncached",
                   app.config["BEELDPOST"].images_dir, app.config["BEELDPOST"].cache_dir,
                   response_cache=False)  # every render reads the pyramid
    client = app.test_client()
    assert client.get("/iiif/3/photo/info.json").status_code == 200
    (tif,) = [key for key, size in cache.keys().items() if key.endswith(".tif")]
    pyramid_bytes = cache.keys()[tif]
    total = 0
    for path in RENDERS:
        before = counts(app)
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.data)
        requests, read = (delta(b, a) for b, a in zip(before, counts(app)))
        assert set(requests) <= {"get_range"}, (path, requests)  # ranges, never the object
        assert read.get("get_range", 0) < pyramid_bytes / 10, (path, read, pyramid_bytes)
        total += read.get("get_range", 0)
    assert total < pyramid_bytes / 4
    # The tile renderer's tiles came side by side: a 4-tile crop in at most 2 GETs.
    before = counts(app)
    assert client.get("/iiif/3/photo/2048,1024,400,400/200,/0/default.jpg").status_code == 200
    assert delta(before[0], counts(app)[0]).get("get_range", 0) <= 2


def test_rendered_answers_are_shared_through_the_bucket(in_buckets, tmp_path):
    app, sources, cache = in_buckets
    path = RENDERS[0]
    first = app.test_client().get(path)
    assert first.headers["X-Beeldpost-Cache"] == "miss"
    assert any(key.startswith("responses/") for key in cache.keys())
    other = make_app(tmp_path / "other", app.config["BEELDPOST"].images_dir,
                     app.config["BEELDPOST"].cache_dir).test_client()
    second = other.get(path)  # another server, its local cache empty
    assert second.headers["X-Beeldpost-Cache"] == "hit" and second.data == first.data


# ---------------------------------------------------------------------- one build


CRASHING_BUILDER = r"""
import os, socket, sys, time, urllib.parse
from beeldpost.storage import places as storage
from beeldpost.image.service import ImageService
from beeldpost.settings import Settings

real_put = storage.S3Storage.put

def put(self, relative, data, **options):
    if not relative.endswith(".tif"):
        return real_put(self, relative, data, **options)
    # The pyramid's upload, sent by hand and stopped half-way: as a builder that dies.
    body = data.read_bytes()
    endpoint = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL"])
    connection = socket.create_connection((endpoint.hostname, endpoint.port))
    head = (f"PUT /{self.bucket.name}/{self.key(relative)} HTTP/1.1\r\n"
            f"Host: {endpoint.netloc}\r\nContent-Length: {len(body)}\r\n\r\n")
    connection.sendall(head.encode() + body[: len(body) // 2])
    with open(sys.argv[1], "w") as marker:
        marker.write(relative)
    time.sleep(600)

storage.S3Storage.put = put
ImageService(Settings.from_env()).resolve("photo")
"""


def test_a_half_written_upload_is_never_visible(s3_env, photo, tmp_path, monkeypatch):
    sources, cache = s3_env.new_bucket("bron"), s3_env.new_bucket("cache")
    sources.put("photo.jpg", photo)
    marker = tmp_path / "half-sent"
    env = {**os.environ, **s3_env.environment(), "BEELDPOST_IMAGES": sources.url,
           "BEELDPOST_CACHE": cache.url, "BEELDPOST_SCRATCH": str(tmp_path / "crashing")}
    builder = subprocess.Popen([sys.executable, "-c", CRASHING_BUILDER, str(marker)], env=env,
                               cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and builder.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the builder did not get to its upload"
        relative = marker.read_text()
        settings = Settings.of(images_dir=sources.url, cache_dir=cache.url,
                               scratch_dir=tmp_path / "reader", build_wait=1.0)
        reader = ImageService(settings)
        # Half the pyramid is on its way: nobody sees it, a reader waits for the builder.
        assert relative not in cache.keys() and relative[:-4] + ".lock" in cache.keys()
        with pytest.raises(BuildPending) as pending:
            reader.resolve("photo")
        assert pending.value.status == 503 and "Retry-After" in pending.value.headers
        os.killpg(builder.pid, signal.SIGKILL)  # dies mid-upload
        builder.wait(timeout=10)
        time.sleep(0.5)
        assert relative not in cache.keys()  # the half upload never became an object
        assert reader.cache_storage.stat(relative) is None
    finally:
        if builder.poll() is None:
            os.killpg(builder.pid, signal.SIGKILL)
            builder.wait(timeout=10)
    # Its lock goes stale; another server takes it over (once), builds and uploads whole.
    monkeypatch.setattr(BucketDerivatives, "STALE_SECONDS", 1.0)
    time.sleep(2.1)  # LastModified counts whole seconds
    resolved = reader.resolve("photo")
    assert (resolved.full_width, resolved.full_height) == (4000, 3000)
    keys = cache.keys()
    assert relative in keys and relative[:-4] + ".lock" not in keys
    assert cache.attributes(relative)["builder"].endswith(f":{os.getpid()}")
    assert reader.derivatives.built_count == 1
    assert cache.get(relative)[:4] in (b"II*\x00", b"MM\x00*")


def live_on_buckets(root: Path, name: str, object_store, sources, cache, **extra) -> LiveServer:
    scratch = root / f"{name}-scratch"
    settings = {**object_store.environment(), "BEELDPOST_IMAGES": sources.url,
                "BEELDPOST_CACHE": cache.url, "BEELDPOST_SCRATCH": str(scratch),
                "BEELDPOST_MANIFESTS": str(root / "manifests"), **extra}
    return LiveServer(root, root / "unused", name=name, settings=settings)


def fetch(url: str) -> tuple[int, dict, bytes]:
    """Status, headers (by lower-case name) and body."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return (response.status, {k.lower(): v for k, v in response.headers.items()},
                    response.read())
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def builds(server: LiveServer) -> float:
    _, _, body = fetch(f"{server.url}/metrics")
    found = re.search(rb'^beeldpost_derivative_builds_total\{where="bucket"\} (\S+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


def test_two_servers_asked_at_once_build_once(s3_env, photo, tmp_path):
    sources, cache = s3_env.new_bucket("bron"), s3_env.new_bucket("cache")
    sources.put("fonds/photo.jpg", photo)
    (tmp_path / "manifests").mkdir()
    servers = [live_on_buckets(tmp_path, name, s3_env, sources, cache) for name in ("a", "b")]
    try:
        urls = [f"{server.url}{TILE}" for server in servers for _ in range(4)]
        with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
            answers = list(pool.map(fetch, urls))
        assert [status for status, _, _ in answers] == [200] * len(urls), answers[0][2][:300]
        assert len({body for _, _, body in answers}) == 1
        assert len({headers["etag"] for _, headers, _ in answers}) == 1
        assert sum(builds(server) for server in servers) == 1
        (tif,) = [key for key in cache.keys() if key.endswith(".tif")]
        assert not [key for key in cache.keys() if key.endswith(".lock")]
        assert re.fullmatch(r".+:\d+", cache.attributes(tif)["builder"])
    finally:
        for server in servers:
            server.stop()


# ---------------------------------------------------------------------- storage down


def test_storage_going_away_and_coming_back(s3_env, photo, tmp_path):
    sources, cache = s3_env.new_bucket("bron"), s3_env.new_bucket("cache")
    sources.put("photo.jpg", photo)
    (tmp_path / "manifests").mkdir()
    # One worker, so that what one request made it hold the next request finds.
    server = live_on_buckets(tmp_path, "server", s3_env, sources, cache, WEB_CONCURRENCY="1",
                             BEELDPOST_STORAGE_TIMEOUT="2")
    held_tile, render, info = TILE, RENDERS[0], "/iiif/3/photo/info.json"
    new_tile = "/iiif/3/photo/1024,1024,256,256/256,/0/default.jpg"
    try:
        kept = {}
        for path in (info, held_tile, render, render):
            status, headers, body = fetch(server.url + path)
            assert status == 200, body
            kept[path] = body
        s3_env.stop()
        try:
            for path in (held_tile, render, info):  # what the server holds: still served
                status, headers, body = fetch(server.url + path)
                assert status == 200 and body == kept[path], (path, status, body[:200])
            status, headers, body = fetch(server.url + new_tile)
            assert status == 503 and int(headers["retry-after"]) > 0
            assert b"storage" in body and b"cannot be reached" in body
            status, _, body = fetch(f"{server.url}/ready")
            assert status == 503 and b"unreachable" in body and b"storage" in body
        finally:
            s3_env.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and fetch(server.url + new_tile)[0] != 200:
            time.sleep(0.25)
        status, _, body = fetch(server.url + new_tile)
        assert status == 200, body[:300]  # healed, without a restart
        assert fetch(f"{server.url}/ready")[0] == 200
    finally:
        server.stop()


def test_the_image_core_still_knows_nothing_of_buckets_it_is_not_given(tmp_path):
    """A folder-only configuration makes no S3 client at all."""
    from beeldpost.storage import places as storage

    before = dict(storage._buckets)  # noqa: SLF001
    images = ImageService(Settings.of(images_dir=tmp_path, cache_dir=tmp_path / "cache"))
    assert images.cache_storage is None and not images.sources.remote
    assert storage._buckets == before  # noqa: SLF001
