"""Storage: a folder or a bucket, configured as the AWS tools are, listed only by the
scan, read by ranges; sources in a bucket found through the index, hashed by the
catalogue, sized from their headers. Against a real S3-compatible store (SeaweedFS)."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
import pyvips

from beeldpost.errors import StorageUnavailable
from beeldpost.storage import places as storage
from beeldpost.image.derivatives import upright_size
from beeldpost.storage.places import NotAtHand
from beeldpost.image.sources import SourceCatalog, walk_sources
from beeldpost.settings import S3Url, Settings

from support.pictures import textured


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A photo-sized JPEG (4000×3000), stored sideways: EXIF orientation 6."""
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    image = textured(4000, 3000).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    image.jpegsave(str(path), Q=90)
    assert upright_size(path) == (3000, 4000)
    return path


# ---------------------------------------------------------------------- settings


def test_settings_keep_a_bucket_url_as_written():
    settings = Settings.from_env({"BEELDPOST_IMAGES": "s3://archief-bron",
                                  "BEELDPOST_CACHE": "s3://archief-cache/beeldpost/"})
    assert isinstance(settings.images_dir, S3Url) and settings.images_dir == "s3://archief-bron/"
    assert settings.cache_dir.bucket == "archief-cache" and settings.cache_dir.key == "beeldpost/"
    # What must stay local goes to the scratch folder, the journal among it.
    assert settings.local_cache_dir == settings.scratch_dir
    assert settings.journal_file == settings.scratch_dir / "journal.sqlite3"
    # …and comes back to the cache folder when the cache is one again.
    local = settings.with_overrides(cache_dir="var/other")
    assert local.cache_dir == Path.cwd() / "var/other" and local.journal_file is None
    with pytest.raises(ValueError, match="BEELDPOST_IMAGES"):
        Settings.from_env({"BEELDPOST_IMAGES": "s3://x/"})  # no such bucket name


# ---------------------------------------------------------------------- configuration


def test_the_environment_comes_before_the_aws_files(tmp_path):
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[default]\nregion = eu-west-1\nendpoint_url = http://from-config:1\n"
                      "[profile archief]\nregion = eu-central-1\nservices = archief-s3\n"
                      "[services archief-s3]\ns3 =\n  endpoint_url = http://from-services:2\n")
    credentials.write_text("[default]\naws_access_key_id = file-key\n"
                           "aws_secret_access_key = file-secret\n"
                           "[archief]\naws_access_key_id = archief-key\n"
                           "aws_secret_access_key = archief-secret\n")
    files = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    assert storage.s3_config(files) == {
        "endpoint": "http://from-config:1", "region": "eu-west-1",
        "access_key_id": "file-key", "secret_access_key": "file-secret"}
    assert storage.s3_config({**files, "AWS_PROFILE": "archief"}) == {
        "endpoint": "http://from-services:2", "region": "eu-central-1",
        "access_key_id": "archief-key", "secret_access_key": "archief-secret"}
    assert storage.s3_config({**files, "AWS_ENDPOINT_URL": "http://env:3", "AWS_REGION": "nl",
                              "AWS_DEFAULT_REGION": "no", "AWS_ACCESS_KEY_ID": "env-key",
                              "AWS_SECRET_ACCESS_KEY": "env-secret"}) == {
        "endpoint": "http://env:3", "region": "nl",
        "access_key_id": "env-key", "secret_access_key": "env-secret"}


def test_the_store_is_reached_with_what_the_aws_files_say(s3_env, monkeypatch, tmp_path):
    target = s3_env.new_bucket()
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(name)
    config = tmp_path / "aws-config"
    config.write_text(f"[profile archief]\nendpoint_url = {s3_env.endpoint}\nregion = us-east-1\n"
                      "aws_access_key_id = from-file\naws_secret_access_key = from-file\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "archief")
    place = storage.location(S3Url(target.url))
    assert place.put("a/b.txt", b"hello") is not None
    assert place.get("a/b.txt") == b"hello" and target.get("a/b.txt") == b"hello"
    assert place.check() is None


# ---------------------------------------------------------------------- a bucket


def test_conditional_writes(bucket):
    place = storage.location(S3Url(bucket.url))
    first = place.put("lock", b"one", if_absent=True)
    assert first and place.put("lock", b"two", if_absent=True) is None  # If-None-Match: *
    assert place.put("lock", b"three", if_match="not-its-etag") is None  # If-Match
    assert place.put("lock", b"four", if_match=first) is not None
    assert place.get("lock") == b"four"
    place.delete("lock")
    assert place.stat("lock") is None and place.get("lock") is None
    place.delete("lock")  # deleting what is gone is fine


def test_the_scan_lists_a_bucket_page_by_page(bucket):
    """ListObjectsV2 gives 1000 keys a page: 1,205 sources take two pages. Hidden files
    and folders, and other files, are left out as in a folder."""
    names = [f"fonds-{index % 7}/serie/scan-{index:04}.jpg" for index in range(1205)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda name: bucket.put(name, b"x"), names))
    for other in ("notes.txt", ".hidden/a.jpg", "fonds-1/.b.jpg"):
        bucket.put(other, b"x")
    place = storage.location(S3Url(bucket.url))
    found = walk_sources(S3Url(bucket.url))
    assert found == {name: name.rsplit("/", 1)[1][:-4] for name in names}
    assert place.bucket.requests["list"] >= 2
    # A prefix is a folder of its own.
    assert set(walk_sources(S3Url(bucket.url + "fonds-3/"))) == {
        name[len("fonds-3/"):] for name in names if name.startswith("fonds-3/")}


def test_a_sources_size_is_read_from_its_header_alone(bucket, photo):
    bucket.put("fonds/photo.jpg", photo)
    place, key = storage.object_at(S3Url(bucket.url + "fonds/photo.jpg"))
    before = place.bucket.read_bytes["get_range"]
    assert upright_size(S3Url(bucket.url + "fonds/photo.jpg")) == (3000, 4000)  # upright
    read = place.bucket.read_bytes["get_range"] - before
    assert 0 < read <= 64 * 1024 < photo.stat().st_size // 20
    assert place.bucket.requests["get"] == 0  # never the whole object


def test_sources_in_a_bucket_come_through_the_index_and_the_known_hash(bucket, photo, tmp_path):
    bucket.put("fonds/photo.jpg", photo)
    located, hashed = [], []

    class Index:  # what the catalogue's index says (SourceLookups), counted
        indexed, locate_seconds = True, 2.0

        def source_files(self, identifier):
            located.append(identifier)
            return ["fonds/photo.jpg"] if identifier == "photo" else []

        def stored_hash(self, source):
            hashed.append(source.identifier)
            return "ab" * 32

    catalog = SourceCatalog(S3Url(bucket.url), Index(), scratch=tmp_path)
    requests = catalog.storage.bucket.requests
    source = catalog.lookup("photo")
    assert source.path == bucket.url + "fonds/photo.jpg" and source.size == photo.stat().st_size
    assert catalog.lookup("nothing") is None
    assert located == ["photo", "nothing"]
    assert catalog.known_content_hash(source) == "ab" * 32 and hashed == ["photo"]
    assert catalog.known_content_hash(source) == "ab" * 32 and hashed == ["photo"]  # kept
    for _ in range(20):  # a viewer's tiles: the stat is kept, no request each
        assert catalog.lookup("photo", at_hand=True) == source
    assert requests["head"] == 1 and requests["get"] == 0 and "list" not in requests
    # As requests ask (`kept`): where it is, too, is kept a moment: no catalogue
    # lookup each; on the event loop (at_hand), NotAtHand until it is kept.
    located.clear()
    with pytest.raises(NotAtHand):
        catalog.lookup("photo", at_hand=True, kept=True)
    assert catalog.lookup("photo", kept=True) == source
    for _ in range(20):
        assert catalog.lookup("photo", at_hand=True, kept=True) == source
    assert located == ["photo"]
    assert catalog.lookup("nothing", kept=True) is None
    assert catalog.lookup("nothing", kept=True) is None  # a miss is never kept
    assert located == ["photo", "nothing", "nothing"]
    # A build reads the object into the scratch folder, checking the hash on the way:
    from beeldpost.image.sources import ContentChanged

    with pytest.raises(ContentChanged) as changed:
        with catalog.local_copy(source, "ab" * 32):
            pass
    import hashlib

    assert changed.value.actual == hashlib.sha256(photo.read_bytes()).hexdigest()
    with catalog.local_copy(source, changed.value.actual) as local:
        assert local.read_bytes() == photo.read_bytes()
    assert not local.exists() and list((tmp_path / "sources").iterdir()) == []
    # What was read is known from then on, whatever the catalogue says.
    assert catalog.known_content_hash(source) == changed.value.actual


def test_a_bucket_that_is_down_fails_fast_and_comes_back(object_store, bucket):
    place = storage.location(S3Url(bucket.url), timeout=2, retry_after=7)
    place.put("x", b"x")
    object_store.stop()
    try:
        with pytest.raises(StorageUnavailable) as down:
            place.stat("x")
        assert down.value.status == 503 and down.value.headers == {"Retry-After": "7"}
        assert "cannot be reached" in down.value.message
        assert "unreachable" in place.check()
        # While it is down, calls fail at once rather than each waiting its timeout.
        import time

        started = time.monotonic()
        for _ in range(50):
            with pytest.raises(StorageUnavailable):
                place.read("x", 0, 1)
        assert time.monotonic() - started < 1.0
    finally:
        object_store.start()
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            assert place.get("x") == b"x"
            break
        except StorageUnavailable:
            time.sleep(0.2)
    assert place.get("x") == b"x" and place.check() is None


def test_a_folder_answers_as_a_bucket_does(tmp_path):
    """The filesystem backend of the same interface (conditional writes by hard link)."""
    place = storage.location(tmp_path)
    assert isinstance(place, storage.LocalStorage) and not place.remote
    assert place.put("fonds/a.jpg", b"one", if_absent=True) is not None
    assert place.put("fonds/a.jpg", b"two", if_absent=True) is None
    assert place.get("fonds/a.jpg") == b"one" and place.read("fonds/a.jpg", 1, 5) == b"ne"
    assert place.stat("fonds/a.jpg").size == 3 and place.stat("nothing") is None
    assert place.walk(lambda name: name.endswith(".jpg")) == {"fonds/a.jpg": "a"}
    assert walk_sources(place) == walk_sources(tmp_path) == {"fonds/a.jpg": "a"}
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".tmp")]
    place.delete("fonds/a.jpg")
    assert place.get("fonds/a.jpg") is None and place.check() is None
