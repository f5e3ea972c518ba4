"""Autocomplete for a Collection's search: the words that begin with what was typed,
from the vocabulary of the catalogue's full-text index (SQLite FTS5's `fts5vocab`).

A Collection may hold thousands of items; completing from their manifests would mean
building them all. The index already knows every word of every item (label, summary,
description, people, place, subject, transcript; case and diacritics folded), so a
completion is a range scan over its sorted vocabulary:

- over the whole archive, the `row` vocabulary: one row per word with its count;
- within a level of the archive, or after other words, the `instance` vocabulary
  (one row per occurrence) joined to the items that level holds, counted per word.

A transcript whose text is not public (a staff-only or closed item:
index.transcript_is_public) is not among the index's words, so a word that occurs only
there is in neither vocabulary and is never suggested; the words of its metadata are.

Words are given as the index keeps them (folded: "wijkcoordinator"), which, as a
query, finds what they stand for. The vocabulary tables are temporary, made once on
each connection; they read the index's own tables and add nothing to the database.

PostgreSQL has no such view of its tsvectors, and reading them all would scan every
item per keystroke; there the writers keep the vocabulary as tables (index.put):
`words` (each word's occurrences in all items) for the first case, and `item_terms`
(each item's words, by word) for the second: the same range scans, the same answers.

Requests reach it through Catalogue.completions (store.py), beside the index's search.
"""

from __future__ import annotations

import sqlite3

from .database import Connection
from .index import Filters, tsquery

MIN_PREFIX_CHARS = 2  # one letter would scan a good part of the vocabulary
ROWS = "temp.beeldpost_words"  # term, doc (items holding it), cnt (occurrences)
INSTANCES = "temp.beeldpost_word_instances"  # term, doc (the item's rowid), col, offset
EVERYWHERE = Filters()


def _vocabulary(db: sqlite3.Connection) -> None:
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {ROWS} "
               "USING fts5vocab(main, item_words, row)")
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {INSTANCES} "
               "USING fts5vocab(main, item_words, instance)")


def _upper_bound(prefix: str) -> str:
    """The first string after every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def completions(db: Connection, prefix: str, filters: Filters = EVERYWHERE,
                within: str | None = None, minimum: int = 1,
                limit: int = 20) -> list[tuple[str, int]]:
    """(word, occurrences) for the index's words starting with `prefix` (already
    folded), in the items `filters` keep and, when given, that match the FTS5
    expression `within`; those occurring at least `minimum` times, by word."""
    if len(prefix) < MIN_PREFIX_CHARS:
        return []
    if db.dialect == "postgresql":
        return _completions_postgresql(db, prefix, filters, within, minimum, limit)
    _vocabulary(db)
    bounds = (prefix, _upper_bound(prefix))
    where, values = filters.where()
    if not where and within is None:
        return list(db.execute(
            f"SELECT term, cnt FROM {ROWS} WHERE term >= ? AND term < ? AND cnt >= ? "
            "ORDER BY term LIMIT ?", (*bounds, minimum, limit)))
    narrowed = ""
    if within is not None:
        narrowed = " AND v.doc IN (SELECT rowid FROM item_words WHERE item_words MATCH ?)"
        values = [*values, within]
    return list(db.execute(
        f"SELECT v.term, COUNT(*) FROM {INSTANCES} AS v JOIN items AS i ON i.rowid = v.doc "
        f"WHERE v.term >= ? AND v.term < ?{where}{narrowed} "
        "GROUP BY v.term HAVING COUNT(*) >= ? ORDER BY v.term LIMIT ?",
        (*bounds, *values, minimum, limit)))


def _completions_postgresql(db: Connection, prefix: str, filters: Filters, within: str | None,
                            minimum: int, limit: int) -> list[tuple[str, int]]:
    bounds = (prefix, _upper_bound(prefix))
    minimum = max(minimum, 1)  # (as FTS5's vocabulary, which holds only words in use)
    where, values = filters.where()
    if not where and within is None:
        return list(db.execute(
            "SELECT term, occurrences FROM words WHERE term >= ? AND term < ? "
            "AND occurrences >= ? ORDER BY term LIMIT ?", (*bounds, minimum, limit)))
    narrowed = ""
    if within is not None:
        expression = tsquery(within)
        if expression is None:
            return []
        narrowed = (" AND t.item IN (SELECT item FROM item_words "
                    "WHERE document @@ to_tsquery('beeldpost', ?))")
        values = [*values, expression]
    return list(db.execute(
        "SELECT t.term, SUM(t.occurrences)::bigint FROM item_terms AS t "
        "JOIN items AS i ON i.item = t.item "
        f"WHERE t.term >= ? AND t.term < ?{where}{narrowed} "
        "GROUP BY t.term HAVING SUM(t.occurrences) >= ? ORDER BY t.term LIMIT ?",
        (*bounds, *values, minimum, limit)))
