"""The catalogue on PostgreSQL (BEELDPOST_DATABASE_URL, catalogue/database.py): what only
it has to show. Two nodes scanning one archive into one database at once journal each
change once, numbered 1, 2, 3, … without gaps; a new database is migrated once however
many nodes open it together; search and autocomplete answer as they do on SQLite; a
database that goes away is a 503 at once, not a hang, and is used again when it is
back. (The catalogue's other tests run on both databases: `backend` in conftest.py.)"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest

from beeldpost import create_app
from beeldpost.catalogue import database, index, migrations, vocabulary
from beeldpost.catalogue.index import Filters
from beeldpost.catalogue.journal import ITEM_KINDS, Journal, JournalUnavailable
from beeldpost.catalogue.records import RecordStore
from beeldpost.image.service import ImageService
from beeldpost.settings import Settings

from support.archive import build
from support.postgres import PostgresServer, binaries
from support.presentation import make_jpeg, record_data, write_record

pytestmark = pytest.mark.postgresql


def node(root: Path, where: Path | str | database.Database) -> Journal:
    """A journal as one server (node) makes it: its own objects and connections."""
    (root / "images").mkdir(exist_ok=True)
    (root / "manifests").mkdir(exist_ok=True)
    service = ImageService(Settings.of(images_dir=root / "images", cache_dir=root / "cache"))
    return Journal(where, RecordStore(root / "manifests", lambda identifier: (64, 48)), service)


def write_item(root: Path, number: int, label: str = "Proefstuk") -> str:
    item = f"stuk-{number:03d}"
    if not (root / "images" / f"{item}.jpg").exists():
        make_jpeg(root / "images" / f"{item}.jpg", 64, 48)
    write_record(root / "manifests", item, record_data(
        item, people=None, transcript=None, collection=["Archief", f"Serie {number % 3}"],
        label={"nl": f"{label} {item}", "en": f"Test item {item}"}))
    return item


def at_once(journals: list[Journal], rounds: int = 2) -> None:
    """Every journal scans `rounds` times in threads of its own, started together."""
    barrier = threading.Barrier(len(journals) * rounds)
    errors: list[BaseException] = []

    def scan(journal: Journal) -> None:
        try:
            barrier.wait()
            journal.scan()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=scan, args=(journal,))
               for journal in journals for _ in range(rounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


# --------------------------------------------------------------------------- nodes


def test_two_nodes_scanning_one_archive_at_once_journal_each_change_once(tmp_path, postgres_url):
    (tmp_path / "images").mkdir()
    (tmp_path / "manifests").mkdir()
    expected: dict[str, list[str]] = {}
    for number in range(90):
        expected[write_item(tmp_path, number)] = ["Create"]
    nodes = [node(tmp_path, postgres_url), node(tmp_path, postgres_url)]
    for journal in nodes:
        journal.BATCH = 7  # many small transactions, so that the two interleave
    at_once(nodes)
    for round_number in range(3):
        edited = set(range(round_number, 90, 9))
        for number in range(90):
            item = f"stuk-{number:03d}"
            live = expected[item][-1] != "Delete"
            if number in edited:  # a new label (a record back, if it was gone)
                write_item(tmp_path, number, f"Ronde {round_number}")
                expected[item].append("Update" if live else "Create")
            elif number % 15 == round_number + 4:  # removed, or back again
                if live:
                    (tmp_path / "manifests" / f"{item}.yaml").unlink()
                else:
                    write_item(tmp_path, number)
                expected[item].append("Delete" if live else "Create")
        for number in range(90 + round_number * 5, 95 + round_number * 5):  # new
            expected[write_item(tmp_path, number)] = ["Create"]
        at_once(nodes)
    nodes[0].scan()  # anything a racing scanner left for the next scan

    activities = nodes[0].activities(0, 1_000_000)
    assert [activity.n for activity in activities] == list(range(1, len(activities) + 1))
    assert nodes[1].count() == nodes[0].count() == len(activities)
    end_times = [activity.end_time for activity in activities]
    assert end_times == sorted(end_times)  # oldest first
    for kind in ITEM_KINDS:
        found: dict[str, list[str]] = {}
        for activity in activities:
            if activity.kind == kind:
                found.setdefault(activity.item, []).append(activity.type)
        assert found == expected, kind
    collections: dict[str, list[str]] = {}
    for activity in activities:
        if activity.kind == "collection":
            collections.setdefault(activity.item, []).append(activity.type)
    assert set(collections) == {"", "/archief", "/archief/serie-0", "/archief/serie-1",
                                "/archief/serie-2"}
    for key, types in collections.items():  # each created once, before its updates
        assert types[0] == "Create" and "Create" not in types[1:], (key, types)
    with nodes[1]._reading() as db:
        assert db.execute("SELECT COUNT(*) FROM (SELECT kind, item, version FROM activities "
                          "GROUP BY kind, item, version HAVING COUNT(*) > 1) AS twice"
                          ).fetchone()[0] == 0
    live = {item for item, types in expected.items() if types[-1] != "Delete"}
    assert {entry.item for entry in nodes[1].read(index.items_page, 0, 1000)} == live


def test_a_new_database_is_migrated_once_however_many_nodes_open_it_at_once(
        tmp_path, postgres_url, caplog):
    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    (tmp_path / "images").mkdir()
    (tmp_path / "manifests").mkdir()
    nodes = [node(tmp_path, postgres_url) for _ in range(4)]
    barrier = threading.Barrier(len(nodes))
    counts, errors = [], []

    def open_it(journal: Journal) -> None:
        try:
            barrier.wait()
            counts.append(journal.count())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_it, args=(journal,)) for journal in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and counts == [0, 0, 0, 0]
    upgrades = [record for record in caplog.records
                if record.getMessage().startswith("Running upgrade")]
    # Each revision once, whichever node ran them.
    assert len(upgrades) == len(migrations.REVISIONS), [record.getMessage() for record in upgrades]
    assert migrations.current(postgres_url, 5) == migrations.HEAD
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT COUNT(*) FROM alembic_version").fetchone()[0] == 1
        # Text keys sort by bytes whatever the database's locale, as SQLite's do.
        assert db.execute("SELECT collation_name FROM information_schema.columns WHERE "
                          "table_name = 'items' AND column_name = 'item'").fetchone() == ("C",)
    caplog.clear()
    node(tmp_path, postgres_url).count()  # at the head already: Alembic is not even started
    assert not [record for record in caplog.records if record.name.startswith("alembic")]


def test_a_catalogue_of_before_access_tiers_is_brought_up_with_its_capped_items_capped(
        tmp_path, postgres_url):
    """Revision 0002 adds the tiers to an index made at 0001: a record with max_size is
    `capped` (as records are read now), every other `open`; the next scan changes
    nothing and journals nothing."""
    journal = node(tmp_path, postgres_url)
    write_item(tmp_path, 1)
    capped = write_item(tmp_path, 2)
    path = tmp_path / "manifests" / f"{capped}.yaml"
    path.write_text(path.read_text("utf-8") + "max_size: 32\n", "utf-8")
    journal.scan()
    before = journal.count()
    with psycopg.connect(postgres_url) as db:  # as revision 0001 left it
        db.execute("ALTER TABLE items DROP COLUMN access, DROP COLUMN restricted_until")
        db.execute("DROP TABLE accounts, sign_in_failures, ended_sessions")  # (0003, 0004)
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    assert migrations.current(postgres_url, 5) == "0001"
    again = node(tmp_path, postgres_url)  # a server of this version opens it
    assert again.count() == before
    assert again.read(index.entry, capped).access == "capped"
    assert again.read(index.entry, "stuk-001").access == "open"
    assert again.scan() == [] and again.count() == before


# --------------------------------------------------------------------------- search


QUERIES = ["wijkcoordinator", "wijkcoördinator", "WIJKCOÖRDINATOR", "wijk*", "Wijk*",
           '"een wijkcoordinator"', '"wijkcoordinator een"', "wijkpost lelystad",
           '"de wijkpost" almere', "archief-0042", "Piet Jansen", "1999", "dijk* gesloten",
           "nergens", '"', "*", "&|!():", "'", "\\", "<->", "a:*", "x & y | !z", "%s %% ?",
           "'; DROP TABLE items; --", '"wijk*"', "(wijkpost", "_", "foo_bar", "ǅ", "½",
           "wijkpost " * 60, "w" * 3000, "\x00"]


@pytest.fixture(scope="module")
def twins(tmp_path_factory, postgres_server):
    """One archive journalled twice: into SQLite and into PostgreSQL."""
    root = tmp_path_factory.mktemp("twins")
    archive = build(root, count=80)
    url = postgres_server.create_database()
    lite, pg = node(root, root / "journal.sqlite3"), node(root, url)
    for journal in (lite, pg):
        journal.scan()
    return archive, lite, pg


@pytest.mark.parametrize("query", QUERIES)
def test_search_finds_what_it_finds_on_sqlite_and_no_query_is_an_error(twins, query):
    _archive, lite, pg = twins
    total, hits = pg.read(index.search, query, 0, 500)
    expected_total, expected_hits = lite.read(index.search, query, 0, 500)
    assert total == expected_total and len(hits) == len(expected_hits)
    assert {hit.item for hit in hits} == {hit.item for hit in expected_hits}
    for hit in hits:
        assert hit.entry == pg.read(index.entry, hit.item)
        if "wijk" in query.lower() and "*" not in query and '"' not in query:
            assert "[[" in hit.snippet, hit.snippet  # the match marked
    narrowed = Filters(node="batavialand/nieuw-land", year_from=1970, year_to=1990)
    assert pg.read(index.search, query, 0, 500, narrowed)[0] == \
        lite.read(index.search, query, 0, 500, narrowed)[0]


def test_snippets_mark_the_words_as_written(twins):
    _archive, _lite, pg = twins
    _total, hits = pg.read(index.search, "wijkcoordinator", 0, 3)
    assert all("[[wijkcoördinator]]" in hit.snippet for hit in hits)
    _total, hits = pg.read(index.search, '"wijkmanager een wijkcoordinator"', 0, 3)
    assert all("[[wijkmanager, een wijkcoördinator]]" in hit.snippet for hit in hits), \
        [hit.snippet for hit in hits]
    _total, hits = pg.read(index.search, "wijk*", 0, 3)
    assert all("[[wijk" in hit.snippet.lower() for hit in hits)


@pytest.mark.parametrize("prefix, filters, within", [
    ("wi", Filters(), None),
    ("wijkc", Filters(), None),
    ("de", Filters(), None),
    ("pi", Filters(node="batavialand"), None),
    ("wi", Filters(node="stadsarchief-lelystad/gemeentebestuur/wijkposten"), None),
    ("wi", Filters(), "lelystad"),
    ("ja", Filters(node="batavialand", year_from=1970), '"piet jansen"'),
    ("zz", Filters(), None),
    ("ad", Filters(), '"in een wijkpost" wijkmanager'),  # as index_query makes `within`
    ("ad", Filters(), "wijk*"),
])
def test_autocomplete_answers_as_on_sqlite(twins, prefix, filters, within):
    _archive, lite, pg = twins
    for minimum in (1, 40):
        assert pg.read(vocabulary.completions, prefix, filters, within, minimum, 20) == \
            lite.read(vocabulary.completions, prefix, filters, within, minimum, 20)


def test_the_vocabulary_follows_updates_and_deletes(tmp_path, postgres_url):
    archive = build(tmp_path, count=24)
    lite, pg = node(tmp_path, tmp_path / "journal.sqlite3"), node(tmp_path, postgres_url)
    for journal in (lite, pg):
        journal.scan()
    folder = archive.manifests / "archief"
    for number in range(0, 24, 4):
        (folder / f"archief-{number:04d}.yaml").unlink()
    for number in range(1, 24, 4):
        path = folder / f"archief-{number:04d}.yaml"
        path.write_text(path.read_text("utf-8").replace("Foto ", "Zeppelin Foto "), "utf-8")
    for journal in (lite, pg):
        journal.scan()
    for prefix in ("ze", "fo", "wi", "ar"):
        assert pg.read(vocabulary.completions, prefix) == lite.read(vocabulary.completions, prefix)
    with pg._reading() as db:  # the totals are the sums of what the items hold
        assert db.execute(
            "SELECT COUNT(*) FROM words AS w FULL JOIN (SELECT term, SUM(occurrences) AS n "
            "FROM item_terms GROUP BY term) AS t ON t.term = w.term "
            "WHERE w.occurrences IS DISTINCT FROM t.n").fetchone()[0] == 0


# --------------------------------------------------------------------------- unavailable


@pytest.fixture
def own_server():
    """A server of this test's own, to stop and start."""
    found = binaries()
    if found is None:
        pytest.skip("no PostgreSQL binaries")
    server = PostgresServer(found)
    server.start()
    yield server
    server.remove()


def test_a_database_that_goes_away_is_a_503_at_once_and_is_used_again_when_back(
        tmp_path, own_server):
    url = own_server.create_database("catalogue")
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    make_jpeg(images / "alpha.jpg", 1200, 800)
    write_record(manifests, "alpha")
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "database_url": url, "journal_interval": 0})
    client = app.test_client()
    assert client.get("/iiif/manifests/alpha").status_code == 200
    journal = app.extensions["beeldpost.journal"]
    assert journal.count() == 3

    own_server.stop()
    for path in ("/iiif/manifests/alpha", "/iiif/collection", "/iiif/discovery", "/ready"):
        started = time.monotonic()
        answer = client.get(path)
        assert answer.status_code == 503, (path, answer.status_code)
        assert time.monotonic() - started < 5, path
        if path != "/ready":  # (readiness says what is down; a client's request, when to retry)
            assert answer.headers["Retry-After"] == "5", path
    assert "activity journal" in client.get("/iiif/collection").get_data(as_text=True)
    with pytest.raises(JournalUnavailable):
        journal.count()
    with pytest.raises(JournalUnavailable):
        journal.scan()

    own_server.start()  # back, at the same address: the broken connections are replaced
    assert client.get("/iiif/collection").status_code == 200
    assert journal.count() == 3
    write_record(manifests, "alpha", record_data("alpha", label={"nl": "Weer", "en": "Again"}))
    assert client.get("/iiif/manifests/alpha").get_json()["label"]["nl"] == ["Weer"]
    assert journal.count() == 6


def _fill_every_connection(journal: Journal, readers: int) -> None:
    """Each of the pool's connections, the event loop's own and the writer's opened and
    kept (reads from `readers` threads at once, one on an event loop, one scan)."""
    barrier = threading.Barrier(readers)

    def read(_number: int) -> int:
        with journal._reading():
            barrier.wait(10)  # all lent at once: each thread holds one of its own
            return journal.count()

    with concurrent.futures.ThreadPoolExecutor(readers) as pool:
        list(pool.map(read, range(readers)))

    async def on_the_event_loop() -> int:
        return journal.count()

    asyncio.run(on_the_event_loop())
    journal.scan()
    assert journal.database.readers.idle == readers


def _every_read_answers(journal: Journal, readers: int, expected: int) -> None:
    """Reads from many threads and from an event loop, enough that every kept
    connection is lent again: each is answered, none fails."""
    def read(_number: int) -> list[int]:
        return [journal.count() for _ in range(20)]

    with concurrent.futures.ThreadPoolExecutor(readers * 4) as pool:
        answers = [count for counts in pool.map(read, range(readers * 4)) for count in counts]
    assert answers == [expected] * (readers * 4 * 20)

    async def on_the_event_loop() -> int:
        return journal.count()

    assert asyncio.run(on_the_event_loop()) == expected


def test_after_a_restart_of_the_database_no_read_fails_on_a_connection_the_restart_cut(
        tmp_path, own_server):
    """Issue 21: each pooled connection a restart cut failed once (a 503) whenever a
    worker next picked it, minutes later, while /ready said 200. A kept connection is
    checked before it is lent, so the first read after the restart is answered."""
    url = own_server.create_database("restarted")
    journal = node(tmp_path, database.open_database(url, readers=3))
    write_item(tmp_path, 1)
    journal.scan()
    expected = journal.count()
    _fill_every_connection(journal, 3)

    own_server.stop()
    own_server.start()  # a real restart: every session the server had is gone

    _every_read_answers(journal, 3, expected)
    write_item(tmp_path, 2)  # the writer's connection, cut too, is replaced before use
    assert [activity.item for activity in journal.scan()
            if activity.kind == "manifest"] == ["stuk-002"]


def test_connections_ended_by_the_server_are_replaced_before_a_read_uses_them(
        tmp_path, postgres_url):
    """pg_terminate_backend (an administrator, a pooler, idle_session_timeout) ends the
    sessions while the server stays up: the same rule, no read fails."""
    journal = node(tmp_path, database.open_database(postgres_url, readers=3))
    write_item(tmp_path, 1)
    journal.scan()
    expected = journal.count()
    _fill_every_connection(journal, 3)
    with psycopg.connect(postgres_url, autocommit=True, application_name="ending") as db:
        ended = db.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND "
                           "application_name = 'beeldpost'").fetchone()[0]
    assert ended >= 3 + 1
    time.sleep(0.2)  # the sessions' ends reach their sockets
    _every_read_answers(journal, 3, expected)


def test_a_cut_connection_that_looks_alive_is_replaced_by_the_loan_s_first_statement(
        tmp_path, postgres_url, monkeypatch):
    """Where no word of the cut arrives (a machine or a network gone, no FIN), the
    socket looks quiet: the loan's first statement fails on it and is sent once more
    on a new connection. A statement that fails for its own sake is not repeated."""
    journal = node(tmp_path, database.open_database(postgres_url, readers=1))
    write_item(tmp_path, 1)
    journal.scan()
    expected = journal.count()
    readers = journal.database.readers
    assert readers.idle == 1
    with psycopg.connect(postgres_url, autocommit=True, application_name="ending") as db:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND application_name = 'beeldpost'")
    time.sleep(0.2)
    monkeypatch.setattr(database.PostgresConnection, "alive", lambda self: True)
    assert journal.count() == expected  # the retry, on a new session
    assert journal.count() == expected
    with pytest.raises(JournalUnavailable):  # a broken statement: refused, not repeated
        journal.read(lambda db: db.execute("SELECT no_such_column FROM activities"))
    assert journal.count() == expected


def test_the_watcher_publishes_a_change_made_across_a_restart_of_the_database_within_seconds(
        tmp_path, own_server):
    """Issue 21: the watcher dropped the first change after a PostgreSQL restart (its
    scan failed on the cut connection, and the record waited 30 s for the full scan).
    With a real restart, and with the database down while the record is written, the
    change is published within 5 s of the database being back."""
    from beeldpost.catalogue.watcher import Watcher

    url = own_server.create_database("watched")
    journal = node(tmp_path, database.open_database(url, readers=3))
    write_item(tmp_path, 1)
    watcher = Watcher(journal.scan, [tmp_path / "manifests", tmp_path / "images"],
                      tmp_path / "writer.lock", interval=3600, due=journal.listing_due).start()

    def published(item: str, within: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < within:
            try:
                if journal.read(index.entry, item) is not None:
                    return time.monotonic() - started
            except JournalUnavailable:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{item} not published within {within:g} s")

    try:
        published("stuk-001", 10)
        own_server.stop()
        own_server.start()
        item = write_item(tmp_path, 2)  # the first change after the restart
        assert published(item, 5.0) < 5.0

        own_server.stop()
        item = write_item(tmp_path, 3)  # written while the database is down
        time.sleep(1.5)  # its scan fails, and fails again
        own_server.start()
        assert published(item, 5.0) < 5.0
    finally:
        watcher.stop()


def test_a_server_that_never_answers_is_given_up_after_the_connect_timeout(tmp_path,
                                                                            monkeypatch):
    """A server that takes the connection but never speaks: JournalUnavailable after
    database.CONNECT_TIMEOUT seconds (5; 1 here), not a request held forever."""
    monkeypatch.setattr(database, "CONNECT_TIMEOUT", 1)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        port = listening.getsockname()[1]
        (tmp_path / "images").mkdir()
        (tmp_path / "manifests").mkdir()
        journal = node(tmp_path, f"postgresql://beeldpost@127.0.0.1:{port}/catalogue")
        started = time.monotonic()
        with pytest.raises(JournalUnavailable) as raised:
            journal.count()
        waited = time.monotonic() - started
    assert 1 <= waited < 5
    assert raised.value.status == 503


# --------------------------------------------------------------------------- connections


def sessions(url: str) -> int:
    """Beeldpost's sessions in the database now, as PostgreSQL counts them."""
    with psycopg.connect(url, autocommit=True, application_name="counting") as db:
        return db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND application_name = 'beeldpost'").fetchone()[0]


def test_many_threads_read_through_a_few_connections_of_their_process(tmp_path, postgres_url):
    """24 threads (a worker's) reading at once hold at most BEELDPOST_DATABASE_CONNECTIONS
    sessions (3 here) besides the writer's, so that N servers stay within the
    server's max_connections; every read is answered."""
    journal = node(tmp_path, database.open_database(postgres_url, readers=3))
    items = [write_item(tmp_path, number) for number in range(40)]
    journal.scan()
    expected = journal.count()
    assert expected >= len(items)
    counted: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            counted.append(sessions(postgres_url))
            time.sleep(0.005)

    def read(_number: int) -> list[int]:
        return [journal.count() for _ in range(60)]

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            answers = [count for counts in pool.map(read, range(24)) for count in counts]
    finally:
        done.set()
        watcher.join()
    assert answers == [expected] * (24 * 60)
    assert len(counted) > 5 and max(counted) <= 3 + 1, counted  # + the scan's writer
    assert journal.database.readers.idle <= 3


def test_a_read_waits_for_a_busy_connection_then_is_a_503_and_a_read_within_a_read_never_waits(
        tmp_path, postgres_url):
    journal = node(tmp_path, database.open_database(postgres_url, readers=1))
    write_item(tmp_path, 1)
    journal.scan()
    journal.database.readers.wait = 0.5
    holding, release = threading.Event(), threading.Event()
    inner: list[int] = []

    def hold() -> None:
        with journal._reading():
            inner.append(journal.count())  # the same thread: its own connection again
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10) and len(inner) == 1
        journal_count = inner[0]
        started = time.monotonic()
        with pytest.raises(JournalUnavailable) as raised:
            journal.count()
        assert 0.5 <= time.monotonic() - started < 3
        assert raised.value.status == 503 and raised.value.headers["Retry-After"]
        assert "BEELDPOST_DATABASE_CONNECTIONS" in str(raised.value)

        async def on_the_event_loop() -> int:  # never waits: a connection of its own
            return journal.count()

        started = time.monotonic()
        assert asyncio.run(on_the_event_loop()) == journal_count
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        holder.join()
    assert journal.count() == journal_count  # given back, and lent again
    assert sessions(postgres_url) <= 1 + 1 + 1  # lent, the event loop's, the writer


def test_a_forked_process_opens_its_own_connections_and_leaves_its_parent_s_alone(
        tmp_path, postgres_url):
    """gunicorn forks its workers: a child must neither use nor close (libpq's goodbye)
    the connections its parent holds."""
    journal = node(tmp_path, database.open_database(postgres_url, readers=2))
    write_item(tmp_path, 1)
    journal.scan()
    expected = journal.count()
    assert journal.database.readers.idle == 1
    child = os.fork()
    if child == 0:  # the child: an empty pool, then a connection of its own
        code = 1
        try:
            if journal.database.readers.idle == 0 and journal.count() == expected:
                code = 0
        finally:
            os._exit(code)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert journal.count() == expected  # the parent's own connection still works
    assert journal.database.readers.idle == 1


# --------------------------------------------------------------------------- the parts


def test_statements_are_rewritten_once_for_psycopg():
    rewrite = database._postgresql
    assert rewrite("SELECT a FROM t WHERE b = ? AND c LIKE '5%' LIMIT ? OFFSET ?") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '5%%' "
        "LIMIT NULLIF(GREATEST(%s::bigint, -1), -1) OFFSET %s")
    assert rewrite.cache_info().maxsize


def test_the_url_is_a_setting_and_its_password_stays_out_of_messages():
    assert Settings.of().database_url is None
    url = "postgresql://beeldpost:geheim@db.example:5432/catalogue"
    assert Settings.of(database_url=url).database_url == url
    assert Settings.of(database_url="postgresql+psycopg://db/catalogue").database_url
    with pytest.raises(ValueError, match="BEELDPOST_DATABASE_URL"):
        Settings.of(database_url="mysql://db/catalogue")
    assert str(database.open_database(url)) == "postgresql://beeldpost@db.example:5432/catalogue"
    assert isinstance(database.open_database(Path("journal.sqlite3")), database.SqliteDatabase)


def test_a_database_a_newer_server_migrated_is_refused_with_a_503(tmp_path, postgres_url):
    (tmp_path / "images").mkdir()
    (tmp_path / "manifests").mkdir()
    node(tmp_path, postgres_url).count()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(JournalUnavailable, match="revision 9999"):
        node(tmp_path, postgres_url).count()


def test_the_readme_s_role_and_database_suffice_no_superuser_needed(tmp_path, postgres_server):
    """Issue 21: the README never said how to make the database and its role, and the
    run from outside used the superuser. The README's own commands (run here as they
    stand, against the test server) make a role that is no superuser: as the
    database's owner it migrates (unaccent included), scans and searches."""
    from support.paths import REPO

    readme = (REPO / "README.md").read_text("utf-8")
    commands = re.findall(r'^\s*sudo -u postgres psql -c "([^"]+)"$', readme, re.M)
    assert [command.split()[:2] for command in commands] == [["CREATE", "ROLE"],
                                                             ["CREATE", "DATABASE"]]
    role = re.search(r"CREATE ROLE (\w+) ", commands[0])[1]
    database_name = re.search(r"CREATE DATABASE (\w+) ", commands[1])[1]
    url = re.search(r"BEELDPOST_DATABASE_URL=(postgresql://\S+?)`", readme)[1]
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {database_name} WITH (FORCE)")
        db.execute(f"DROP ROLE IF EXISTS {role}")
        for command in commands:
            db.execute(command)
        assert db.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                          "WHERE rolname = %s", (role,)).fetchone() == (False, False, False)
    ours = url.replace("@db:5432/", f"@{postgres_server.host}:{postgres_server.port}/")
    try:
        journal = node(tmp_path, ours)
        write_item(tmp_path, 1, label="Wijkcoördinator")
        assert any(activity.item == "stuk-001" for activity in journal.scan())
        assert journal.read(index.search, "wijkcoordinator")[0] == 1  # unaccent at work
        with psycopg.connect(ours) as db:
            assert db.execute("SELECT current_user").fetchone()[0] == role
            assert db.execute("SELECT extowner::regrole::text FROM pg_extension "
                              "WHERE extname = 'unaccent'").fetchone()[0] == role
    finally:
        with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {database_name} WITH (FORCE)")
            db.execute(f"DROP ROLE IF EXISTS {role}")
