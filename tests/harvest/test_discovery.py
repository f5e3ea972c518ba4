"""Change Discovery 1.0 from the activity journal: the stream's shape, Create /
Update / Delete as records come, change and go, persistence across restarts,
crash safety, and concurrent scanners that never write a change twice; on SQLite and,
where the database matters, on PostgreSQL too (`catalogue_settings`, `backend`)."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
import time
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from beeldpost import create_app
from beeldpost.catalogue.journal import Journal, _Writer

from support.live import LiveServer
from support.presentation import make_jpeg, record_data, write_record

BASE = "http://localhost"
CONTEXT = "http://iiif.io/api/discovery/1/context.json"
MEDIA_TYPE = f'application/ld+json;profile="{CONTEXT}"'
END_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TYPES = {"Create", "Update", "Delete"}


# --------------------------------------------------------------------------- set-up


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    for item in ("alpha", "beta"):
        make_jpeg(images / f"{item}.jpg", 1200, 800)
        write_record(manifests, item)
    return images, manifests


def make_app(tmp_path: Path, folders, **overrides):
    images, manifests = folders
    settings = {"images_dir": images, "manifests_dir": manifests,
                "cache_dir": tmp_path / "cache", "journal_file": tmp_path / "journal.sqlite3",
                "journal_interval": 0, "discovery_page_size": 3, **overrides}
    app = create_app(settings)
    app.extensions["beeldpost.journal"].scan()  # what a server does at start
    return app


def write_atomically(path: Path, text: str) -> None:
    """As an editor saves: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, "utf-8")
    temporary.replace(path)


def edit_record(manifests: Path, item: str, **changes) -> None:
    data = yaml.safe_load((manifests / f"{item}.yaml").read_text("utf-8"))
    data.update(changes)
    write_atomically(manifests / f"{item}.yaml",
                     yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def get(client, path: str, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def stream(client) -> list[dict]:
    """Every activity, oldest first, checking the stream against Change Discovery 1.0 on
    the way: forwards from `first` by `next`, then backwards from `last` by `prev`."""
    response = get(client, "/iiif/discovery")
    assert response.headers["Content-Type"] == MEDIA_TYPE
    collection = response.get_json()
    assert list(collection)[0] == "@context" and collection["@context"] == CONTEXT
    assert collection["id"] == f"{BASE}/iiif/discovery"
    assert collection["type"] == "OrderedCollection"
    for end in ("first", "last"):
        assert collection[end]["type"] == "OrderedCollectionPage"
        assert collection[end]["id"].startswith(f"{BASE}/iiif/discovery/page/")

    forwards, pages = [], []
    url = collection["first"]["id"]
    while url:
        page = get(client, urlsplit(url).path).get_json()
        assert page["@context"] == CONTEXT
        assert page["id"] == url and page["type"] == "OrderedCollectionPage"
        assert page["partOf"] == {"id": collection["id"], "type": "OrderedCollection"}
        assert page["startIndex"] == len(forwards)
        if pages:
            assert page["prev"] == {"id": pages[-1]["id"], "type": "OrderedCollectionPage"}
        else:
            assert "prev" not in page
        forwards.extend(page["orderedItems"])
        pages.append(page)
        url = page.get("next", {}).get("id")
        if url:
            assert page["next"]["type"] == "OrderedCollectionPage"
            assert page["orderedItems"], "only the last page of an empty stream may be empty"
    assert pages[-1]["id"] == collection["last"]["id"]
    assert collection["totalItems"] == len(forwards)

    backwards, url = [], collection["last"]["id"]
    while url:
        page = get(client, urlsplit(url).path).get_json()
        backwards[:0] = page["orderedItems"]
        url = page.get("prev", {}).get("id")
    assert backwards == forwards

    end_times = [activity["endTime"] for activity in forwards]
    assert end_times == sorted(end_times), "oldest first"
    for activity in forwards:
        assert_activity(activity)
    assert len({activity["id"] for activity in forwards}) == len(forwards)
    return forwards


def assert_activity(activity: dict) -> None:
    assert activity["type"] in TYPES
    assert END_TIME.match(activity["endTime"]), activity["endTime"]
    assert activity["id"].startswith(f"{BASE}/iiif/discovery/activity/")
    target = activity["object"]
    assert target["type"] in ("Manifest", "Collection")
    assert target["id"].startswith(f"{BASE}/iiif/")
    assert target["canonical"].startswith(f"{BASE}/iiif/")
    if target["type"] == "Manifest":
        edm, jsonld = target["seeAlso"]
        assert edm == {"id": f"{target['canonical']}/edm.xml", "type": "Dataset",
                       "format": "application/rdf+xml",
                       "profile": "http://www.europeana.eu/schemas/edm/", "label": edm["label"]}
        assert jsonld["type"] == "Dataset" and jsonld["format"] == "application/ld+json"
        assert set(edm["label"]) == {"nl", "en"}


def summary(activities: list[dict], item: str | None = None) -> list[tuple[str, str]]:
    """(type, object id) in order, optionally for one item's objects only."""
    return [(a["type"], a["object"]["id"].removeprefix(BASE)) for a in activities
            if item is None or a["object"]["canonical"].endswith(f"/{item}")]


def item_activities(item: str, kind: str) -> list[tuple[str, str]]:
    manifest = f"/iiif/manifests/{item}"
    return [(kind, manifest), (kind, f"{manifest}/v2")]


# --------------------------------------------------------------------------- the stream


def test_a_new_server_lists_the_collection_and_every_manifest_twice(tmp_path, folders, catalogue_settings):
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    activities = stream(client)
    assert summary(activities) == [("Create", "/iiif/collection"),
                                   *item_activities("alpha", "Create"),
                                   *item_activities("beta", "Create")]
    # Each variant is its own object; both name the Presentation 3 manifest as canonical.
    v3, v2 = activities[1]["object"], activities[2]["object"]
    assert v3["canonical"] == v2["canonical"] == f"{BASE}/iiif/manifests/alpha"
    assert v2["id"] == f"{BASE}/iiif/manifests/alpha/v2"
    collection = activities[0]["object"]
    assert collection == {"id": f"{BASE}/iiif/collection", "type": "Collection",
                          "canonical": f"{BASE}/iiif/collection"}


def test_every_object_and_record_it_names_is_served(tmp_path, folders):
    client = make_app(tmp_path, folders).test_client()
    for activity in stream(client):
        target = activity["object"]
        document = get(client, urlsplit(target["id"]).path).get_json()
        assert (document.get("id") or document.get("@id")) == target["id"]
        for record in target.get("seeAlso", []):
            response = get(client, urlsplit(record["id"]).path)
            assert response.mimetype == record["format"]
        one = get(client, urlsplit(activity["id"]).path).get_json()
        assert one == {"@context": CONTEXT, **activity}


def test_add_edit_and_remove_show_create_update_delete_in_order(tmp_path, folders, catalogue_settings):
    images, manifests = folders
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    before = len(stream(client))

    make_jpeg(images / "gamma.jpg", 1200, 800)
    write_record(manifests, "gamma")
    after_add = stream(client)
    assert summary(after_add[before:]) == [*item_activities("gamma", "Create"),
                                            ("Update", "/iiif/collection")]

    edit_record(manifests, "gamma", label={"nl": "Nieuwe titel, langer", "en": "New title, longer"})
    after_edit = stream(client)
    # A new label changes the collection (it lists labels) as well as the manifest.
    assert summary(after_edit[len(after_add):]) == [*item_activities("gamma", "Update"),
                                                     ("Update", "/iiif/collection")]

    edit_record(manifests, "gamma", summary={"nl": "Links: Anna. Rechts: Piet en nog iemand",
                                             "en": "Left: Anna. Right: Piet and someone else"})
    after_summary = stream(client)
    assert summary(after_summary[len(after_edit):]) == item_activities("gamma", "Update")

    (manifests / "gamma.yaml").unlink()
    after_remove = stream(client)
    assert summary(after_remove[len(after_summary):]) == [*item_activities("gamma", "Delete"),
                                                           ("Update", "/iiif/collection")]

    gamma = [a["type"] for a in after_remove if a["object"]["id"] == f"{BASE}/iiif/manifests/gamma"]
    assert gamma == ["Create", "Update", "Update", "Delete"]
    assert stream(client) == after_remove  # nothing changed: nothing new


def test_a_changed_transcript_or_image_is_an_update(tmp_path, folders, catalogue_settings):
    images, manifests = folders
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    before = len(stream(client))
    write_atomically(manifests / "alpha.transcript.txt", "Een heel andere tekst.\n\nNog een alinea.\n")
    after_transcript = stream(client)
    assert summary(after_transcript[before:]) == item_activities("alpha", "Update")

    make_jpeg(tmp_path / "beta.jpg", 1300, 900)
    (tmp_path / "beta.jpg").replace(images / "beta.jpg")
    after_image = stream(client)
    assert summary(after_image[len(after_transcript):]) == item_activities("beta", "Update")


def test_an_item_deleted_and_added_again_is_created_again(tmp_path, folders, catalogue_settings):
    _images, manifests = folders
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    saved = (manifests / "beta.yaml").read_text("utf-8")
    (manifests / "beta.yaml").unlink()
    stream(client)
    write_atomically(manifests / "beta.yaml", saved)
    beta = summary(stream(client), "beta")
    assert [kind for kind, object_id in beta if object_id == "/iiif/manifests/beta"] == [
        "Create", "Delete", "Create"]


def test_a_broken_record_is_left_as_it_was_until_fixed(tmp_path, folders, catalogue_settings):
    _images, manifests = folders
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    before = stream(client)
    good = (manifests / "alpha.yaml").read_text("utf-8")
    write_atomically(manifests / "alpha.yaml", good.replace("rights: ", "rights: nonsense "))
    assert client.get("/iiif/manifests/alpha").status_code == 422
    assert stream(client) == before  # no Delete for a typo, no Update for a broken record
    write_atomically(manifests / "alpha.yaml", good.replace("Proefstuk", "Proefstuk (verbeterd)"))
    fixed = stream(client)
    assert summary(fixed[len(before):]) == [*item_activities("alpha", "Update"),
                                            ("Update", "/iiif/collection")]


def test_a_record_waiting_for_its_transcript_is_created_when_it_comes(tmp_path, folders, catalogue_settings):
    images, manifests = folders
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    before = stream(client)
    make_jpeg(images / "gamma.jpg", 1200, 800)
    write_record(manifests, "gamma", transcript=None)  # the record names a file not there yet
    assert stream(client) == before
    write_atomically(manifests / "gamma.transcript.txt", "Eindelijk de tekst.\n")
    assert summary(stream(client)[len(before):]) == [*item_activities("gamma", "Create"),
                                                    ("Update", "/iiif/collection")]


def test_a_missing_image_is_left_as_it_was(tmp_path, folders, catalogue_settings):
    images, _manifests = folders
    client = make_app(tmp_path, folders, **catalogue_settings).test_client()
    before = stream(client)
    shutil.move(images / "beta.jpg", tmp_path / "beta.jpg")
    assert stream(client) == before
    shutil.move(tmp_path / "beta.jpg", images / "beta.jpg")
    assert stream(client) == before  # the same image back: nothing changed


# --------------------------------------------------------------------------- persistence


def test_activities_survive_a_restart_and_nothing_is_journalled_twice(tmp_path, folders, catalogue_settings):
    images, manifests = folders
    first = make_app(tmp_path, folders, **catalogue_settings).test_client()
    make_jpeg(images / "gamma.jpg", 1200, 800)
    write_record(manifests, "gamma")
    stream(first)
    edit_record(manifests, "gamma", label={"nl": "Anders", "en": "Different"})
    stream(first)
    (manifests / "gamma.yaml").unlink()
    history = stream(first)
    del first

    second = make_app(tmp_path, folders, **catalogue_settings).test_client()  # a new process would see the same file
    assert stream(second) == history
    # Changes made while the server was down are found when it starts again.
    make_jpeg(images / "delta.jpg", 1200, 800)
    write_record(manifests, "delta")
    third = make_app(tmp_path, folders, **catalogue_settings)
    created = [a for a in stream(third.test_client()) if a["type"] == "Create"
               and a["object"]["id"] == f"{BASE}/iiif/manifests/delta"]
    assert len(created) == 1


def test_a_scan_that_fails_midway_writes_nothing(tmp_path, folders, monkeypatch, catalogue_settings):
    images, manifests = folders
    app = make_app(tmp_path, folders, **catalogue_settings)
    journal: Journal = app.extensions["beeldpost.journal"]
    before = journal.count()
    make_jpeg(images / "gamma.jpg", 1200, 800)
    write_record(manifests, "gamma")
    write_record(manifests, "delta", record_data("delta", image="gamma"))

    real_write = _Writer.write
    calls = []

    def dying_write(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:  # the power goes after the first change was inserted
            raise KeyboardInterrupt
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(_Writer, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        journal.scan()
    assert journal.count() == before  # all or nothing
    monkeypatch.setattr(_Writer, "write", real_write)
    written = journal.scan()
    assert [(a.type, a.kind, a.item) for a in written] == [
        ("Create", "manifest", "delta"), ("Create", "manifest2", "delta"),
        ("Create", "manifest", "gamma"), ("Create", "manifest2", "gamma"),
        ("Update", "collection", "")]
    # The numbers the interrupted scan took were given back: no gap in the stream.
    assert [a.n for a in journal.activities(0, 1000)] == list(range(1, journal.count() + 1))


def test_the_journal_is_sqlite_in_wal_mode_in_the_cache_by_default(tmp_path, folders):
    images, manifests = folders
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache"})
    journal = app.extensions["beeldpost.journal"]
    journal.scan()
    assert journal.path == tmp_path / "cache" / "journal.sqlite3"
    with sqlite3.connect(journal.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM activities").fetchone()[0] == 5


# --------------------------------------------------------------------------- concurrency


def test_concurrent_scanners_never_write_a_change_twice(tmp_path, folders, catalogue_settings):
    images, manifests = folders
    apps = [make_app(tmp_path, folders, **catalogue_settings) for _ in range(4)]  # as gunicorn workers would
    journals: list[Journal] = [app.extensions["beeldpost.journal"] for app in apps]
    for round_number in range(3):
        item = f"item{round_number}"
        make_jpeg(images / f"{item}.jpg", 1200, 800)
        write_record(manifests, item)
        edit_record(manifests, "alpha", label={"nl": f"Ronde {round_number}",
                                               "en": f"Round {round_number}"})
        barrier = threading.Barrier(len(journals) * 2)
        errors = []

        def scan(journal: Journal):
            try:
                barrier.wait()
                journal.scan()
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=scan, args=(journal,))
                   for journal in journals for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        journals[0].scan()  # anything a racing scanner left for later
    activities = stream(apps[0].test_client())
    alpha = summary(activities, "alpha")
    assert alpha == [*item_activities("alpha", "Create")] + [
        *item_activities("alpha", "Update")] * 3
    for round_number in range(3):
        assert summary(activities, f"item{round_number}") == item_activities(
            f"item{round_number}", "Create")
    with journals[0]._reading() as db:
        versions = db.execute("SELECT kind, item, version, COUNT(*) FROM activities "
                              "GROUP BY kind, item, version HAVING COUNT(*) > 1").fetchall()
        # Numbered without gaps, whoever wrote them: the count is the last number.
        assert db.execute("SELECT MAX(n), COUNT(*) FROM activities").fetchone()[0] == \
            db.execute("SELECT COUNT(*) FROM activities").fetchone()[0]
    assert versions == []


def eventually_more(read, count: int, within: float = 15.0) -> list:
    """What `read()` gives once it has `count` entries: a server's watcher journals what
    changed in its folders within a few seconds, not at once."""
    deadline = time.monotonic() + within
    found = read()
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        found = read()
    return found


@pytest.mark.live
def test_a_live_server_journals_and_keeps_its_history_across_a_restart(tmp_path, monkeypatch,
                                                                      catalogue_settings):
    """gunicorn with two workers (both scan at start), edits from outside, a restart."""
    import json

    import urllib.request

    monkeypatch.setenv("BEELDPOST_JOURNAL_INTERVAL", "0")
    root = tmp_path
    images, manifests = root / "images", root / "manifests"
    images.mkdir()
    manifests.mkdir()
    make_jpeg(images / "alpha.jpg", 1200, 800)
    write_record(manifests, "alpha")

    def activities(server) -> list[tuple[str, str]]:
        found, url = [], f"{server.url}/iiif/discovery/page/0"
        while url:
            with urllib.request.urlopen(url, timeout=20) as response:
                assert response.headers["Content-Type"] == MEDIA_TYPE
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                page = json.load(response)
            found += [(a["type"], urlsplit(a["object"]["id"]).path) for a in page["orderedItems"]]
            url = page.get("next", {}).get("id")
        return found

    database = {"BEELDPOST_DATABASE_URL": catalogue_settings["database_url"]} \
        if "database_url" in catalogue_settings else {}
    server = LiveServer(root, images, settings=database)
    try:
        time.sleep(0.5)
        first = activities(server)
        assert first == [("Create", "/iiif/collection"), *item_activities("alpha", "Create")]
        make_jpeg(images / "beta.jpg", 1200, 800)
        write_record(manifests, "beta")
        edit_record(manifests, "alpha", label={"nl": "Anders", "en": "Different"})
        second = eventually_more(lambda: activities(server), len(first) + 5)
        assert second[len(first):] == [*item_activities("alpha", "Update"),
                                        *item_activities("beta", "Create"),
                                        ("Update", "/iiif/collection")]
        request = urllib.request.Request(f"{server.url}/iiif/discovery/page/0",
                                         headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert json.loads(gzip.decompress(response.read()))["orderedItems"]
    finally:
        server.stop()
    (manifests / "beta.yaml").unlink()
    restarted = LiveServer(root, images, settings=database)
    try:
        third = eventually_more(lambda: activities(restarted), len(second) + 3)
        assert third[:len(second)] == second
        assert third[len(second):] == [*item_activities("beta", "Delete"),
                                       ("Update", "/iiif/collection")]
    finally:
        restarted.stop()


# --------------------------------------------------------------------------- HTTP


def test_discovery_is_cors_gzip_and_revalidates(tmp_path, folders):
    client = make_app(tmp_path, folders, discovery_page_size=100).test_client()
    plain = get(client, "/iiif/discovery/page/0")
    assert plain.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Encoding" not in plain.headers
    zipped = get(client, "/iiif/discovery/page/0", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = client.get("/iiif/discovery/page/0", headers={
        "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    assert again.headers["ETag"] == zipped.headers["ETag"]
    assert client.get("/iiif/discovery/page/0", headers={
        "If-None-Match": plain.headers["ETag"]}).status_code == 304


def test_pages_beyond_the_last_and_unknown_activities_are_404(tmp_path, folders):
    client = make_app(tmp_path, folders).test_client()
    total = len(stream(client))
    last_page = (total - 1) // 3
    for path in (f"/iiif/discovery/page/{last_page + 1}", "/iiif/discovery/activity/999",
                 "/iiif/discovery/page/x"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/plain"
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_an_empty_folder_has_only_the_collection(tmp_path, catalogue_settings):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    client = make_app(tmp_path, (images, manifests), **catalogue_settings).test_client()
    assert summary(stream(client)) == [("Create", "/iiif/collection")]


def test_public_base_url_is_used_for_every_id(tmp_path, folders):
    client = make_app(tmp_path, folders, public_base_url="https://beeld.archief.example").test_client()
    text = get(client, "/iiif/discovery/page/0").get_data(as_text=True)
    assert "http://localhost" not in text
    assert "https://beeld.archief.example/iiif/manifests/alpha" in text


def test_discovery_checks_at_most_once_per_interval(tmp_path, folders):
    images, manifests = folders
    client = make_app(tmp_path, folders, journal_interval=3600).test_client()
    before = get(client, "/iiif/discovery").get_json()["totalItems"]
    make_jpeg(images / "gamma.jpg", 1200, 800)
    write_record(manifests, "gamma")
    # The start-up scan just ran: within the interval the journal is not checked again.
    assert get(client, "/iiif/discovery").get_json()["totalItems"] == before


def test_beeldpost_journal_command(tmp_path, folders, monkeypatch, capsys, catalogue_settings):
    from beeldpost import cli

    images, manifests = folders
    if "database_url" in catalogue_settings:
        monkeypatch.setenv("BEELDPOST_DATABASE_URL", catalogue_settings["database_url"])
    monkeypatch.setenv("BEELDPOST_IMAGES", str(images))
    monkeypatch.setenv("BEELDPOST_MANIFESTS", str(manifests))
    monkeypatch.setenv("BEELDPOST_CACHE", str(tmp_path / "cli-cache"))
    assert cli.main(["journal"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1:] for line in lines] == [
        ["Create", "collection"], ["Create", "manifest", "alpha"], ["Create", "manifest2", "alpha"],
        ["Create", "manifest", "beta"], ["Create", "manifest2", "beta"]]
    assert cli.main(["journal"]) == 0
    assert capsys.readouterr().out == ""


def test_a_full_ingest_also_journals(tmp_path, folders, monkeypatch, capsys):
    from beeldpost import cli

    images, manifests = folders
    monkeypatch.setenv("BEELDPOST_IMAGES", str(images))
    monkeypatch.setenv("BEELDPOST_MANIFESTS", str(manifests))
    monkeypatch.setenv("BEELDPOST_CACHE", str(tmp_path / "cli-cache"))
    assert cli.main(["ingest"]) == 0
    assert "5 new activities" in capsys.readouterr().err
    assert cli.main(["ingest", "alpha"]) == 0  # building one image's derivative does not
    assert "new activities" not in capsys.readouterr().err
