"""The catalogue index: what requests need of every published item, beside the journal.

It lives in the journal's database and is written by the journal's scan in the same
transaction as the activities it journals (journal.py): an item is in the index from
the moment its Create is journalled, changes with its Update and leaves with its
Delete, never before or after. A record that breaks keeps its last good entry, as it
keeps its last journalled state.

What it holds:
- `items`: per published item, the record's own text and its transcript's (a request
  builds an item's documents by parsing its own record, never another's); what lists,
  collections and image policies need without parsing (image and its size, labels,
  credit, date, place in the hierarchy, rights and size limits); and the stamps of its
  files, so that a scan that finds them unchanged reads nothing.
- `record_files` and `source_files`: every record and image file the scan found in
  the folders and their subfolders, so that an identifier is found with an index
  lookup, never a folder listing, and an id held by two files is seen and refused.
- `nodes`: the archive's hierarchy (archive, fonds, series, …) made from the items'
  `collection:` levels, with counts, for the nested Collections.
- `item_words`: full-text search (SQLite FTS5, case and diacritics folded; in
  PostgreSQL a tsvector through the `beeldpost` text search configuration, with the
  vocabulary autocomplete reads in `item_terms` and `words`). The transcript of an
  item whose text is not public on the day its entry is written (staff only, or
  closed: `transcript_is_public`) is left out of them, so that no search, snippet or
  completion shows a word of it; its metadata stays in (see `words`).
- `meta.generation`: raised by every write that changes what is served, so a worker
  can keep documents built from the index until it moves on.

Reading and writing take an open connection (database.py: sqlite3's own, or a thin
psycopg wrapper speaking the same `?` SQL): the journal owns connections and
transactions. The tables are the same in SQLite and in PostgreSQL (several servers on
one catalogue); the few statements that differ keep both forms side by side in the
function that needs them. SQLite's tables are made here (`create`, VERSION);
PostgreSQL's come from the Alembic migrations (migrations/): a change to the tables
below is a new VERSION and a new revision there.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import sqlite3
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath

from .database import Connection
from .records import Record
from . import tiers
from .tiers import Tier, effective

# Raised when the tables below change shape, or what they hold: an index of another
# version is dropped and made again from the records (the journal's own tables are kept
# as they are). 4: a staff-only or closed item's transcript words are no longer indexed.
VERSION = 4

INDEX_TABLES = ("items", "item_words", "record_files", "source_files", "nodes", "meta")

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item            TEXT PRIMARY KEY,
    file            TEXT NOT NULL,      -- the record's file, relative to the records folder
    record          TEXT NOT NULL,      -- that file's text, as last published
    transcript      TEXT,               -- its transcript file's text, when it has one
    transcript_file TEXT,               -- that file, relative to the records folder
    image           TEXT NOT NULL,
    width           INTEGER NOT NULL,   -- the image's full size, upright
    height          INTEGER NOT NULL,
    label_nl        TEXT NOT NULL,
    label_en        TEXT NOT NULL,
    credit_nl       TEXT NOT NULL,
    credit_en       TEXT NOT NULL,
    date            TEXT,               -- 1999 or 1999-05-12
    year            INTEGER,
    hierarchy       TEXT NOT NULL,      -- JSON list of level names, top down
    node            TEXT NOT NULL,      -- its node's path ('' at the top)
    rights          TEXT NOT NULL,
    max_size        INTEGER,
    max_width       INTEGER,
    max_height      INTEGER,
    max_area        INTEGER,
    access          TEXT NOT NULL DEFAULT 'open',  -- its tier (tiers.py)
    restricted_until TEXT,              -- the day a closure ends (2049-01-01), or NULL
    stamps          TEXT NOT NULL,      -- JSON [[file, mtime_ns, size, inode], …]
    digest          TEXT NOT NULL       -- SHA-256 of those files' bytes
);
CREATE INDEX IF NOT EXISTS items_by_image ON items (image);
CREATE INDEX IF NOT EXISTS items_by_node ON items (node, item);
CREATE INDEX IF NOT EXISTS items_by_node_year ON items (node, year, item);
CREATE INDEX IF NOT EXISTS items_by_transcript ON items (transcript_file);
CREATE TABLE IF NOT EXISTS record_files (
    path TEXT PRIMARY KEY,              -- relative to the records folder, with /
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS record_files_by_item ON record_files (item);
CREATE TABLE IF NOT EXISTS source_files (
    path       TEXT PRIMARY KEY,        -- relative to the images folder, with /
    identifier TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS source_files_by_identifier ON source_files (identifier);
CREATE TABLE IF NOT EXISTS nodes (
    path      TEXT PRIMARY KEY,         -- 'batavialand/nieuw-land'
    levels    TEXT NOT NULL,            -- JSON names, top down
    parent    TEXT NOT NULL,            -- the parent's path, '' below the top
    name      TEXT NOT NULL,
    items     INTEGER NOT NULL,         -- items directly in it
    total     INTEGER NOT NULL,         -- items in it and below
    thumbnail TEXT                      -- the item whose image stands for it
);
CREATE INDEX IF NOT EXISTS nodes_by_parent ON nodes (parent, name);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS item_words USING fts5(
    item UNINDEXED, label, words, tokenize = "unicode61 remove_diacritics 2"
);
"""


def create(db: sqlite3.Connection) -> None:
    """Make the index's tables (SQLite), first dropping those of an older version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != VERSION:
        for table in INDEX_TABLES:
            db.execute(f"DROP TABLE IF EXISTS {table}")
    db.executescript(SCHEMA)
    if version != VERSION:
        db.execute(f"PRAGMA user_version = {VERSION}")


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    item: str
    file: str
    record: str
    transcript: str | None
    transcript_file: str | None
    image: str
    width: int
    height: int
    label_nl: str
    label_en: str
    credit_nl: str
    credit_en: str
    date: str | None
    year: int | None
    hierarchy: tuple[str, ...]
    node: str
    rights: str
    max_size: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None
    access: str = Tier.OPEN.value
    restricted_until: str | None = None  # ISO date: staff only until that day
    # What the files were when this entry was made: a scan that finds them the same
    # needs neither to read nor to parse them (a restart does not re-read the archive).
    stamps: str = "[]"
    digest: str = ""

    @classmethod
    def of(cls, parsed: Record, file: str, record_text: str, transcript_text: str | None,
           size: tuple[int, int], node: str, stamps: str, digest: str) -> "Entry":
        transcript_file = None
        if parsed.transcript is not None:
            transcript_file = str(PurePosixPath(file).parent / parsed.transcript.file)
            transcript_file = transcript_file.removeprefix("./")
        return cls(parsed.item, file, record_text, transcript_text, transcript_file,
                   parsed.image, size[0], size[1], parsed.label["nl"], parsed.label["en"],
                   parsed.credit["nl"], parsed.credit["en"], parsed.date,
                   int(parsed.date[:4]) if parsed.date else None, parsed.hierarchy, node,
                   parsed.rights, parsed.max_size, parsed.max_width, parsed.max_height,
                   parsed.max_area, parsed.access.value,
                   parsed.restricted_until.isoformat() if parsed.restricted_until else None,
                   stamps, digest)

    @property
    def tier(self) -> Tier:
        return Tier(self.access)

    def tier_on(self, day: datetime.date) -> Tier:
        """The tier in force on `day` (staff only while a closure lasts)."""
        until = datetime.date.fromisoformat(self.restricted_until) if self.restricted_until \
            else None
        return effective(self.tier, until, day)

    def label(self, language: str) -> str:
        return self.label_en if language == "en" else self.label_nl

    def credit(self, language: str) -> str:
        return self.credit_en if language == "en" else self.credit_nl


def transcript_is_public(tier: Tier) -> bool:
    """Whether an item's transcript (the interview's text) is public under the tier in
    force (`Entry.tier_on`, `tiers.effective`): not for `staff`, which is also every
    item while its closure (`restricted_until`) lasts, as the issue has it ("a
    transcript of a closed item" is withheld); for every other tier it is. `capped`,
    `clickthrough` and `reading-room` restrict the image (its full scan, or all of it
    short of a cap), not what is said about it: their transcripts are read, searched
    and harvested like the metadata, which is public for every item.

    What this withholds, from everyone asking at the public URLs: the manifest's
    transcript annotations and `rendering` links (their URLs answer 401,
    presentation/routes.py), and the transcript's words in the full-text index
    (`words`): search hits, snippets and the autocomplete's vocabulary."""
    return tier is not Tier.STAFF


def words(parsed: Record, with_transcript: bool = True) -> str:
    """Everything search finds an item by: summary, description, people, place,
    subject, collection, photographer, source and its transcript (the label apart);
    `with_transcript` False leaves the transcript out (its text is not public)."""
    texts: list[str] = []
    for text in (parsed.summary, parsed.description, parsed.subject, parsed.collection):
        if text is not None:
            texts.extend(value for _language, value in text.entries)
    texts.extend(person.name for person in parsed.people)
    texts.extend(value for value in (parsed.place, parsed.photographer, parsed.source) if value)
    if parsed.transcript is not None and with_transcript:
        texts.extend(parsed.transcript.paragraphs)
    return "\n".join(texts)


def searchable_words(entry: Entry, parsed: Record) -> str:
    """The words an entry is indexed with today: its transcript only while its text is
    public (`transcript_is_public`). A closure ends by itself: the scan on that day
    journals the item again (journal.fingerprint_of) and so puts its words again, now
    with the transcript; until that scan, the transcript is searched for a little
    later than it is shown, never before. (A closure never begins by the calendar, only
    by an edit, which is scanned and put.)"""
    return words(parsed, transcript_is_public(entry.tier_on(tiers.today())))


_COLUMNS = tuple(Entry.__dataclass_fields__)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM items"


def put(db: Connection, entry: Entry, parsed: Record) -> None:
    """Add or replace the item's entry (inside the caller's transaction).

    SQLite: the words share the entry's rowid: FTS5 finds a row by rowid at once, while a
    search by its unindexed `item` column would read them all (quadratic over a scan
    of the whole archive)."""
    values = [getattr(entry, name) for name in _COLUMNS]
    values[_COLUMNS.index("hierarchy")] = json.dumps(list(entry.hierarchy), ensure_ascii=False)
    if db.dialect == "postgresql":
        _put_postgresql(db, entry, parsed, values)
        return
    found = db.execute("SELECT rowid FROM items WHERE item = ?", (entry.item,)).fetchone()
    if found is None:
        rowid = db.execute(f"INSERT INTO items ({', '.join(_COLUMNS)}) "
                           f"VALUES ({', '.join('?' for _ in _COLUMNS)})", values).lastrowid
    else:
        rowid = found[0]
        db.execute("DELETE FROM item_words WHERE rowid = ?", (rowid,))
        db.execute(f"UPDATE items SET {', '.join(f'{name} = ?' for name in _COLUMNS[1:])} "
                   "WHERE rowid = ?", (*values[1:], rowid))
    db.execute("INSERT INTO item_words (rowid, item, label, words) VALUES (?, ?, ?, ?)",
               (rowid, entry.item, f"{entry.label_nl}\n{entry.label_en}",
                searchable_words(entry, parsed)))


def remove(db: Connection, item: str) -> None:
    if db.dialect == "postgresql":
        _forget_words(db, item)
        db.execute("DELETE FROM item_words WHERE item = ?", (item,))
        db.execute("DELETE FROM items WHERE item = ?", (item,))
        return
    found = db.execute("SELECT rowid FROM items WHERE item = ?", (item,)).fetchone()
    if found is not None:
        db.execute("DELETE FROM item_words WHERE rowid = ?", (found[0],))
        db.execute("DELETE FROM items WHERE rowid = ?", (found[0],))


# PostgreSQL's full-text search is given the words as FTS5's unicode61 tokenizer finds
# them (runs of letters and digits; NFC, lower case) one space apart, so that its own
# parser finds no hyphenated words, e-mail addresses or file names to keep whole; its
# text search configuration `beeldpost` then folds the diacritics (unaccent). A lexeme
# no query can name ('|') stands between the label and the words, so that no phrase
# runs from one into the other (FTS5 matches a phrase within one column).
_TOKEN = re.compile(r"[^\W_]+")
_DOCUMENT = ("to_tsvector('beeldpost', ?) || $$'|':1$$::tsvector "
             "|| to_tsvector('beeldpost', ?)")
# PostgreSQL refuses a tsvector over 1 MB: the words of a text that large are cut short.
_MAX_TSVECTOR_BYTES = 900_000


def _tokens(text: str) -> list[str]:
    """A text's words as the index keeps them (before the configuration's unaccent)."""
    return _TOKEN.findall(unicodedata.normalize("NFC", text).lower())


def _fitting(label: list[str], words: list[str]) -> list[str]:
    """The words, cut short if their tsvector would pass PostgreSQL's limit (estimated
    on the high side: each lexeme, and 2 bytes for each of at most 256 positions)."""
    while words:
        counts = Counter(label + words)
        size = sum(len(term.encode()) + 8 + 2 * min(n, 256) for term, n in counts.items())
        if size <= _MAX_TSVECTOR_BYTES:
            break
        words = words[: int(len(words) * _MAX_TSVECTOR_BYTES / size * 0.9)]
    return words


def _text(value):
    """PostgreSQL's text holds no NUL (SQLite's does): one in a transcript must not
    refuse the write of a whole batch."""
    return value.replace("\0", "\ufffd") if isinstance(value, str) and "\0" in value else value


_UPSERT_ITEM = (f"INSERT INTO items ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT (item) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS[1:]))


def _put_postgresql(db: Connection, entry: Entry, parsed: Record, values: list) -> None:
    """put() on PostgreSQL: statements that read nothing back, so that a writer's
    pipeline sends them without waiting (database.py)."""
    db.execute(_UPSERT_ITEM, [_text(value) for value in values])
    _forget_words(db, entry.item)
    label = _text(f"{entry.label_nl}\n{entry.label_en}")
    text = _text(searchable_words(entry, parsed))
    label_tokens = _tokens(label)
    word_tokens = _fitting(label_tokens, _tokens(text))
    db.execute("INSERT INTO item_words (item, label, words, document) "
               f"VALUES (?, ?, ?, {_DOCUMENT}) "
               "ON CONFLICT (item) DO UPDATE SET label = excluded.label, "
               "words = excluded.words, document = excluded.document",
               (entry.item, label, text, " ".join(label_tokens), " ".join(word_tokens)))
    # The vocabulary autocomplete reads (vocabulary.py): how often each word, folded by
    # the configuration as in the tsvector, occurs in the item, and in all items.
    counts = Counter(label_tokens + word_tokens)
    db.execute("INSERT INTO item_terms (term, item, occurrences) "
               "SELECT v.lexeme, ?, SUM(t.n) FROM unnest(?::text[], ?::bigint[]) AS t (token, n), "
               "unnest(to_tsvector('beeldpost', t.token)) AS v (lexeme, positions, weights) "
               "GROUP BY v.lexeme", (entry.item, list(counts), list(counts.values())))
    db.execute("INSERT INTO words (term, occurrences) "
               "SELECT term, occurrences FROM item_terms WHERE item = ? ON CONFLICT (term) "
               "DO UPDATE SET occurrences = words.occurrences + excluded.occurrences",
               (entry.item,))


def _forget_words(db: Connection, item: str) -> None:
    """Take an item's words out of the vocabulary (PostgreSQL)."""
    db.execute("UPDATE words SET occurrences = words.occurrences - t.occurrences "
               "FROM item_terms AS t WHERE t.item = ? AND words.term = t.term", (item,))
    db.execute("DELETE FROM words USING item_terms AS t "
               "WHERE t.item = ? AND words.term = t.term AND words.occurrences <= 0", (item,))
    db.execute("DELETE FROM item_terms WHERE item = ?", (item,))


def file_states(db: Connection, items: list[str] | None = None
                ) -> dict[str, tuple[str, str, str, str, str, str | None]]:
    """item -> (stamps, digest, image, file, node, restricted_until) of the entries (all,
    or these): what a scan compares the files with."""
    query = "SELECT item, stamps, digest, image, file, node, restricted_until FROM items"
    if items is None:
        return {row[0]: row[1:] for row in db.execute(query)}
    found = {}
    for start in range(0, len(items), 500):
        batch = items[start:start + 500]
        rows = db.execute(f"{query} WHERE item IN ({', '.join('?' for _ in batch)})", batch)
        found.update((row[0], row[1:]) for row in rows)
    return found


def _entry(row: tuple) -> Entry:
    values = dict(zip(_COLUMNS, row))
    values["hierarchy"] = tuple(json.loads(values["hierarchy"]))
    return Entry(**values)


def entry(db: Connection, item: str) -> Entry | None:
    row = db.execute(f"{_SELECT} WHERE item = ?", (item,)).fetchone()
    return _entry(row) if row else None


def showing(db: Connection, image: str) -> list[Entry]:
    """The entries of the items whose image is `image` (an index lookup)."""
    rows = db.execute(f"{_SELECT} WHERE image = ? ORDER BY item", (image,))
    return [_entry(row) for row in rows]


def using_transcript(db: Connection, path: str) -> list[str]:
    return [row[0] for row in db.execute("SELECT item FROM items WHERE transcript_file = ?",
                                         (path,))]


def count(db: Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]


def items_page(db: Connection, offset: int, limit: int) -> list[Entry]:
    """Published items by id, `limit` from the `offset`-th on."""
    rows = db.execute(f"{_SELECT} ORDER BY item LIMIT ? OFFSET ?", (limit, offset))
    return [_entry(row) for row in rows]


# --------------------------------------------------------------------------- files


def record_files(db: Connection, item: str) -> list[str]:
    """The files that hold a record with this id: one, or more (refused), or none."""
    return [row[0] for row in db.execute(
        "SELECT path FROM record_files WHERE item = ? ORDER BY path", (item,))]


def record_files_of(db: Connection, items: list[str]) -> dict[str, list[str]]:
    """record_files() of many items at once (a scan's batch: one query per 500)."""
    found: dict[str, list[str]] = {item: [] for item in items}
    for start in range(0, len(items), 500):
        batch = items[start:start + 500]
        for path, item in db.execute(f"SELECT path, item FROM record_files WHERE item IN "
                                     f"({', '.join('?' for _ in batch)}) ORDER BY path", batch):
            found[item].append(path)
    return found


def stored_hash(db: Connection, identifier: str, path: str, size: int,
                mtime_ns: int) -> str | None:
    """The SHA-256 the journal's scan stored for an image (its `image_facts`) when it was
    of the file as it is now (path, size and mtime), else None."""
    row = db.execute("SELECT sha256 FROM image_facts WHERE identifier = ? AND path = ? "
                     "AND size = ? AND mtime_ns = ?",
                     (identifier, path, size, mtime_ns)).fetchone()
    return row[0] if row else None


def source_files(db: Connection, identifier: str) -> list[str]:
    return [row[0] for row in db.execute(
        "SELECT path FROM source_files WHERE identifier = ? ORDER BY path", (identifier,))]


def files(db: Connection, table: str) -> dict[str, str]:
    """path -> id of every file in `record_files` or `source_files`."""
    column = "item" if table == "record_files" else "identifier"
    return dict(db.execute(f"SELECT path, {column} FROM {table}"))


def set_files(db: Connection, table: str, added: dict[str, str],
              removed: list[str]) -> None:
    column = "item" if table == "record_files" else "identifier"
    db.executemany(f"DELETE FROM {table} WHERE path = ?", [(path,) for path in removed])
    db.executemany(f"INSERT INTO {table} (path, {column}) VALUES (?, ?) "
                   f"ON CONFLICT (path) DO UPDATE SET {column} = excluded.{column}",
                   list(added.items()))


def ids_of_files(db: Connection, table: str, paths: list[str]) -> dict[str, str]:
    column = "item" if table == "record_files" else "identifier"
    found = {}
    for start in range(0, len(paths), 500):
        batch = paths[start:start + 500]
        found.update(db.execute(f"SELECT path, {column} FROM {table} WHERE path IN "
                                f"({', '.join('?' for _ in batch)})", batch))
    return found


# --------------------------------------------------------------------------- hierarchy

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    """A level's name as a URL segment: 'Nieuw Land' -> 'nieuw-land' (ASCII, lower case)."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _NOT_SLUG.sub("-", folded).strip("-") or "x"


def node_path(db: Connection, levels: tuple[str, ...]) -> str:
    """The path of the node these levels name ('' for none): each level's slug under its
    parent's; two sibling names with one slug are told apart by a hash of the name.
    Paths once made are kept (nodes), so a node's URL does not move."""
    path = ""
    every = [json.dumps(list(levels[:depth]), ensure_ascii=False)
             for depth in range(1, len(levels) + 1)]
    known = dict(db.execute(f"SELECT levels, path FROM nodes WHERE levels IN "
                            f"({', '.join('?' for _ in every)})", every)) if every else {}
    for depth in range(1, len(levels) + 1):
        names = every[depth - 1]
        if names in known:
            path = known[names]
            continue
        name = levels[depth - 1]
        candidate = f"{path}/{slug(name)}".lstrip("/")
        taken = db.execute("SELECT levels FROM nodes WHERE path = ?", (candidate,)).fetchone()
        if taken is not None and taken[0] != names:
            digest = hashlib.sha1(name.encode()).hexdigest()[:6]
            candidate = f"{candidate}-{digest}"
        db.execute("INSERT INTO nodes (path, levels, parent, name, items, total, thumbnail) "
                   "VALUES (?, ?, ?, ?, 0, 0, NULL)", (candidate, names, path, name))
        path = candidate
    return path


@dataclass(frozen=True)
class Node:
    path: str
    levels: tuple[str, ...]
    parent: str
    name: str
    items: int  # directly in it
    total: int  # in it and below
    thumbnail: str | None  # an item


def _node(row: tuple) -> Node:
    path, levels, parent, name, items, total, thumbnail = row
    return Node(path, tuple(json.loads(levels)), parent, name, items, total, thumbnail)


_NODE = "SELECT path, levels, parent, name, items, total, thumbnail FROM nodes"


def recount_nodes(db: Connection) -> set[str]:
    """Count each node's items again (inside the write); drop nodes left empty.
    The paths of the nodes that were dropped."""
    direct = {node: (count, first) for node, count, first in db.execute(
        "SELECT node, COUNT(*), MIN(item) FROM items WHERE node != '' GROUP BY node")}
    nodes = {row[0]: row for row in db.execute("SELECT path, parent FROM nodes")}
    totals: dict[str, int] = {}
    for path, (count, _first) in direct.items():
        while path:
            totals[path] = totals.get(path, 0) + count
            path = nodes[path][1] if path in nodes else ""
    gone = set(nodes) - set(totals)
    db.executemany("DELETE FROM nodes WHERE path = ?", [(path,) for path in gone])
    # A node's thumbnail: its first item, or its first child's.
    thumbnails: dict[str, str] = {}
    for path in sorted(totals, key=lambda p: -p.count("/")):
        if path in direct:
            thumbnails[path] = direct[path][1]
    for path in sorted(totals, key=lambda p: (-p.count("/"), p)):
        parent = nodes[path][1]
        if parent and parent not in thumbnails and path in thumbnails:
            thumbnails[parent] = thumbnails[path]
    db.executemany("UPDATE nodes SET items = ?, total = ?, thumbnail = ? WHERE path = ?",
                   [(direct.get(path, (0, None))[0], total, thumbnails.get(path), path)
                    for path, total in totals.items()])
    return gone


def node(db: Connection, path: str) -> Node | None:
    row = db.execute(f"{_NODE} WHERE path = ?", (path,)).fetchone()
    return _node(row) if row else None


def children(db: Connection, path: str) -> list[Node]:
    """The nodes right below `path` ('' for the top), by name."""
    return [_node(row) for row in db.execute(
        f"{_NODE} WHERE parent = ? AND path != '' ORDER BY name, path", (path,))]


def nodes_page(db: Connection, offset: int, limit: int) -> list[Node]:
    return [_node(row) for row in db.execute(f"{_NODE} ORDER BY path LIMIT ? OFFSET ?",
                                             (limit, offset))]


def node_count(db: Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0]


def years(db: Connection, path: str) -> list[tuple[int | None, int]]:
    """(year or None for undated, how many) of the items directly in a node, by year."""
    return list(db.execute("SELECT year, COUNT(*) FROM items WHERE node = ? "
                           "GROUP BY year ORDER BY year IS NULL, year", (path,)))


def members(db: Connection, path: str, offset: int = 0, limit: int = -1,
            year: int | None | bool = False) -> list[Entry]:
    """Items directly in a node by id; `year` (an int, or None for the undated) keeps
    those of one year (False: all)."""
    if year is False:
        rows = db.execute(f"{_SELECT} WHERE node = ? ORDER BY item LIMIT ? OFFSET ?",
                          (path, limit, offset))
    elif year is None:
        rows = db.execute(f"{_SELECT} WHERE node = ? AND year IS NULL ORDER BY item "
                          "LIMIT ? OFFSET ?", (path, limit, offset))
    else:
        rows = db.execute(f"{_SELECT} WHERE node = ? AND year = ? ORDER BY item "
                          "LIMIT ? OFFSET ?", (path, year, limit, offset))
    return [_entry(row) for row in rows]


# --------------------------------------------------------------------------- generation


def generation(db: Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return row[0] if row else 0


def mark_scanned(db: Connection) -> None:
    """A full scan finished: the index holds the whole archive (readiness)."""
    db.execute("INSERT INTO meta (key, value) VALUES ('scanned', 1) "
               "ON CONFLICT (key) DO UPDATE SET value = meta.value + 1")


def is_built(db: Connection) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key = 'scanned'").fetchone() is not None


def advance(db: Connection) -> None:
    """Inside a write that changed what is served: documents made before are stale."""
    db.execute("INSERT INTO meta (key, value) VALUES ('generation', 1) "
               "ON CONFLICT (key) DO UPDATE SET value = meta.value + 1")


# --------------------------------------------------------------------------- search

_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


def match_expression(query: str) -> str | None:
    """The FTS5 MATCH expression of a search box's text, or None when it has no words.

    Words are matched whole (case and diacritics folded by the index); `wijk*` matches
    words starting with "wijk"; "two words" in double quotes is a phrase. Every term
    must match. Whatever else the text holds (FTS5's own operators, punctuation) is
    taken as plain words, so no query can be malformed.
    """
    terms = []
    for phrase, bare in _TERM.findall(query):
        if phrase:
            tokens = _WORD.findall(phrase)
            if tokens:
                terms.append('"' + " ".join(tokens) + '"')
            continue
        prefix = bare.endswith("*")
        for index, token in enumerate(tokens := _WORD.findall(bare)):
            last = index == len(tokens) - 1
            terms.append(f'"{token}"' + ("*" if prefix and last else ""))
    return " ".join(terms) or None


def terms(query: str) -> list[tuple[tuple[str, ...], bool]]:
    """match_expression's terms, split into words as the index splits its texts: (words,
    the last one a prefix) each; more than one word is a phrase (as FTS5 takes a word
    that its tokenizer splits in two: `foo_bar`)."""
    found = []
    for phrase, bare in _TERM.findall(query):
        if phrase:
            pieces = tuple(piece for token in _WORD.findall(phrase) for piece in _tokens(token))
            if pieces:
                found.append((pieces, False))
            continue
        prefix = bare.endswith("*")
        words = _WORD.findall(bare)
        for index, token in enumerate(words):
            pieces = tuple(_tokens(token))
            if pieces:
                found.append((pieces, prefix and index == len(words) - 1))
    return found


def tsquery(query: str, between: str = "&") -> str | None:
    """The PostgreSQL form of match_expression: the text to_tsquery('beeldpost', …) takes,
    or None when the query has no words. `'wijk':*` a prefix, `('eerste' <-> 'wijkpost')`
    a phrase, `&` between the terms (`between`). Each word is letters and digits in
    quotes, so that nothing a query holds is read as an operator."""
    parts = []
    for pieces, prefix in terms(query):
        quoted = [f"'{piece}'" for piece in pieces]
        if prefix:
            quoted[-1] += ":*"
        parts.append(quoted[0] if len(quoted) == 1 else f"({' <-> '.join(quoted)})")
    return f" {between} ".join(parts) or None


@dataclass(frozen=True)
class Hit:
    item: str
    label_nl: str
    label_en: str
    snippet: str  # the matching words with [[ ]] around them
    entry: Entry | None = None


@dataclass(frozen=True)
class Filters:
    """What a search is narrowed to: a node and what lies below it, and years."""

    node: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def where(self) -> tuple[str, list]:
        clauses, values = [], []
        if self.node:
            clauses.append("(i.node = ? OR substr(i.node, 1, ?) = ?)")
            values += [self.node, len(self.node) + 1, f"{self.node}/"]
        if self.year_from is not None:
            clauses.append("i.year >= ?")
            values.append(self.year_from)
        if self.year_to is not None:
            clauses.append("i.year <= ?")
            values.append(self.year_to)
        return "".join(f" AND {clause}" for clause in clauses), values


def search(db: Connection, query: str, offset: int = 0, limit: int = 20,
           filters: Filters = Filters()) -> tuple[int, list[Hit]]:
    """(how many items match, `limit` of them from the `offset`-th on, best first)."""
    if db.dialect == "postgresql":
        return _search_postgresql(db, query, offset, limit, filters)
    expression = match_expression(query)
    if expression is None:
        return 0, []
    where, values = filters.where()
    total = db.execute(
        "SELECT COUNT(*) FROM item_words AS w JOIN items AS i ON i.rowid = w.rowid "
        f"WHERE item_words MATCH ?{where}", (expression, *values)).fetchone()[0]
    columns = ", ".join(f"i.{name}" for name in _COLUMNS)
    rows = db.execute(
        f"SELECT snippet(item_words, -1, '[[', ']]', '…', 24), {columns} "
        "FROM item_words AS w JOIN items AS i ON i.rowid = w.rowid "
        f"WHERE item_words MATCH ?{where} ORDER BY rank, i.item LIMIT ? OFFSET ?",
        (expression, *values, limit, offset))
    hits = []
    for row in rows:
        found = _entry(row[1:])
        hits.append(Hit(found.item, found.label_nl, found.label_en, row[0], found))
    return total, hits


# The words around the matches, as FTS5's snippet: ts_headline chooses them (at most 24
# words), and they are marked here, as FTS5 marks them: each match of a term, a phrase
# from its first word to its last, in [[ ]] (ts_headline would mark every word of a
# phrase wherever it stands).
_HEADLINE = "StartSel=\"\", StopSel=\"\", MaxWords=24, MinWords=12"
# ts_headline leaves out what its parser takes for markup (`<b>`, `<!-- -->`), which
# FTS5 shows as the text it is: `<` goes in as a private-use character, and back.
_NOT_A_TAG = "\ue000"
_MARKED_WORD = re.compile(r"[^\W_](?:[^\W_]|[\u0300-\u036f])*")
# Cover density, by the log of the length: of PostgreSQL's ranks the closest to FTS5's
# bm25 (the same order for 6 of 9 queries over the search tests' archive, ts_rank 3).
_RANK = "ts_rank_cd(w.document, to_tsquery('beeldpost', ?), 1)"


def _search_postgresql(db: Connection, query: str, offset: int, limit: int,
                       filters: Filters) -> tuple[int, list[Hit]]:
    """search() on PostgreSQL: the tsvector matched through its GIN index, ranked by
    cover density then by id; snippets of the words or else the label."""
    expression = tsquery(query)
    if expression is None:
        return 0, []
    where, values = filters.where()
    total = db.execute(
        "SELECT COUNT(*) FROM item_words AS w JOIN items AS i ON i.item = w.item "
        f"WHERE w.document @@ to_tsquery('beeldpost', ?){where}",
        (expression, *values)).fetchone()[0]
    if not total:
        return 0, []
    columns = ", ".join(f"i.{name}" for name in _COLUMNS)
    headline = f"ts_headline('beeldpost', replace({{}}, '<', '{_NOT_A_TAG}'), " \
               "to_tsquery('beeldpost', ?), ?)"
    # The words and the label around all of the terms, and (for more than one term)
    # around any of them.
    wanted = [(tuple(_fold(piece) for piece in pieces), prefix) for pieces, prefix in terms(query)]
    around = [expression] + ([tsquery(query, "|")] if len(wanted) > 1 else [])
    headlines = ", ".join(headline.format(column)
                          for _ in around for column in ("w.words", "w.label"))
    shown = 2 * len(around)
    rows = db.execute(
        f"SELECT w.words, w.label, {headlines}, "
        f"{columns} FROM (SELECT i.item, {_RANK} AS rank "
        "      FROM item_words AS w JOIN items AS i ON i.item = w.item "
        f"     WHERE w.document @@ to_tsquery('beeldpost', ?){where} "
        "      ORDER BY rank DESC, i.item LIMIT ? OFFSET ?) AS page "
        "JOIN items AS i ON i.item = page.item JOIN item_words AS w ON w.item = page.item "
        "ORDER BY page.rank DESC, i.item",
        tuple(value for each in around for value in (each, _HEADLINE) * 2)
        + (expression, expression, *values, limit, offset))
    hits = []
    for row in rows:
        found = _entry(row[2 + shown:])
        # As FTS5 chooses: the one that holds the most of the terms, then the most
        # matches; the first of those (the words before the label).
        _score, snippet = max((_snippet(headline, row[number % 2], wanted)
                               for number, headline in enumerate(row[2:2 + shown])),
                              key=lambda scored: scored[0])
        hits.append(Hit(found.item, found.label_nl, found.label_en, snippet, found))
    return total, hits


def _fold(word: str) -> str:
    """Case and diacritics folded (to find the matches again in a snippet's words)."""
    return "".join(c for c in unicodedata.normalize("NFD", word)
                   if not unicodedata.combining(c)).lower()


def _snippet(headline: str, text: str, wanted: list[tuple[tuple[str, ...], bool]]
             ) -> tuple[tuple[int, int], str]:
    """The words ts_headline chose, their matches marked, with an ellipsis where the
    text goes on (as FTS5's snippet); first how good it is: (terms in it, matches)."""
    fragment = headline.replace(_NOT_A_TAG, "<").strip()
    words = [(match.start(), match.end(), _fold(match.group()))
             for match in _MARKED_WORD.finditer(fragment)]
    spans, terms_in = [], set()
    for term, (pieces, prefix) in enumerate(wanted):
        size = len(pieces)
        for first in range(len(words) - size + 1):
            found = [word[2] for word in words[first:first + size]]
            if found[:-1] == list(pieces[:-1]) and (
                    found[-1].startswith(pieces[-1]) if prefix else found[-1] == pieces[-1]):
                spans.append((words[first][0], words[first + size - 1][1]))
                terms_in.add(term)
    marked, at = [], 0
    for begin, end in sorted(spans):
        if marked and begin <= marked[-1][1]:  # overlapping matches are marked as one
            marked[-1] = (marked[-1][0], max(end, marked[-1][1]))
        else:
            marked.append((begin, end))
    parts = []
    for begin, end in marked:
        parts += [fragment[at:begin], "[[", fragment[begin:end], "]]"]
        at = end
    snippet = "".join(parts) + fragment[at:]
    score = (len(terms_in), len(marked))
    start = text.find(fragment) if fragment else -1
    if start < 0:
        return score, snippet
    before = "…" if _WORD.search(text[:start]) else ""
    after = "…" if _WORD.search(text[start + len(fragment):]) else ""
    return score, f"{before}{snippet}{after}"


def relative(path: str) -> str:
    """A path as kept in the index: relative, with /."""
    return path.replace(os.sep, "/")
