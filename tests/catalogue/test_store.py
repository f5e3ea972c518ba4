"""The catalogue as requests read it (catalogue/store.py): every request is answered from
the index and the item's own record, on a store of a few thousand items filed in
subfolders; identifiers held twice are refused; image policies and rights come from
the index. On SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from beeldpost import create_app
from beeldpost.catalogue import index
from beeldpost.catalogue import journal as journal_module
from beeldpost.catalogue import records as records_module
from beeldpost.catalogue.records import RecordStore

from support.postgres import BACKENDS, settings_for
from support.presentation import make_jpeg, record_data, write_record

ITEMS = 2400
SERIES = ("Wijkgericht Werken", "Wijkposten", "Woningbouw")
BASE = "http://localhost"


def place(number: int) -> tuple[list[str], str]:
    """The item's levels and its records subfolder, as an archive files them."""
    series = SERIES[number % len(SERIES)]
    levels = ["Batavialand", "Nieuw Land", series]
    return levels, f"nieuw-land/{series.lower().replace(' ', '-')}"


@pytest.fixture(scope="module", params=BACKENDS)
def archive(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("many-records")
    images, manifests = root / "images", root / "manifests"
    for number in range(ITEMS):
        item = f"stuk-{number:05d}"
        levels, folder = place(number)
        (manifests / folder).mkdir(parents=True, exist_ok=True)
        (images / folder).mkdir(parents=True, exist_ok=True)
        make_jpeg(images / folder / f"{item}.jpg", 96, 64)
        write_record(manifests / folder, item, record_data(
            item, people=None, collection=levels, date=1990 + number % 12,
            transcript=None if number % 10 else record_data(item)["transcript"]),
            transcript=f"Interview {number} over de wijkpost.\n")
    # (The response cache counts its own folder once per worker, and again after every
    # twentieth of its size written: an image cost, amortised, and not the catalogue's.)
    app = create_app({"images_dir": images, "manifests_dir": manifests, "cache_dir": root / "cache",
                      "viewers_dir": root / "no-viewers", "response_cache": False,
                      **settings_for(request, request.param, root / "cache")})
    app.extensions["beeldpost.journal"].scan()
    # As in the server: the watcher keeps the index current, requests only read it.
    app.extensions["beeldpost.catalogue"].check_on_request = False
    return app.test_client()


@pytest.fixture
def counted(monkeypatch):
    """Folder listings (any module) and record parses (records and journal)."""
    counts = {"listings": 0, "parses": 0}
    real_listdir, real_scandir = os.listdir, os.scandir
    real_parse = records_module.parse_record

    def listdir(*args):
        counts["listings"] += 1
        return real_listdir(*args)

    def scandir(*args):
        counts["listings"] += 1
        return real_scandir(*args)

    def parse(*args, **kwargs):
        counts["parses"] += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(records_module, "parse_record", parse)
    monkeypatch.setattr(journal_module, "parse_record", parse)
    return counts


def deep() -> str:
    return "/iiif/collection/batavialand/nieuw-land/wijkposten"


@pytest.mark.parametrize("path", [
    "/iiif/collection",
    "/iiif/collection/batavialand",
    deep(),
    "/",
    "/?page=20",
    "/iiif/discovery",
    "/iiif/discovery/page/0",
    "/sitemap.xml",
    "/sitemap/0.xml",
    "/sitemap/collections/0.xml",
    "/ready",
])
def test_lists_read_the_index_only(archive, counted, path):
    answer = archive.get(path)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert counted == {"listings": 0, "parses": 0}


def test_a_manifest_parses_its_own_record_only_and_lists_no_folder(archive, counted):
    folder = archive.application.config["BEELDPOST"].manifests_dir / "nieuw-land" / "wijkposten"
    path = folder / "stuk-00007.yaml"
    path.write_text(path.read_text("utf-8").replace("Proefstuk", "Ander proefstuk"), "utf-8")
    os.utime(path, ns=(1, 1))  # a stamp of its own, however fast the edit
    answer = archive.get("/iiif/manifests/stuk-00007")
    assert answer.status_code == 200
    assert answer.get_json()["label"]["nl"] == ["Ander proefstuk stuk-00007"]
    assert counted == {"listings": 0, "parses": 1}
    # Again, unchanged: from the cache kept by its file's stamp.
    assert archive.get("/iiif/manifests/stuk-00007").status_code == 200
    assert counted["parses"] == 1
    assert archive.get("/iiif/manifests/nothing-here").status_code == 404
    assert counted == {"listings": 0, "parses": 1}


def test_images_in_subfolders_are_found_by_index_lookup(archive, counted):
    for path in ("/iiif/3/stuk-00011/info.json", "/iiif/3/stuk-00011/full/max/0/default.jpg",
                 "/iiif/2/stuk-00011/info.json"):
        assert archive.get(path).status_code == 200, path
    assert archive.get("/iiif/3/stuk-99999/info.json").status_code == 404
    assert counted["listings"] == 0


def test_a_level_of_the_hierarchy_lists_its_items_in_order(archive):
    document = archive.get(deep()).get_json()
    assert document["type"] == "Collection"
    assert document["label"] == {"nl": ["Wijkposten"], "en": ["Wijkposten"]}
    assert document["partOf"][0]["id"] == f"{BASE}/iiif/collection/batavialand/nieuw-land"
    assert document["summary"]["en"] == [f"{ITEMS // 3} items"]
    assert document["thumbnail"][0]["type"] == "Image"
    ids = [member["id"].rsplit("/", 1)[1] for member in document["items"]]
    assert ids == sorted(f"stuk-{n:05d}" for n in range(ITEMS) if n % 3 == 1)
    assert all(member["type"] == "Manifest" and member["thumbnail"] for member in document["items"])
    manifest = archive.get("/iiif/manifests/stuk-00001").get_json()
    assert manifest["partOf"] == [{"id": f"{BASE}{deep()}", "type": "Collection",
                                   "label": {"nl": ["Wijkposten"], "en": ["Wijkposten"]}}]


# --------------------------------------------------------------------------- refused


@pytest.fixture
def small(tmp_path, catalogue_settings):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    (images / "a").mkdir(parents=True)
    (images / "b").mkdir(parents=True)
    (manifests / "a").mkdir(parents=True)
    (manifests / "b").mkdir(parents=True)
    for item in ("een", "twee"):
        make_jpeg(images / "a" / f"{item}.jpg", 1200, 800)
        write_record(manifests / "a", item)
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "journal_interval": 0, **catalogue_settings})
    return app, images, manifests


def items_of(client) -> list[str]:
    return [m["id"].rsplit("/", 1)[1] for m in client.get("/iiif/collection").get_json()["items"]]


def test_two_records_with_one_id_are_both_refused(small):
    app, images, manifests = small
    client = app.test_client()
    assert items_of(client) == ["een", "twee"]
    shutil.copy(manifests / "a" / "een.yaml", manifests / "b" / "een.yaml")
    answer = client.get("/iiif/manifests/een")
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "a/een.yaml and b/een.yaml" in text and "two records have the id 'een'" in text
    assert items_of(client) == ["een", "twee"]  # its last good state stays listed
    # A new id held twice is never published.
    make_jpeg(images / "a" / "drie.jpg", 1200, 800)
    write_record(manifests / "a", "drie")
    write_record(manifests / "b", "drie")
    assert client.get("/iiif/manifests/drie").status_code == 422
    assert items_of(client) == ["een", "twee"]
    (manifests / "b" / "een.yaml").unlink()
    (manifests / "b" / "drie.yaml").unlink()
    assert client.get("/iiif/manifests/een").status_code == 200
    assert items_of(client) == ["drie", "een", "twee"]


def test_two_images_with_one_stem_in_two_folders_are_both_refused(small):
    app, images, manifests = small
    client = app.test_client()
    assert client.get("/iiif/3/een/info.json").status_code == 200
    make_jpeg(images / "b" / "een.jpg", 600, 400)
    answer = client.get("/iiif/3/een/info.json")
    assert answer.status_code == 422
    assert "a/een.jpg and b/een.jpg" in answer.get_data(as_text=True)
    (images / "b" / "een.jpg").unlink()
    assert client.get("/iiif/3/een/info.json").status_code == 200


def test_a_master_beside_its_access_copy_in_one_folder_is_served(small):
    app, images, _manifests = small
    client = app.test_client()
    make_jpeg(images / "a" / "twee.png", 1200, 800)
    assert client.get("/iiif/3/twee/info.json").status_code == 200


# --------------------------------------------------------------------------- policies


def test_rights_and_size_caps_of_an_image_come_from_the_records_showing_it(small):
    app, _images, manifests = small
    catalogue = app.extensions["beeldpost.catalogue"]
    lookups = app.extensions["beeldpost.images"].lookups  # what the image core asks
    assert lookups is catalogue.lookups
    write_record(manifests / "a", "twee", record_data(
        "twee", rights="http://creativecommons.org/publicdomain/zero/1.0/", max_size=600))
    catalogue.current()
    assert lookups.rights("een") == "http://rightsstatements.org/vocab/InC/1.0/"
    assert lookups.rights("twee") == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert lookups.rights("geen-record") is None
    assert lookups.policy("twee").max_size == 600
    # Two records showing one image: no single rights, the strictest cap.
    write_record(manifests / "b", "drie", record_data(
        "drie", image="twee", rights="http://rightsstatements.org/vocab/CNE/1.0/", max_size=400))
    catalogue.current()
    assert lookups.rights("twee") is None
    assert lookups.policy("twee").max_size == 400


def test_commands_walk_the_subfolders(small):
    _app, _images, manifests = small
    store = RecordStore(manifests, lambda identifier: (1200, 800))
    assert store.walk() == {"a/een.yaml": "een", "a/twee.yaml": "twee"}
    records, broken = store.load_all()
    assert [record.item for record in records] == ["een", "twee"] and broken == []
    assert records[0].file == "a/een.yaml"


def test_a_record_moved_to_another_folder_is_the_same_item(small):
    app, _images, manifests = small
    client = app.test_client()
    journal = app.extensions["beeldpost.journal"]
    assert items_of(client) == ["een", "twee"]
    before = journal.count()
    (manifests / "a" / "een.yaml").rename(manifests / "b" / "een.yaml")
    (manifests / "a" / "een.transcript.txt").rename(manifests / "b" / "een.transcript.txt")
    assert client.get("/iiif/manifests/een").status_code == 200
    assert items_of(client) == ["een", "twee"]
    assert journal.count() == before  # the same record: no Update, no Delete and Create
    entry = journal.read(index.entry, "een")
    assert entry.file == "b/een.yaml" and entry.transcript_file == "b/een.transcript.txt"


def test_kept_documents_last_until_the_catalogue_changes_and_stay_within_their_bytes(small):
    app, _images, manifests = small
    catalogue = app.extensions["beeldpost.catalogue"]
    catalogue.KEPT_BYTES = 1000
    builds = []

    def build(name: str, size: int):
        return lambda: builds.append(name) or "x" * size

    assert catalogue.kept(("a",), build("a", 400)) == "x" * 400
    assert catalogue.kept(("a",), build("a", 400)) and builds == ["a"]  # kept
    catalogue.kept(("b",), build("b", 400))
    catalogue.kept(("c",), build("c", 400))  # over 1,000 bytes: the oldest, a, goes
    catalogue.kept(("b",), build("b", 400))
    catalogue.kept(("a",), build("a", 400))
    assert builds == ["a", "b", "c", "a"]
    catalogue.kept(("huge",), build("huge", 5000))  # larger than all: given, not kept
    catalogue.kept(("huge",), build("huge", 5000))
    assert builds[-2:] == ["huge", "huge"] and catalogue._kept_size <= 1000
    write_record(manifests / "a", "twee", record_data("twee", label={"nl": "Ander", "en": "Other"}))
    catalogue.kept(("a",), build("a", 400))  # the catalogue changed: made again
    assert builds[-1] == "a" and builds.count("a") == 3


# --------------------------------------------------------------------------- served ⇒ journalled


def test_what_lists_show_is_journalled_while_two_workers_change_and_read_at_once(
        tmp_path, catalogue_settings):
    """Two processes' worth of apps on one catalogue: both scan while records come and
    go; a third only reads (as a served worker does). Whatever a list shows has its
    Create journalled, and whatever left a list has its Delete: the journal only grows,
    so looking at it right after reading a list is enough."""
    import threading
    import time

    images, manifests = tmp_path / "images", tmp_path / "manifests"
    (manifests / "serie").mkdir(parents=True)
    images.mkdir()
    for number in range(40):
        make_jpeg(images / f"beeld-{number:02d}.jpg", 96, 64)
    settings = {"images_dir": images, "manifests_dir": manifests, "cache_dir": tmp_path / "cache",
                "journal_interval": 0, **catalogue_settings}
    writers = [create_app(settings), create_app(settings)]
    reader = create_app(settings)
    reader.extensions["beeldpost.catalogue"].check_on_request = False
    writers[0].extensions["beeldpost.journal"].scan()
    stop = threading.Event()
    failures = []

    def change():
        step = 0
        while not stop.is_set():
            item = f"stuk-{step % 40:02d}"
            path = manifests / "serie" / f"{item}.yaml"
            if path.exists():
                path.unlink()
            else:
                write_record(manifests / "serie", item, record_data(
                    item, image=f"beeld-{step % 40:02d}", people=None, transcript=None,
                    collection=["Archief", "Serie"]))
            step += 1
            time.sleep(0.01)

    def scan(app):
        while not stop.is_set():
            try:
                app.extensions["beeldpost.journal"].scan()
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(repr(error))

    threads = [threading.Thread(target=change)] + \
        [threading.Thread(target=scan, args=(app,)) for app in writers]
    for thread in threads:
        thread.start()
    client = reader.test_client()
    journal = reader.extensions["beeldpost.journal"]
    seen_ever: set[str] = set()
    previous: dict[str, set[str]] = {"level": set(), "sitemap": set()}
    departures = 0
    created_when_seen: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            before = journal.count()  # activities are numbered 1, 2, … (journal.py)
            lists = {"level": set(), "sitemap": set()}
            level = client.get("/iiif/collection/archief/serie")
            if level.status_code == 200:
                lists["level"] = {m["id"].rsplit("/", 1)[1] for m in level.get_json()["items"]}
            sitemap = client.get("/sitemap/0.xml").get_data(as_text=True)
            lists["sitemap"] = set(re.findall(r"/iiif/manifests/(stuk-\d\d)</loc>", sitemap))
            page = client.get("/search?q=Proefstuk").get_data(as_text=True)
            searched = set(re.findall(r'href="http://localhost/items/(stuk-\d\d)"', page))
            after = journal.count()
            history: dict[str, list[tuple[int, str]]] = {}
            for activity in journal.activities(0, after):
                if activity.kind == "manifest":
                    history.setdefault(activity.item, []).append((activity.n, activity.type))
            for item in lists["level"] | lists["sitemap"] | searched:
                # Listed: published when the lists were read, so journalled by then: its
                # last activity before them a Create or Update, or a Create while they
                # were read.
                acts = history.get(item, [])
                earlier = [kind for n, kind in acts if n <= before]
                assert (earlier and earlier[-1] in ("Create", "Update")) or any(
                    kind == "Create" and before < n <= after for n, kind in acts), (item, acts)
                created_when_seen[item] = max(n for n, kind in acts if kind == "Create")
            for name, shown in lists.items():
                for item in previous[name] - shown:  # left this list: its Delete is in
                    departures += 1
                    assert any(kind == "Delete" and n > created_when_seen[item]
                               for n, kind in history[item]), (name, item, history[item])
            previous = lists
            seen_ever |= lists["level"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    # The lists did change under the readers, both ways.
    assert len(seen_ever) >= 10 and departures >= 5, (len(seen_ever), departures)


def test_a_server_without_the_records_folder_serves_what_was_journalled(small, counted):
    """Several servers share one catalogue: a node that has the index but no records
    folder of its own builds every item from the texts the index holds (the transcript
    included), and its own checks never take the missing folder for an emptied archive."""
    app, images, manifests = small
    writer = app.test_client()
    assert writer.get("/iiif/collection").status_code == 200  # scanned: both published
    settings = app.config["BEELDPOST"]
    node = create_app({"images_dir": images, "manifests_dir": manifests.parent / "not-here",
                       "cache_dir": settings.cache_dir, "journal_interval": 0, "watch": False,
                       "database_url": settings.database_url})
    reader = node.test_client()
    for path in ("/iiif/manifests/een", "/iiif/manifests/twee", "/items/een",
                 "/items/een/transcript.txt"):
        mine, theirs = reader.get(path), writer.get(path)
        assert mine.status_code == 200, (path, mine.get_data(as_text=True))
        assert mine.get_data() == theirs.get_data(), path
    transcript = (manifests / "a" / "een.transcript.txt").read_text("utf-8").split("\n\n")[0]
    assert transcript.strip() in reader.get("/items/een/transcript.txt").get_data(as_text=True)
    journal = node.extensions["beeldpost.journal"]
    before = journal.count()
    assert journal.scan() == [] and journal.count() == before  # no Delete of anything
    assert reader.get("/iiif/manifests/nothing").status_code == 404
    # An edit the writer journals is what the node serves next.
    (manifests / "a" / "een.yaml").write_text(
        (manifests / "a" / "een.yaml").read_text("utf-8").replace("Proefstuk", "Herzien"), "utf-8")
    os.utime(manifests / "a" / "een.yaml", ns=(1, 1))
    app.extensions["beeldpost.journal"].scan()
    assert reader.get("/iiif/manifests/een").get_json()["label"]["nl"] == ["Herzien een"]
