"""The catalogue index: what requests need of every published item, beside the journal.

It lives in the journal's database and is written by the journal's scan in the same
transaction as the activities it journals (journal.py): an item is in the index from
the moment its Create is journalled, changes with its Update and leaves with its
Delete, never before or after. A record that breaks keeps its last good entry, as it
keeps its last journalled state.

An entry holds the record's own text and its transcript's, so that a request can
build an item's documents by parsing its own record from here, never another's and
never from a folder listing; what lists, collections and image policies need without
parsing (image, labels, date, place in the hierarchy, rights and size limits); and its
words for full-text search (SQLite FTS5, case and diacritics folded).

Reading and writing take an open sqlite3 connection: the journal owns connections and
transactions. The next step (several servers on one catalogue) puts the same tables
in PostgreSQL behind this module's functions.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass

from .records import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item        TEXT PRIMARY KEY,
    file        TEXT NOT NULL,          -- the record's file, relative to the records folder
    record      TEXT NOT NULL,          -- that file's text, as last published
    transcript  TEXT,                   -- its transcript file's text, when it has one
    image       TEXT NOT NULL,
    label_nl    TEXT NOT NULL,
    label_en    TEXT NOT NULL,
    date        TEXT,                   -- 1999 or 1999-05-12
    hierarchy   TEXT NOT NULL,          -- JSON list of level names, top down
    rights      TEXT NOT NULL,
    max_size    INTEGER,
    max_width   INTEGER,
    max_height  INTEGER,
    max_area    INTEGER,
    stamps      TEXT NOT NULL,          -- JSON [[file, mtime_ns, size, inode], …] of record, transcript
    digest      TEXT NOT NULL           -- SHA-256 of those files' bytes
);
CREATE INDEX IF NOT EXISTS items_by_image ON items (image);
CREATE VIRTUAL TABLE IF NOT EXISTS item_words USING fts5(
    item UNINDEXED, label, words, tokenize = "unicode61 remove_diacritics 2"
);
"""


@dataclass(frozen=True)
class Entry:
    item: str
    file: str
    record: str
    transcript: str | None
    image: str
    label_nl: str
    label_en: str
    date: str | None
    hierarchy: tuple[str, ...]
    rights: str
    max_size: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None
    # What the files were when this entry was made: a scan that finds them the same
    # needs neither to read nor to parse them (a restart does not re-read the archive).
    stamps: str = "[]"
    digest: str = ""

    @classmethod
    def of(cls, parsed: Record, file: str, record_text: str, transcript_text: str | None,
           stamps: str, digest: str) -> "Entry":
        return cls(parsed.item, file, record_text, transcript_text, parsed.image,
                   parsed.label["nl"], parsed.label["en"], parsed.date, parsed.hierarchy,
                   parsed.rights, parsed.max_size, parsed.max_width, parsed.max_height,
                   parsed.max_area, stamps, digest)


def words(parsed: Record) -> str:
    """Everything search finds an item by: summary, description, people, place,
    subject, collection, photographer, source and its transcript (the label apart)."""
    texts: list[str] = []
    for text in (parsed.summary, parsed.description, parsed.subject, parsed.collection):
        if text is not None:
            texts.extend(value for _language, value in text.entries)
    texts.extend(person.name for person in parsed.people)
    texts.extend(value for value in (parsed.place, parsed.photographer, parsed.source) if value)
    if parsed.transcript is not None:
        texts.extend(parsed.transcript.paragraphs)
    return "\n".join(texts)


_COLUMNS = ("item", "file", "record", "transcript", "image", "label_nl", "label_en", "date",
            "hierarchy", "rights", "max_size", "max_width", "max_height", "max_area", "stamps",
            "digest")


def put(db: sqlite3.Connection, entry: Entry, parsed: Record) -> None:
    """Add or replace the item's entry (inside the caller's transaction).

    The words share the entry's rowid: FTS5 finds a row by rowid at once, while a
    search by its unindexed `item` column would read them all (quadratic over a scan
    of the whole archive)."""
    values = [getattr(entry, name) for name in _COLUMNS]
    values[_COLUMNS.index("hierarchy")] = json.dumps(list(entry.hierarchy), ensure_ascii=False)
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
               (rowid, entry.item, f"{entry.label_nl}\n{entry.label_en}", words(parsed)))


def remove(db: sqlite3.Connection, item: str) -> None:
    found = db.execute("SELECT rowid FROM items WHERE item = ?", (item,)).fetchone()
    if found is not None:
        db.execute("DELETE FROM item_words WHERE rowid = ?", (found[0],))
        db.execute("DELETE FROM items WHERE rowid = ?", (found[0],))


def indexed(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT item FROM items")}


def file_states(db: sqlite3.Connection) -> dict[str, tuple[str, str, str]]:
    """item -> (stamps, digest, image) of every entry: what a scan compares files with."""
    return {row[0]: row[1:] for row in db.execute("SELECT item, stamps, digest, image FROM items")}


def _entry(row: tuple) -> Entry:
    values = dict(zip(_COLUMNS, row))
    values["hierarchy"] = tuple(json.loads(values["hierarchy"]))
    return Entry(**values)


def entry(db: sqlite3.Connection, item: str) -> Entry | None:
    row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM items WHERE item = ?", (item,)).fetchone()
    return _entry(row) if row else None


def showing(db: sqlite3.Connection, image: str) -> list[Entry]:
    """The entries of the items whose image is `image` (an index lookup)."""
    rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM items WHERE image = ? ORDER BY item",
                      (image,))
    return [_entry(row) for row in rows]


def count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]


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


@dataclass(frozen=True)
class Hit:
    item: str
    label_nl: str
    label_en: str
    snippet: str  # the matching words with [[ ]] around them


def search(db: sqlite3.Connection, query: str, offset: int = 0,
           limit: int = 20) -> tuple[int, list[Hit]]:
    """(how many items match, `limit` of them from the `offset`-th on, best first)."""
    expression = match_expression(query)
    if expression is None:
        return 0, []
    total = db.execute("SELECT COUNT(*) FROM item_words WHERE item_words MATCH ?",
                       (expression,)).fetchone()[0]
    rows = db.execute(
        "SELECT w.item, i.label_nl, i.label_en, snippet(item_words, -1, '[[', ']]', '…', 24) "
        "FROM item_words AS w JOIN items AS i ON i.rowid = w.rowid "
        "WHERE item_words MATCH ? ORDER BY rank, w.item LIMIT ? OFFSET ?",
        (expression, limit, offset))
    return total, [Hit(*row) for row in rows]
