"""How a level of the archive is shown as Collections of at most `limit` members.

Presentation 3 has no paging, so a level with more members than a Collection may list
(the `collection_size` setting, 1,000 by default) is shown as child Collections: by
year when its items are dated and that keeps every year within the limit, else in
runs of the stable order ("1–1000", "1001–2000", …), runs of runs when even those are
too many. A part of a level is named by a `Slice`, whose URL segments follow the
level's path: `…/~1999`, `…/~undated`, `…/~1-1000`, `…/~1999/~1-1000`.

Pure: no database, no HTTP (store.py asks the index for the counts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

UNDATED = "undated"
_RUN = re.compile(r"^([1-9][0-9]{0,8})-([1-9][0-9]{0,8})$")
_YEAR = re.compile(r"^-?[0-9]{1,4}$")

ALL = False  # Slice.year when not narrowed to one year


@dataclass(frozen=True)
class Slice:
    """A part of a node's items: one year's (None: the undated), a run of positions
    (1-based, both ends included) in the stable order, or both."""

    year: int | None | bool = ALL
    first: int | None = None
    last: int | None = None

    def segments(self) -> list[str]:
        parts = []
        if self.year is not ALL:
            parts.append(f"~{UNDATED if self.year is None else self.year}")
        if self.first is not None:
            parts.append(f"~{self.first}-{self.last}")
        return parts

    def label(self, name: str) -> dict[str, list[str]]:
        nl, en = [name] if name else [], [name] if name else []
        if self.year is not ALL:
            nl.append("zonder datum" if self.year is None else str(self.year))
            en.append("undated" if self.year is None else str(self.year))
        if self.first is not None:
            run = f"{self.first}–{self.last}"
            nl.append(run)
            en.append(run)
        return {"nl": [", ".join(nl)], "en": [", ".join(en)]}


def parse_segments(segments: list[str]) -> tuple[list[str], Slice] | None:
    """A collection URL's segments as (the node's path segments, the slice), or None
    when the `~` segments are not a year, `undated` or a run."""
    path = [segment for segment in segments if not segment.startswith("~")]
    marks = [segment[1:] for segment in segments if segment.startswith("~")]
    if segments[:len(path)] != path:
        return None  # a level's name after a slice
    year: int | None | bool = ALL
    first = last = None
    for index, mark in enumerate(marks):
        run = _RUN.match(mark)
        if run and index == len(marks) - 1:
            first, last = int(run.group(1)), int(run.group(2))
            if first > last:
                return None
        elif index == 0 and mark == UNDATED:
            year = None
        elif index == 0 and _YEAR.match(mark):
            year = int(mark)
        else:
            return None
    return path, Slice(year, first, last)


@dataclass(frozen=True)
class Page:
    """What one Collection document lists: child nodes (when it is a whole level), then
    either items (`items`: offset and count among the slice's items in the stable
    order) or child slices."""

    with_children: bool
    slices: tuple[Slice, ...] = ()
    items: tuple[int, int] | None = None  # (offset, count)


def runs(count: int, limit: int, room: int) -> int:
    """The size of the runs `count` items are cut into so that at most `room` runs
    show beside the rest: `limit`, `limit`², …"""
    size = limit
    while math.ceil(count / size) > max(room, 1):
        size *= limit
    return size


def _run_slices(year, first: int, count: int, size: int) -> tuple[Slice, ...]:
    return tuple(Slice(year, start, min(start + size - 1, first + count - 1))
                 for start in range(first, first + count, size))


def plan(part: Slice, children: int, years: list[tuple[int | None, int]], limit: int) -> Page | None:
    """The page of a node (its `children` child nodes, its items counted by year) or
    of a slice of it; None when the slice is not one this plan makes (a 404)."""
    total = sum(count for _year, count in years)
    if part == Slice():
        if children + total <= limit:
            return Page(True, items=(0, total))
        room = limit - min(children, limit)
        dated = any(year is not None for year, _count in years)
        if dated and len(years) <= room:
            return Page(True, slices=tuple(Slice(year) for year, _count in years))
        return Page(True, slices=_run_slices(ALL, 1, total, runs(total, limit, room)))
    if part.year is not ALL:
        top = plan(Slice(), children, years, limit)
        if Slice(part.year) not in top.slices:
            return None
        count = dict(years)[part.year]
        if count <= limit:
            whole_year = Page(False, items=(0, count))
        else:
            whole_year = Page(False, slices=_run_slices(part.year, 1, count,
                                                        runs(count, limit, limit)))
        return whole_year if part.first is None else _within(part, whole_year, count, limit)
    top = plan(Slice(), children, years, limit)
    return _within(part, top, total, limit)


def _within(part: Slice, parent: Page | None, count: int, limit: int) -> Page | None:
    """A run's page, when the run is one of `parent`'s (or of one of its runs)."""
    while parent is not None:
        if part in parent.slices:
            size = part.last - part.first + 1
            if size <= limit:
                return Page(False, items=(part.first - 1, size))
            return Page(False, slices=_run_slices(part.year, part.first, size,
                                                  runs(size, limit, limit)))
        containing = [candidate for candidate in parent.slices
                      if candidate.first is not None and candidate.year == part.year
                      and candidate.first <= part.first and part.last <= candidate.last]
        if not containing:
            return None
        outer = containing[0]
        size = outer.last - outer.first + 1
        if size <= limit:
            return None
        parent = Page(False, slices=_run_slices(part.year, outer.first, size,
                                                runs(size, limit, limit)))
    return None
