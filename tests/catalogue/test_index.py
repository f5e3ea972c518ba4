"""The catalogue index (catalogue/index.py) changes with the journal, in one transaction:
an item is indexed exactly while its last activity is a Create or an Update; a broken
record keeps its last good entry; search folds case and diacritics, takes prefixes
and phrases, and never fails on odd input. On SQLite and on PostgreSQL alike."""

from __future__ import annotations

import os

import pytest

from beeldpost.catalogue import index
from beeldpost.catalogue.journal import Journal, JournalUnavailable
from beeldpost.catalogue.records import RecordStore
from beeldpost.image.service import ImageService
from beeldpost.settings import Settings

from support.postgres import BACKENDS, database_for
from support.presentation import make_jpeg, record_data, write_record

ITEMS = 2000
IN_ALMERE = sum(1 for number in range(ITEMS) if number % 3 == 1)
INTERVIEW = ("Als wijkcoördinator van Lelystad zag ik het Wijkgericht Werken groeien.\n\n"
             "De Woningbouwvereniging gaf ons een woning voor de eerste wijkpost.\n")


def build(root, items: int, database) -> Journal:
    images, manifests = root / "images", root / "manifests"
    images.mkdir(exist_ok=True)
    manifests.mkdir(exist_ok=True)
    for number in range(items):
        item = f"stuk-{number:04d}"
        make_jpeg(images / f"{item}.jpg", 64, 48)
        data = record_data(item, people=None, place=["Lelystad", "Almere", "Dronten"][number % 3])
        write_record(manifests, item, data, transcript=INTERVIEW if number % 10 == 0 else "Tekst.\n")
    service = ImageService(Settings.of(images_dir=images, cache_dir=root / "cache"))
    store = RecordStore(manifests, lambda identifier: (64, 48))
    return Journal(database, store, service)


@pytest.fixture(scope="module", params=BACKENDS)
def archive(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    journal = build(root, ITEMS, database_for(request, request.param, root))
    journal.scan()
    return root, journal


def activity_items(journal: Journal) -> dict[str, str]:
    """The last activity type of each item's manifest."""
    last = {}
    for activity in journal.activities(0, 1_000_000):
        if activity.kind == "manifest":
            last[activity.item] = activity.type
    return last


def test_every_created_item_is_indexed_and_nothing_else(archive):
    _root, journal = archive
    assert journal.read(index.count) == ITEMS
    assert set(activity_items(journal)) == {f"stuk-{n:04d}" for n in range(ITEMS)}
    entry = journal.read(index.entry, "stuk-0010")
    assert entry.image == "stuk-0010" and entry.label_nl == "Proefstuk stuk-0010"
    assert entry.record.startswith("id: stuk-0010") and entry.transcript == INTERVIEW
    assert entry.rights == "http://rightsstatements.org/vocab/InC/1.0/"
    assert journal.read(index.entry, "nothing-here") is None
    assert [e.item for e in journal.read(index.showing, "stuk-0007")] == ["stuk-0007"]


def test_the_stored_hash_is_given_only_for_the_file_as_it_was_scanned(archive):
    """A worker takes an image's content hash from the catalogue (and keeps it) only while
    the file is the one the scan hashed: same path, size and mtime."""
    root, journal = archive
    source = journal.images.catalog.lookup("stuk-0007")
    stamp = (str(source.path), source.size, source.mtime_ns)
    stored = journal.read(index.stored_hash, "stuk-0007", *stamp)
    assert stored is not None and stored == journal.images.catalog.content_hash(source)
    assert journal.read(index.stored_hash, "stuk-0007", stamp[0], stamp[1] + 1, stamp[2]) is None
    assert journal.read(index.stored_hash, "stuk-0007", stamp[0], stamp[1], stamp[2] + 1) is None
    assert journal.read(index.stored_hash, "stuk-0007", "elders.jpg", *stamp[1:]) is None
    assert journal.read(index.stored_hash, "nothing-here", *stamp) is None


def test_updates_deletes_and_broken_records(tmp_path, catalogue_database):
    journal = build(tmp_path, 3, catalogue_database)
    journal.scan()
    manifests = tmp_path / "manifests"
    write_record(manifests, "stuk-0001", record_data("stuk-0001", people=None,
                                                     label={"nl": "Nieuwe titel", "en": "New title"}))
    (manifests / "stuk-0002.yaml").unlink()
    journal.scan()
    assert journal.read(index.entry, "stuk-0001").label_en == "New title"
    assert journal.read(index.entry, "stuk-0002") is None
    assert activity_items(journal) == {"stuk-0000": "Create", "stuk-0001": "Update",
                                       "stuk-0002": "Delete"}
    # A broken record keeps its last good entry, as it keeps its journalled state.
    (manifests / "stuk-0001.yaml").write_text("id: stuk-0001\nlabel: [niet, goed\n", "utf-8")
    journal.scan()
    assert journal.read(index.entry, "stuk-0001").label_en == "New title"
    assert journal.read(index.search, "Nieuwe")[0] == 1


def test_the_index_and_the_journal_change_together_or_not_at_all(tmp_path, monkeypatch,
                                                                catalogue_database):
    journal = build(tmp_path, 3, catalogue_database)
    journal.scan()
    write_record(tmp_path / "manifests", "stuk-0003", record_data("stuk-0003", people=None))
    make_jpeg(tmp_path / "images" / "stuk-0003.jpg", 64, 48)
    real_put = index.put

    def crash_after_the_index(db, entry, parsed):
        real_put(db, entry, parsed)
        # Mid-transaction, after the index write: what the database's driver raises.
        raise journal.database.errors[0]("disk I/O error")

    monkeypatch.setattr(index, "put", crash_after_the_index)
    with pytest.raises(JournalUnavailable):
        journal.scan()
    monkeypatch.undo()
    assert journal.read(index.entry, "stuk-0003") is None and "stuk-0003" not in activity_items(journal)
    journal.scan()
    assert journal.read(index.entry, "stuk-0003") is not None
    assert activity_items(journal)["stuk-0003"] == "Create"


def test_an_index_added_to_an_existing_journal_is_filled_without_new_activities(
        tmp_path, catalogue_database):
    journal = build(tmp_path, 5, catalogue_database)
    journal.scan()
    before = journal.count()
    with journal.database.writing() as db:  # as a journal from before the index
        for table in ("items", "item_words") + (
                ("item_terms", "words") if db.dialect == "postgresql" else ()):
            db.execute(f"DELETE FROM {table}")
    fresh = build(tmp_path, 5, catalogue_database)  # the same files; a new process
    fresh.scan()
    assert fresh.read(index.count) == 5 and fresh.count() == before


@pytest.mark.parametrize("query, expected", [
    ("wijkcoordinator", 200),          # diacritics folded: wijkcoördinator
    ("WIJKCOÖRDINATOR", 200),          # and case
    ("wijk*", 200),                    # prefix: wijkcoördinator, wijkpost, …
    ('"eerste wijkpost"', 200),        # phrase
    ('"wijkpost eerste"', 0),          # phrase, out of order
    ("Almere", IN_ALMERE),             # the place
    ("almere lelystad", 67),           # both words: Almere's items whose transcript says Lelystad
    ("Proefstuk", ITEMS),              # the label
    ("stuk-0042", 1),                  # its words
    ("nergens", 0),
    ('NOT AND OR ( ) " * ^ : -', 0),   # FTS5 syntax is taken as words, never an error
    ("", 0),
])
def test_search_folds_case_and_diacritics_and_takes_prefixes_and_phrases(archive, query, expected):
    _root, journal = archive
    total, hits = journal.read(index.search, query, 0, 10)
    assert total == expected
    assert len(hits) == min(10, expected)
    if expected and query.strip("*").lower().startswith("wijk"):
        assert "[[" in hits[0].snippet and "]]" in hits[0].snippet


def test_search_pages_are_stable(archive):
    _root, journal = archive
    total, first = journal.read(index.search, "Almere", 0, 50)
    _, second = journal.read(index.search, "Almere", 50, 50)
    assert total == IN_ALMERE and len(first) == len(second) == 50
    assert not {hit.item for hit in first} & {hit.item for hit in second}
    assert journal.read(index.search, "Almere", 0, 50)[1] == first


def test_match_expression_quotes_every_term():
    assert index.match_expression('wijk* "eerste wijkpost" Lely-stad') == \
        '"wijk"* "eerste wijkpost" "Lely" "stad"'
    assert index.match_expression("  ") is None
    assert index.match_expression('"') is None


def test_a_second_writer_sees_the_same_index(archive):
    """Several workers share one index: a second connection reads what the first wrote."""
    root, _journal = archive
    other = build_journal(root, _journal.path or _journal.database.url)  # a Database of its own
    assert other.read(index.count) == ITEMS
    assert other.read(index.search, "wijkcoordinator")[0] == 200


def test_a_restart_reads_no_record_that_has_not_changed(tmp_path, monkeypatch, catalogue_database):
    """A new process (warm start) finds the archive by its files' stamps: it stats the
    records and parses only the one that changed."""
    root = tmp_path
    build(root, 300, catalogue_database).scan()
    from beeldpost.catalogue import journal as journal_module

    parses = []
    real_parse = journal_module.parse_record
    monkeypatch.setattr(journal_module, "parse_record",
                        lambda path, text, file=None: parses.append(path.name) or real_parse(path, text, file))
    restarted = build_journal(root, catalogue_database)
    assert restarted.scan() == [] and parses == []
    write_record(root / "manifests", "stuk-0003", record_data(
        "stuk-0003", people=None, label={"nl": "Herzien", "en": "Revised"}), transcript="Tekst.\n")
    written = restarted.scan()
    assert parses == ["stuk-0003.yaml"]
    assert {(a.type, a.item) for a in written if a.kind == "manifest"} == {("Update", "stuk-0003")}
    assert restarted.read(index.entry, "stuk-0003").label_en == "Revised"


def build_journal(root, database) -> Journal:
    """A journal over folders that `build` made already, as a new process makes it."""
    service = ImageService(Settings.of(images_dir=root / "images", cache_dir=root / "cache"))
    return Journal(database, RecordStore(root / "manifests", lambda i: (64, 48)), service)


def test_a_record_changed_while_it_is_read_is_read_again(tmp_path, monkeypatch, catalogue_database):
    """Stamps are taken before a file is read: an edit landing mid-read is never taken
    for the text already read."""
    journal = build(tmp_path, 2, catalogue_database)
    journal.scan()
    path = tmp_path / "manifests" / "stuk-0001.yaml"
    write_record(tmp_path / "manifests", "stuk-0001", record_data(
        "stuk-0001", people=None, label={"nl": "Eerste", "en": "First"}), transcript="Tekst.\n")
    edited = record_data("stuk-0001", people=None, label={"nl": "Tweede", "en": "Second"})
    real_read = type(path).read_bytes

    def read_then_edit(self):
        data = real_read(self)
        if self == path and b"Eerste" in data:
            write_record(tmp_path / "manifests", "stuk-0001", edited, transcript="Tekst.\n")
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        return data

    monkeypatch.setattr(type(path), "read_bytes", read_then_edit)
    journal.scan()
    assert journal.read(index.entry, "stuk-0001").label_en == "First"  # what was read
    monkeypatch.undo()
    journal.scan()
    assert journal.read(index.entry, "stuk-0001").label_en == "Second"  # and the edit is not lost
