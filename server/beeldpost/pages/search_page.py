"""The search page, /search?q=…: what it asks for, what it checks, what it finds.

    /search                                   the form, nothing searched
    /search?q=wijk*&collection=batavialand/nieuw-land&from=1990&to=2000&page=2

It searches every item's label, summary, description, people, place, subject and
public transcript (not that of a staff-only or closed item, which the index leaves
out, catalogue/index.transcript_is_public: no hit or snippet shows a word of it)
through the catalogue's full-text index (Catalogue.search: whole words,
case and diacritics folded, `wijk*` prefixes, "phrases"), narrowed to a level of the
archive and what lies below it (`collection`, a node path such as
`batavialand/nieuw-land`) and to a range of years (`from`, `to`). Results are paged
by BEELDPOST_HOME_PAGE_SIZE, like the home page.

A parameter that cannot be used is refused with a short message naming it: 400 for
a `page`, `from` or `to` that is not a number or a year, 404 for a collection or a
page that does not exist. Nothing is guessed, so a link to a search always shows
what it says.

The route itself is in views.py, beside the other pages, because it renders with
their helpers (language, list views, headers): this module imports none of views.py,
so views.py can import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from ..catalogue.index import Filters, Hit
from ..catalogue.store import Catalogue
from ..errors import BadRequest, NotFound

MAX_QUERY_CHARS = 500  # far above any typed search; keeps the index's work bounded
PAGE_LINKS = 2  # numbered links shown on each side of the current page
_YEAR = re.compile(r"^[0-9]{1,4}$")

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "search_title": "Zoeken in de collectie",
        "search_intro": "Zoek in titels, bijschriften, beschrijvingen, personen, plaatsen, "
                        "onderwerpen en transcripties. Hoofdletters en accenten tellen niet mee; "
                        "wijk* vindt woorden die met wijk beginnen; zet woorden tussen "
                        "aanhalingstekens om ze als zinsdeel te zoeken.",
        "search_words": "Zoekwoorden",
        "search_collection": "Deel van het archief",
        "search_everywhere": "Het hele archief",
        "search_years": "Jaren",
        "search_from": "Van jaar",
        "search_to": "Tot en met jaar",
        "search_found_one": "1 stuk gevonden",
        "search_found_many": "{count} stukken gevonden",
        "search_found_none": "Geen stukken gevonden.",
        "search_hint_none": "Probeer minder of andere woorden, een woord met * erachter, "
                            "of zoek in het hele archief.",
        "search_results": "Resultaten",
        "search_in": "in",
        "search_page_n": "Pagina {number}",
    },
    "en": {
        "search_title": "Search the collection",
        "search_intro": "Search titles, captions, descriptions, people, places, subjects and "
                        "transcripts. Case and accents do not matter; wijk* finds words that "
                        "start with wijk; put words in double quotes to find them as a phrase.",
        "search_words": "Search words",
        "search_collection": "Part of the archive",
        "search_everywhere": "The whole archive",
        "search_years": "Years",
        "search_from": "From year",
        "search_to": "To year",
        "search_found_one": "1 item found",
        "search_found_many": "{count} items found",
        "search_found_none": "No items found.",
        "search_hint_none": "Try fewer or other words, a word followed by *, or search the "
                            "whole archive.",
        "search_results": "Results",
        "search_in": "in",
        "search_page_n": "Page {number}",
    },
}


@dataclass(frozen=True)
class SearchRequest:
    """The page's parameters, checked."""

    q: str = ""
    page: int = 1
    collection: str = ""  # a node path, '' for the whole archive
    year_from: int | None = None
    year_to: int | None = None

    @property
    def asks(self) -> bool:
        """Whether there is anything to search for (an empty q shows only the form)."""
        return bool(self.q.strip())

    @property
    def filters(self) -> Filters:
        return Filters(self.collection or None, self.year_from, self.year_to)

    def arguments(self) -> dict[str, str]:
        """The parameters that make this search, for links to its other pages."""
        values = {"q": self.q, "collection": self.collection,
                  "from": "" if self.year_from is None else str(self.year_from),
                  "to": "" if self.year_to is None else str(self.year_to)}
        return {name: value for name, value in values.items() if value}


def parse(args: Mapping[str, str]) -> SearchRequest:
    """The request's parameters (400 for one that cannot be used). An empty `from`,
    `to` or `collection` is absent: that is what the form sends for a field left empty."""
    q = args.get("q", "")
    if len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"q is at most {MAX_QUERY_CHARS} characters, got {len(q)}.")
    raw_page = args.get("page", "1")
    if not raw_page.isdigit() or int(raw_page) < 1:
        raise BadRequest(f"page must be a whole number from 1, got {raw_page!r}.")
    year_from = _year(args, "from")
    year_to = _year(args, "to")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise BadRequest(f"from ({year_from}) is after to ({year_to}).")
    collection = args.get("collection", "").strip().strip("/")
    return SearchRequest(q, int(raw_page), collection, year_from, year_to)


def _year(args: Mapping[str, str], name: str) -> int | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    if not _YEAR.match(value):
        raise BadRequest(f"{name} must be a year such as 1999, got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class Found:
    """One page of results: the request, how many items match in all, this page's hits."""

    asked: SearchRequest
    total: int
    hits: list[Hit]
    pages: int
    collection_name: str | None  # the chosen level's name, for the page's words


def find(catalogue: Catalogue, asked: SearchRequest, size: int) -> Found:
    """The page of results `asked` names (404 for an unknown collection or a page past
    the last; an empty q finds nothing and has one page, the form)."""
    name = None
    if asked.collection:
        node = catalogue.node(asked.collection)
        if node is None:
            raise NotFound(f"no collection {asked.collection!r}; the form lists them, and "
                           "/iiif/collection has them all.")
        name = node.name
    total, hits = 0, []
    if asked.asks:
        # Kept until the catalogue changes: a query many ask (or one paged back and
        # forth) is matched and ranked once.
        total, hits = catalogue.kept(
            ("search", asked.q, asked.filters, asked.page, size),
            lambda: catalogue.search(asked.q, (asked.page - 1) * size, size, asked.filters))
    pages = max(1, -(-total // size))
    if asked.page > pages:
        raise NotFound(f"there are {pages} page(s) of results; there is no page {asked.page}.")
    return Found(asked, total, hits, pages, name)


# --------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class Option:
    path: str
    label: str
    selected: bool


def collection_options(catalogue: Catalogue, chosen: str) -> list[Option]:
    """The levels a search can be narrowed to: the archive's top levels and their
    children (a name, and its parent's before it). A deeper level chosen by a link is
    listed too, so the form keeps it."""
    options = []
    for top in catalogue.children(""):
        options.append(Option(top.path, f"{top.name} ({top.total})", top.path == chosen))
        for child in catalogue.children(top.path):
            options.append(Option(child.path, f"{top.name} › {child.name} ({child.total})",
                                  child.path == chosen))
    if chosen and not any(option.selected for option in options):
        node = catalogue.node(chosen)
        if node is not None:
            options.append(Option(node.path, f"{' › '.join(node.levels)} ({node.total})", True))
    return options


def count_text(texts: Mapping[str, str], total: int) -> str:
    if total == 0:
        return texts["search_found_none"]
    if total == 1:
        return texts["search_found_one"]
    return texts["search_found_many"].format(count=total)


# --------------------------------------------------------------------------- paging


@dataclass(frozen=True)
class PageLink:
    number: int | None  # None: a gap (…)
    url: str | None
    current: bool = False


def page_links(found: Found, lang: str | None) -> dict:
    """Links to the previous, next and nearby pages of the results, each keeping the
    search (and the language when the request chose one with ?lang=)."""
    arguments = found.asked.arguments()

    def link(number: int) -> str:
        query = {**arguments, **({"page": str(number)} if number > 1 else {})}
        if lang:
            query["lang"] = lang
        return f"?{urlencode(query)}"

    number, pages = found.asked.page, found.pages
    shown = sorted({1, pages, *range(max(1, number - PAGE_LINKS),
                                       min(pages, number + PAGE_LINKS) + 1)})
    numbered: list[PageLink] = []
    for index, page in enumerate(shown):
        if index and page - shown[index - 1] > 1:
            numbered.append(PageLink(None, None))
        numbered.append(PageLink(page, link(page), page == number))
    return {"number": number, "pages": pages, "numbered": numbered,
            "previous": link(number - 1) if number > 1 else None,
            "next": link(number + 1) if number < pages else None}
