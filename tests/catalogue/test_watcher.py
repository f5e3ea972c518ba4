"""The watcher keeps the journal and the index current from file events, with a periodic
scan besides, and of several processes sharing a cache only one writes."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

import pytest

from beeldpost.app import make_journal
from beeldpost.catalogue import index
from beeldpost.catalogue import watcher as watcher_module
from beeldpost.catalogue.journal import Journal
from beeldpost.catalogue.records import RecordStore
from beeldpost.catalogue.watcher import Watcher
from beeldpost.image.service import ImageService
from beeldpost.settings import Settings

from support.live import LiveServer
from support.paths import IMAGES, MANIFESTS
from support.presentation import make_jpeg, record_data, write_record


class Counted:
    def __init__(self):
        self.calls = 0
        self.called = threading.Event()

    def __call__(self, *paths):
        self.calls += 1
        self.called.set()


def eventually(check, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_a_file_event_brings_a_scan_within_a_second(tmp_path):
    scan = Counted()
    watcher = Watcher(scan, [tmp_path], tmp_path / "writer.lock", interval=60).start()
    try:
        assert eventually(lambda: scan.calls >= 1)  # the first scan, on taking the lock
        before = scan.calls
        started = time.monotonic()
        (tmp_path / "nieuw.yaml").write_text("id: nieuw\n")
        assert eventually(lambda: scan.calls > before, 2.0)
        assert time.monotonic() - started < 2.0
    finally:
        watcher.stop()


def test_a_burst_of_events_is_one_scan(tmp_path):
    scan = Counted()
    watcher = Watcher(scan, [tmp_path], tmp_path / "writer.lock", interval=60, settle=0.3).start()
    try:
        assert eventually(lambda: scan.calls >= 1)
        before = scan.calls
        for number in range(200):  # an import writing many records at once
            (tmp_path / f"stuk-{number}.yaml").write_text("x")
        assert eventually(lambda: scan.calls > before, 3.0)
        time.sleep(1.0)
        assert scan.calls - before <= 2
    finally:
        watcher.stop()


def test_without_events_the_periodic_scan_still_runs(tmp_path):
    scan = Counted()
    watcher = Watcher(scan, [tmp_path], tmp_path / "writer.lock", interval=0.3, events=False).start()
    try:
        assert eventually(lambda: scan.calls >= 4, 3.0)
    finally:
        watcher.stop()


def test_one_writer_at_a_time_and_another_takes_over(tmp_path, monkeypatch):
    monkeypatch.setattr(watcher_module, "RETRY_SECONDS", 0.2)
    first_scan, second_scan = Counted(), Counted()
    first = Watcher(first_scan, [tmp_path], tmp_path / "writer.lock", interval=60).start()
    assert eventually(lambda: first.is_writer)
    second = Watcher(second_scan, [tmp_path], tmp_path / "writer.lock", interval=60).start()
    try:
        time.sleep(0.6)
        assert not second.is_writer and second_scan.calls == 0
        first.stop()
        assert eventually(lambda: second.is_writer, 3.0)
        assert eventually(lambda: second_scan.calls >= 1)
    finally:
        first.stop()
        second.stop()


def test_a_failing_scan_does_not_stop_the_watcher(tmp_path):
    calls = []

    def failing(*paths):
        calls.append(1)
        raise OSError("the disk is gone")

    watcher = Watcher(failing, [tmp_path], tmp_path / "writer.lock", interval=0.2, events=False).start()
    try:
        assert eventually(lambda: len(calls) >= 3, 3.0)
    finally:
        watcher.stop()


def test_added_edited_and_removed_records_are_journalled_and_indexed(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    service = ImageService(Settings.of(images_dir=images, cache_dir=tmp_path / "cache"))
    journal = Journal(tmp_path / "journal.sqlite3", RecordStore(manifests, lambda i: (64, 48)), service)
    watcher = Watcher(journal.scan, [manifests, images], tmp_path / "writer.lock", interval=60).start()
    try:
        assert eventually(lambda: watcher.scans >= 1)
        make_jpeg(images / "een.jpg", 64, 48)
        write_record(manifests, "een", record_data("een", people=None))
        assert eventually(lambda: journal.read(index.entry, "een") is not None)
        write_record(manifests, "een", record_data("een", people=None,
                                                   label={"nl": "Anders", "en": "Other"}))
        assert eventually(lambda: journal.read(index.entry, "een").label_en == "Other")
        (manifests / "een.yaml").unlink()
        assert eventually(lambda: journal.read(index.entry, "een") is None)
        kinds = [(a.type, a.item) for a in journal.activities(0, 100) if a.kind == "manifest"]
        assert kinds == [("Create", "een"), ("Update", "een"), ("Delete", "een")]
    finally:
        watcher.stop()


def test_a_file_event_scan_reads_only_what_the_changed_files_touch(tmp_path, monkeypatch):
    """The edit of one record among many: its own file is read, no other record."""
    from beeldpost.catalogue import journal as journal_module

    images, manifests = tmp_path / "images", tmp_path / "manifests"
    (manifests / "fonds" / "serie").mkdir(parents=True)
    (images / "fonds").mkdir(parents=True)
    for number in range(600):
        item = f"stuk-{number:04d}"
        make_jpeg(images / "fonds" / f"{item}.jpg", 64, 48)
        write_record(manifests / "fonds" / "serie", item, record_data(
            item, people=None, collection=["Archief", "Fonds", "Serie"]), transcript="Tekst.\n")
    service = ImageService(Settings.of(images_dir=images, cache_dir=tmp_path / "cache"))
    journal = Journal(tmp_path / "journal.sqlite3", RecordStore(manifests, lambda i: (64, 48)), service)
    journal.scan()
    parsed = []
    real_parse = journal_module.parse_record
    monkeypatch.setattr(journal_module, "parse_record",
                        lambda path, text, file=None: parsed.append(file) or real_parse(path, text, file))
    walks = []
    real_walk = journal_module.walk_sources
    monkeypatch.setattr(journal_module, "walk_sources",
                        lambda folder: walks.append(folder) or real_walk(folder))
    watcher = Watcher(journal.scan, [manifests, images], tmp_path / "writer.lock", interval=60,
                      settle=0.1).start()
    try:
        assert eventually(lambda: watcher.scans >= 1, 30)  # the first, full scan
        parsed.clear()
        walks.clear()
        record = manifests / "fonds" / "serie" / "stuk-0042.yaml"
        record.write_text(record.read_text("utf-8").replace("Proefstuk", "Herzien"), "utf-8")
        assert eventually(lambda: journal.read(index.entry, "stuk-0042").label_nl.startswith("Herzien"))
        assert parsed == ["fonds/serie/stuk-0042.yaml"]
        # Its transcript changed: that record is read again, no other.
        (manifests / "fonds" / "serie" / "stuk-0007.transcript.txt").write_text("Anders.\n", "utf-8")
        assert eventually(lambda: journal.read(index.entry, "stuk-0007").transcript == "Anders.\n")
        assert parsed == ["fonds/serie/stuk-0042.yaml", "fonds/serie/stuk-0007.yaml"]
        # Its image replaced: an Update of the record showing it.
        before = journal.count()
        make_jpeg(images / "fonds" / "stuk-0009.jpg", 96, 64)
        assert eventually(lambda: journal.read(index.entry, "stuk-0009").width == 96)
        assert [(a.type, a.item) for a in journal.activities(before, 10)
                if a.kind == "manifest"] == [("Update", "stuk-0009")]
        assert walks == []  # no event's scan walked a folder
        # A record in a new folder: found (a folder made is a full scan).
        (manifests / "fonds" / "nieuw").mkdir()
        write_record(manifests / "fonds" / "nieuw", "later", record_data(
            "later", image="stuk-0001", people=None, collection=["Archief", "Fonds", "Nieuw"]))
        assert eventually(lambda: journal.read(index.entry, "later") is not None)
        assert journal.read(index.node, "archief/fonds/nieuw").total == 1
    finally:
        watcher.stop()


@pytest.mark.live
def test_the_server_keeps_its_catalogue_current_with_no_request(tmp_path):
    """Under gunicorn one worker watches; a record added shows in the journal and the
    index with no discovery or sitemap request to make it look."""
    shutil.copytree(MANIFESTS, tmp_path / "manifests", ignore=shutil.ignore_patterns("sources"))
    images = tmp_path / "images"
    shutil.copytree(IMAGES, images)
    server = LiveServer(tmp_path, images)
    try:
        database = tmp_path / "cache" / "journal.sqlite3"

        def indexed(item: str) -> bool:
            try:
                with sqlite3.connect(database) as db:
                    return db.execute("SELECT 1 FROM items WHERE item = ?", (item,)).fetchone() is not None
            except sqlite3.Error:
                return False

        assert eventually(lambda: indexed("wijkpost-leekerhoek"), 30)
        make_jpeg(images / "toegevoegd.jpg", 640, 480)
        write_record(tmp_path / "manifests", "toegevoegd", record_data("toegevoegd", people=None))
        started = time.monotonic()
        assert eventually(lambda: indexed("toegevoegd"), 10)
        assert time.monotonic() - started < 5
        writers = (tmp_path / "cache" / "catalogue-writer.lock").read_text().split()
        assert len(writers) == 1
    finally:
        server.stop()



def test_a_record_naming_a_scan_just_put_in_a_bucket_is_published_at_once(tmp_path, bucket):
    """A bucket sends no file events: a scan uploaded there is known from the next full
    listing (BEELDPOST_SCAN_INTERVAL). A record that names it is an event, though, and
    its scan lists the bucket for it: the item is published by that scan, journalled
    once. Records naming an image that is nowhere list the bucket at most every
    LIST_IMAGES_SECONDS."""
    from beeldpost import create_app
    from beeldpost.settings import S3Url

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    app = create_app({"images_dir": S3Url(bucket.url), "cache_dir": tmp_path / "cache",
                      "scratch_dir": tmp_path / "scratch", "manifests_dir": manifests,
                      "watch": False, "journal_interval": 3600})
    journal = app.extensions["beeldpost.journal"]
    storage = app.extensions["beeldpost.images"].catalog.storage
    listings = []
    walk = storage.walk
    storage.walk = lambda keep: listings.append(time.monotonic()) or walk(keep)
    journal.scan()  # the watcher's first, full scan: one listing
    assert len(listings) == 1
    time.sleep(journal.LIST_IMAGES_SECONDS)

    make_jpeg(tmp_path / "nieuw.jpg", 640, 480)
    bucket.put("fonds/nieuw.jpg", tmp_path / "nieuw.jpg")
    write_record(manifests, "nieuw", record_data("nieuw", people=None))
    journal.scan([manifests / "nieuw.yaml"])  # what the file event brings
    assert len(listings) == 2
    entry = journal.read(index.entry, "nieuw")
    assert entry is not None and (entry.width, entry.height) == (640, 480)
    assert app.test_client().get("/iiif/manifests/nieuw").status_code == 200
    creates = [a.item for a in journal.activities(0, 100)
               if a.kind == "manifest" and a.type == "Create"]
    assert creates == ["nieuw"]

    # Records naming an image that is nowhere, one after another: not a listing each
    # (none within LIST_IMAGES_SECONDS of the last), one once that has passed.
    for number in range(5):
        write_record(manifests, f"kwijt-{number}", record_data(
            f"kwijt-{number}", image="nergens", people=None))
        journal.scan([manifests / f"kwijt-{number}.yaml"])
    assert len(listings) == 2
    assert journal.read(index.entry, "kwijt-0") is None
    time.sleep(journal.LIST_IMAGES_SECONDS)
    journal.scan([manifests / "kwijt-0.yaml"])
    journal.scan([manifests / "kwijt-1.yaml"])
    assert len(listings) == 3
    assert journal.read(index.entry, "kwijt-0") is None
    # An image that appears later is still found (here: by the next full scan).
    bucket.put("nergens.jpg", tmp_path / "nieuw.jpg")
    journal.scan()
    assert all(journal.read(index.entry, f"kwijt-{n}") is not None for n in range(5))


def test_the_watcher_process_publishes_an_item_only_with_its_image_where_servers_look(
        tmp_path, bucket):
    """`beeldpost watch` runs a journal with no Catalogue of its own: its scan still finds
    images where the index says, so no item is published (Create, manifest 200) while
    the servers, which look in the index, cannot find its image (404)."""
    from beeldpost.settings import S3Url

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    journal = make_journal(Settings.of(images_dir=S3Url(bucket.url), cache_dir=tmp_path / "cache",
                                       scratch_dir=tmp_path / "scratch", manifests_dir=manifests))
    journal.scan()
    time.sleep(journal.LIST_IMAGES_SECONDS)
    make_jpeg(tmp_path / "nieuw.jpg", 640, 480)
    bucket.put("fonds/nieuw.jpg", tmp_path / "nieuw.jpg")
    write_record(manifests, "nieuw", record_data("nieuw", people=None))
    journal.scan([manifests / "nieuw.yaml"])
    assert journal.read(index.entry, "nieuw") is not None
    assert journal.read(index.source_files, "nieuw") == ["fonds/nieuw.jpg"]


def test_the_paths_of_a_failed_scan_are_scanned_again_within_a_second(tmp_path):
    """Issue 21: a scan that failed (the database restarting) lost the changes it was
    given: the record waited for the next full scan. Its paths now wait for the next
    scan, which comes within a second, not at the next periodic one."""
    given: list[list | None] = []
    failing = threading.Event()
    failing.set()

    def scan(*paths):
        given.append(list(paths[0]) if paths else None)
        if failing.is_set():
            raise OSError("the database is restarting")

    watcher = Watcher(scan, [tmp_path], tmp_path / "writer.lock", interval=3600).start()
    try:
        assert eventually(lambda: len(given) >= 1)  # the first (full) scan: failed
        assert given[0] is None
        assert eventually(lambda: len(given) >= 2, 1.0)  # tried again soon, as a full scan
        assert given[1] is None
        failing.clear()
        assert eventually(lambda: len(given) >= 3, 3.0)
        failing.set()
        before = len(given)
        (tmp_path / "nieuw.yaml").write_text("id: nieuw\n")
        assert eventually(lambda: len(given) > before, 2.0)  # the event's scan: fails
        failing.clear()
        assert eventually(lambda: any(paths and tmp_path / "nieuw.yaml" in paths
                                      for paths in given[before + 1:]), 1.5)
    finally:
        watcher.stop()


def test_a_scan_s_own_appointment_wakes_the_watcher(tmp_path):
    """A scan may ask for another at a time of its own (the journal's listing of a
    bucket put off to keep listings apart): the watcher runs scan([]) then."""
    given: list = []
    due: list[float | None] = [None]

    def scan(*paths):
        given.append((time.monotonic(), list(paths[0]) if paths else None))
        if paths and not paths[0]:
            due[0] = None  # kept

    watcher = Watcher(scan, [tmp_path], tmp_path / "writer.lock", interval=3600,
                      due=lambda: due[0]).start()
    try:
        assert eventually(lambda: len(given) == 1)  # the first, full scan
        asked = time.monotonic() + 0.5
        due[0] = asked
        watcher.changed()  # (wake it once so that it reads the new appointment)
        assert eventually(lambda: any(paths == [] for _when, paths in given), 3.0)
        when = next(when for when, paths in given if paths == [])
        assert asked <= when < asked + 0.5
    finally:
        watcher.stop()


def test_records_written_one_after_another_are_each_published_within_seconds(
        tmp_path, bucket):
    """Issue 21: a record written within LIST_IMAGES_SECONDS of another new record's
    listing of the bucket waited for the next full scan (31-60 s). Its listing is put
    off, not dropped: `beeldpost watch` (journal and watcher as cli.watch makes them,
    a full scan only every hour) publishes each within a few seconds of its write."""
    from beeldpost.settings import S3Url

    manifests = tmp_path / "manifests"
    manifests.mkdir()
    journal = make_journal(Settings.of(images_dir=S3Url(bucket.url), cache_dir=tmp_path / "cache",
                                       scratch_dir=tmp_path / "scratch", manifests_dir=manifests))
    watcher = Watcher(journal.scan, [manifests], tmp_path / "writer.lock", interval=3600,
                      due=journal.listing_due).start()
    try:
        assert eventually(lambda: watcher.scans >= 1)
        late = []
        for number in range(4):
            item = f"snel-{number}"
            make_jpeg(tmp_path / f"{item}.jpg", 640 + number, 480)
            bucket.put(f"{item}.jpg", tmp_path / f"{item}.jpg")  # the scan first
            write_record(manifests, item, record_data(item, people=None))
            written = time.monotonic()
            assert eventually(lambda: journal.read(index.entry, item) is not None, 10.0), item
            took = time.monotonic() - written
            if took > 5.0:
                late.append((item, took))
            time.sleep(0.3 * number)  # each inside the last listing's window
        assert late == []
        # A record whose scan comes up a moment after it (against the README's order)
        # is found by one of the next listings, still within seconds.
        write_record(manifests, "later", record_data("later", people=None))
        time.sleep(1.0)
        make_jpeg(tmp_path / "later.jpg", 700, 480)
        bucket.put("later.jpg", tmp_path / "later.jpg")
        uploaded = time.monotonic()
        assert eventually(lambda: journal.read(index.entry, "later") is not None, 10.0)
        assert time.monotonic() - uploaded < 5.0
    finally:
        watcher.stop()
