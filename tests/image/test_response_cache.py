"""Rendered images kept on disk: whole files or none, capped in size, least recently
used out first, and never a reason for a request to fail."""

from __future__ import annotations

import os
import time

import pytest

from beeldpost.image import response_cache
from beeldpost.image.response_cache import (
    FORMAT,
    STALE_SECONDS,
    TRIM_TO,
    KeptFile,
    ResponseCache,
    Spool,
)

from support.validator import VALIDATOR_IDENTIFIER

V = VALIDATOR_IDENTIFIER


def key(number: int) -> str:
    return f"{number:040x}"


def test_kept_bytes_come_back_whole(tmp_path):
    cache = ResponseCache(tmp_path, 1 << 20, 1 << 20)
    assert cache.get(key(1)) is None
    cache.put(key(1), b"\xff\xd8jpeg bytes")
    assert cache.get(key(1)) == b"\xff\xd8jpeg bytes"
    assert cache.get(key(1), in_memory_up_to=4, stream_larger=False) is None  # too large
    # Written under a temporary name and renamed: nothing half-written stays behind.
    left = [path.name for path in tmp_path.rglob("*") if path.is_file() and path.name != ".trim.lock"]
    assert left == [f"{key(1)}-{FORMAT}.bin"]


def test_too_large_and_empty_answers_are_not_kept(tmp_path):
    cache = ResponseCache(tmp_path, 1 << 20, 100)
    cache.put(key(1), b"x" * 101)
    cache.put(key(2), b"")
    assert cache.get(key(1)) is None and cache.get(key(2)) is None


def test_a_truncated_entry_counts_as_absent(tmp_path):
    cache = ResponseCache(tmp_path, 1 << 20, 1 << 20)
    cache.put(key(1), b"abc")
    (tmp_path / key(1)[:2] / f"{key(1)}-{FORMAT}.bin").write_bytes(b"")
    assert cache.get(key(1)) is None


def test_an_unwritable_folder_costs_the_cache_not_the_request(tmp_path):
    blocker = tmp_path / "responses"
    blocker.write_text("a file where the folder should be")
    cache = ResponseCache(blocker, 1 << 20, 1 << 20)
    cache.put(key(1), b"data")  # logs, does not raise
    assert cache.get(key(1)) is None


def test_the_size_cap_holds_and_recent_use_survives(tmp_path):
    cap = 20_000
    cache = ResponseCache(tmp_path, cap, cap)
    long_ago = time.time() - 1000
    for number in range(15):
        cache.put(key(number), bytes([number]) * 1000)
        # Last used long ago, oldest first, without sleeping.
        os.utime(tmp_path / key(number)[:2] / f"{key(number)}-{FORMAT}.bin", (long_ago + number,) * 2)
    assert cache.get(key(0)) is not None  # used now: marked as the most recent
    for number in range(15, 25):
        cache.put(key(number), bytes([number]) * 1000)
    assert cache.size() <= cap
    assert cache.get(key(0)) is not None, "the recently used entry was evicted"
    assert cache.get(key(1)) is None, "the least recently used entry survived"
    assert cache.get(key(24)) is not None


def test_a_trim_goes_below_the_cap_and_clears_stale_temporaries(tmp_path):
    cache = ResponseCache(tmp_path, 10_000, 10_000)
    for number in range(12):
        cache.put(key(number), b"y" * 1000)
    assert 10_000 * TRIM_TO - 1000 <= cache.size() <= 10_000  # trimmed on the way
    stale = tmp_path / "ab" / ".tmp-left-by-a-killed-worker"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"partial")
    old = time.time() - STALE_SECONDS - 10
    os.utime(stale, (old, old))
    fresh = tmp_path / "ab" / ".tmp-being-written"
    fresh.write_bytes(b"partial")
    cache.trim()
    assert not stale.exists() and fresh.exists()


def test_two_workers_share_one_cache(tmp_path):
    writer, reader = (ResponseCache(tmp_path, 1 << 20, 1 << 20) for _ in range(2))
    writer.put(key(7), b"shared")
    assert reader.get(key(7)) == b"shared"


@pytest.fixture
def cached_client(tmp_path, images_dir):
    from beeldpost import create_app

    def make(**overrides):
        return create_app({"images_dir": images_dir, "cache_dir": tmp_path / "cache",
                           "manifests_dir": tmp_path / "manifests", **overrides}).test_client()
    return make


def test_a_repeated_render_is_a_hit_with_the_same_bytes(cached_client):
    client = cached_client()
    path = f"/iiif/3/{V}/full/123,/0/default.jpg"
    first, second = client.get(path), client.get(path)
    assert first.headers["X-Beeldpost-Cache"] == "miss"
    assert second.headers["X-Beeldpost-Cache"] == "hit"
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    # The 2.1 URL of the same picture is another request with its own ETag.
    assert client.get(f"/iiif/2/{V}/full/123,/0/default.jpg").headers["X-Beeldpost-Cache"] == "miss"


def test_stored_tiles_are_not_copied_into_the_cache(cached_client, tmp_path):
    client = cached_client()
    response = client.get(f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg")
    assert response.headers["X-Beeldpost-Cache"] == "stored-tile"
    assert not list((tmp_path / "cache" / "responses").rglob("*.bin"))


def test_the_cache_can_be_turned_off(cached_client, tmp_path):
    client = cached_client(response_cache=False)
    path = f"/iiif/3/{V}/full/124,/0/default.jpg"
    assert [client.get(path).headers["X-Beeldpost-Cache"] for _ in range(2)] == ["off", "off"]
    assert not (tmp_path / "cache" / "responses").exists()


def test_a_changed_source_is_rendered_anew(cached_client, images_dir):
    from PIL import Image

    client = cached_client()
    path = f"/iiif/3/{V}/full/100,/0/default.jpg"
    before = client.get(path)
    source = images_dir / f"{V}.png"
    Image.new("RGB", (1000, 1000), (200, 30, 30)).save(source)
    os.utime(source, (time.time() + 5,) * 2)  # a new mtime even within one clock tick
    after = client.get(path)
    assert after.headers["X-Beeldpost-Cache"] == "miss"
    assert after.headers["ETag"] != before.headers["ETag"] and after.data != before.data


def test_large_answers_are_streamed_from_their_file(tmp_path):
    cache = ResponseCache(tmp_path, 1 << 20, 1 << 20)
    data = os.urandom(5000)
    cache.put(key(1), data)
    assert cache.get(key(1), in_memory_up_to=4999, stream_larger=False) is None
    kept = cache.get(key(1), in_memory_up_to=4999)
    assert isinstance(kept, KeptFile) and len(kept) == 5000
    # Replaced and trimmed meanwhile: the open file still streams whole.
    cache.put(key(1), b"new")
    (tmp_path / key(1)[:2] / f"{key(1)}-{FORMAT}.bin").unlink()
    assert b"".join(kept) == data


def test_a_large_hit_streams_through_flask(cached_client, monkeypatch):
    monkeypatch.setattr(response_cache, "IN_MEMORY_BYTES", 1000)
    monkeypatch.setattr(KeptFile, "CHUNK", 4096)
    client = cached_client()
    path = f"/iiif/3/{V}/full/max/0/default.png"
    first = client.get(path)
    assert len(first.data) > 3 * 4096
    for method in ("GET", "HEAD"):
        again = client.open(path, method=method)
        assert again.headers["X-Beeldpost-Cache"] == "hit"
        assert again.headers["Content-Length"] == str(len(first.data))
        assert again.data == (first.data if method == "GET" else b"")


def test_distorted_sizes_are_answers_of_their_own(cached_client):
    """2.1's canonical `w,` stands only for the aspect-kept height, so 300,100 and 300,200
    are different answers with different ETags (once served each other's bytes)."""
    from PIL import Image
    import io

    client = cached_client()
    sizes = {}
    for size in ("300,200", "300,100", "300,", "300,300"):
        response = client.get(f"/iiif/2/{V}/full/{size}/0/default.jpg")
        sizes[size] = (Image.open(io.BytesIO(response.data)).size, response.headers["ETag"])
    assert [pixels for pixels, _ in sizes.values()] == [(300, 200), (300, 100), (300, 300), (300, 300)]
    assert len({etag for _, etag in sizes.values()}) == 3  # 300, and 300,300 are one answer


# ---------------------------------------------------------------- large renders, spooled

def test_a_spool_is_kept_by_a_rename_or_not_at_all(tmp_path):
    cache = ResponseCache(tmp_path, 1 << 20, 1000)
    spool = cache.spool(key(1))
    os.write(spool.descriptor, b"x" * 900)
    assert cache.get(key(1)) is None  # nothing visible while it is written
    assert cache.keep(key(1), spool) == tmp_path / key(1)[:2] / f"{key(1)}-{FORMAT}.bin"
    assert b"".join(spool.answer()) == b"x" * 900
    assert cache.get(key(1)) == b"x" * 900
    too_large = cache.spool(key(2))
    os.write(too_large.descriptor, b"y" * 1001)
    assert cache.keep(key(2), too_large) is None
    assert b"".join(too_large.answer()) == b"y" * 1001  # answered all the same
    names = sorted(path.name for path in tmp_path.rglob("*") if path.is_file())
    assert names == [".trim.lock", f"{key(1)}-{FORMAT}.bin"] or names == [f"{key(1)}-{FORMAT}.bin"]


def test_a_nameless_spool_leaves_nothing_behind(tmp_path):
    spool = Spool(tmp_path / "spool", named=False)
    os.write(spool.descriptor, b"answer")
    assert not list((tmp_path / "spool").iterdir())
    answer = spool.answer()
    assert len(answer) == 6 and b"".join(answer) == b"answer"
    failed = Spool(tmp_path / "spool", named=True)
    failed.discard()
    assert not list((tmp_path / "spool").iterdir())


@pytest.fixture
def large_client(tmp_path, large_photo_dir):
    from beeldpost import create_app

    def make(**overrides):
        app = create_app({"images_dir": large_photo_dir, "cache_dir": tmp_path / "cache",
                          "manifests_dir": tmp_path / "manifests", **overrides})
        return app, app.test_client()
    return make


def in_memory_render(app, tail: str) -> bytes:
    """The same answer rendered whole in memory, as every answer was before streaming."""
    from beeldpost.image.parameters import parse_image_request

    images = app.extensions["beeldpost.images"]
    resolved = images.resolve("groot")
    ops = images.operations(resolved, parse_image_request(*tail.split("/"), 3))
    return images.render(images.plan(resolved, ops, ops.canonical_path(3)))


def test_a_full_size_download_is_streamed_from_its_kept_file(large_client, tmp_path):
    app, client = large_client()
    tail = "full/max/0/default.jpg"
    path = f"/iiif/3/groot/{tail}"
    first = client.get(path)
    assert first.status_code == 200 and first.headers["X-Beeldpost-Cache"] == "miss"
    assert first.headers["Content-Length"] == str(len(first.data))
    # Byte for byte what libvips encodes into memory.
    assert first.data == in_memory_render(app, tail)
    kept = [p for p in (tmp_path / "cache" / "responses").rglob("*") if p.is_file()
            and p.name != ".trim.lock"]
    assert [p.name for p in kept] == [f"{first.headers['ETag'].strip(chr(34))}-{FORMAT}.bin"]
    again = client.get(path)
    assert again.headers["X-Beeldpost-Cache"] == "hit" and again.data == first.data
    head = client.head(path)
    assert head.headers["Content-Length"] == str(len(first.data)) and head.data == b""
    unchanged = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.data == b""


def test_with_the_cache_off_a_download_leaves_no_file(large_client, tmp_path):
    app, client = large_client(response_cache=False)
    tail = "full/max/90/default.png"
    response = client.get(f"/iiif/3/groot/{tail}")
    assert response.status_code == 200 and response.headers["X-Beeldpost-Cache"] == "off"
    assert response.data == in_memory_render(app, tail)
    assert not [p for p in (tmp_path / "cache").rglob("*")
                if p.is_file() and ("spool" in p.parts or "responses" in p.parts)]
    head = client.head(f"/iiif/3/groot/{tail}")
    assert head.headers["Content-Length"] == response.headers["Content-Length"]


def test_a_download_cut_off_leaves_no_file_behind(large_client, tmp_path):
    app, client = large_client(render_timeout=0.05)
    response = client.get("/iiif/3/groot/full/max/33/default.png")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert not [p for p in (tmp_path / "cache" / "responses").rglob("*")
                if p.is_file() and p.name != ".trim.lock"]


def test_without_a_writable_cache_a_download_is_rendered_in_memory(large_client, tmp_path):
    app, client = large_client()
    client.get("/iiif/3/groot/info.json")  # the pyramid built
    images = app.extensions["beeldpost.images"]
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the folders should be")
    images.response_cache.folder = blocker
    images.response_cache._folder = str(blocker)
    images.spool_dir = blocker / "spool"
    response = client.get("/iiif/3/groot/full/max/0/default.jpg")
    assert response.status_code == 200
    assert response.data == in_memory_render(app, "full/max/0/default.jpg")


def test_a_streamed_download_never_holds_its_answer_in_memory(large_photo_dir, tmp_path):
    """A 24 MP PNG (tens of MB) and JPEG, each measured in a fresh process: streamed,
    the render holds a few strips of pixels; kept whole in memory, as before, its
    answer besides (and a copy of it)."""
    from support.render_memory import render_peaks

    tails = ["full/max/0/default.png", "full/max/0/default.jpg"]
    streamed = render_peaks(large_photo_dir, tmp_path / "cache", "groot", tails)
    buffered = render_peaks(large_photo_dir, tmp_path / "cache", "groot", tails, buffered=True)
    png, jpeg = streamed[tails[0]], streamed[tails[1]]
    assert png["size"] > 40 << 20 and png["peak"] < png["size"] / 2
    assert buffered[tails[0]]["peak"] > png["size"]
    assert jpeg["peak"] < 6000 * 4000 * 3 / 4  # not the decoded image, not a quarter of it
    assert buffered[tails[1]]["peak"] > jpeg["peak"] + jpeg["size"] / 2
