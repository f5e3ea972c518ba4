"""Autocomplete for a Collection's search: the words that begin with what was typed,
from the vocabulary of the catalogue's full-text index (SQLite FTS5's `fts5vocab`).

A Collection may hold thousands of items; completing from their manifests would mean
building them all. The index already knows every word of every item (label, summary,
description, people, place, subject, transcript; case and diacritics folded), so a
completion is a range scan over its sorted vocabulary:

- over the whole archive, the `row` vocabulary: one row per word with its count;
- within a level of the archive, or after other words, the `instance` vocabulary
  (one row per occurrence) joined to the items that level holds, counted per word.

Words are given as the index keeps them (folded: "wijkcoordinator"), which, as a
query, finds what they stand for. The vocabulary tables are temporary, made once on
each connection; they read the index's own tables and add nothing to the database.

Requests reach it through Catalogue.completions (store.py), beside the index's search.
"""

from __future__ import annotations

import sqlite3

from .index import Filters

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


def completions(db: sqlite3.Connection, prefix: str, filters: Filters = EVERYWHERE,
                within: str | None = None, minimum: int = 1,
                limit: int = 20) -> list[tuple[str, int]]:
    """(word, occurrences) for the index's words starting with `prefix` (already
    folded), in the items `filters` keep and, when given, that match the FTS5
    expression `within`; those occurring at least `minimum` times, by word."""
    if len(prefix) < MIN_PREFIX_CHARS:
        return []
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
