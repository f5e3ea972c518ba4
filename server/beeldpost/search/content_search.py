"""IIIF Content Search 1.0 and 2.0, with autocomplete, over each item's annotations.

    /iiif/manifests/{item}/search?q=…           Search 1.0: sc:AnnotationList with hits
    /iiif/manifests/{item}/autocomplete?q=…     Search 1.0: search:TermList
    /iiif/manifests/{item}/search2?q=…          Search 2.0: AnnotationPage (+ highlighting)
    /iiif/manifests/{item}/autocomplete2?q=…    Search 2.0: TermPage
    /iiif/collection[/{level}…]/search2?q=…     Search 2.0 over the items below a Collection
    /iiif/collection[/{level}…]/autocomplete2?q=…   its TermPage, from the index's vocabulary

What is searched: the textual bodies of the annotations the item's manifest carries
(transcript paragraphs, people, caption), with the very ids the manifest gives them,
so a viewer can jump from a hit to the annotation it already knows. In Search 1.0
answers an annotation on the whole canvas targets `canvas#xywh=0,0,W,H` (the same
region, which stock Universal Viewer 4.4 needs); Search 2.0 gives the annotations
exactly as the manifest does.

A transcript that is not public (a staff-only or closed item: presentation/
manifests.py's shows_transcript) is not in its manifest, so neither the item's search
nor its autocomplete finds a word of it (its people and caption are found as ever);
a Collection's search and autocomplete ask the index, which leaves it out too
(catalogue/index.transcript_is_public).

Matching is by words, ignoring case and diacritics: text and query are decomposed
(NFKD), stripped of combining marks and case-folded, so `wijkcoordinator` finds
"wijkcoördinator". A query of several words finds them as a phrase; a word ending
in `*` matches any word it begins. Each occurrence is a hit with the text before and
after it in its annotation. `motivation` is applied (commenting, tagging,
non-painting, …); `date` and `user` are not (annotations here carry neither) and are
listed in `ignored`. Results beyond BEELDPOST_SEARCH_PAGE_SIZE hits (1.0) or
annotations (2.0) are paged with `page=2`, `page=3`, ….

A Collection's search (the top, a level of the archive, or a year or run of one: the
`search_service_v2` every Collection document declares) first asks the catalogue's
full-text index which items below it match, best first, then answers with those
items' own matching annotations, found in their manifests exactly as above, each with
`partOf` naming its manifest (a client of a Collection has not loaded it). A page is
a run of COLLECTION_ITEMS_PER_PAGE matching items from the index, so a request builds
no more manifests than that; when their annotations are more than
BEELDPOST_SEARCH_PAGE_SIZE, the page is continued with `part=2`, `part=3`, ….
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, request

from ..catalogue import hierarchy
from ..catalogue.index import Filters
from ..catalogue.store import Catalogue
from ..errors import BadRequest, BeeldpostError, NotFound
from ..http.responses import base_url, json_ld_response
from ..presentation.links import (
    SEARCH1_CONTEXT,
    SEARCH2_CONTEXT,
    autocomplete_url,
    search_url,
)
from ..presentation.manifests import Urls
from ..presentation.manifests_v2 import CONTEXT as PRESENTATION_2_CONTEXT
from ..presentation.manifests_v2 import annotation_v2

log = logging.getLogger(__name__)

# Letters and digits, with any combining marks that follow them (decomposed input).
WORD = re.compile(r"[^\W_][\w\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*")
QUERY_WORD = re.compile(WORD.pattern + r"\*?")
# Context around a hit: about this many characters, cut at word boundaries.
CONTEXT_CHARS = 60
AUTOCOMPLETE_TERMS = 20
IGNORED = ("date", "user")
MAX_AGE = 0
# A Collection's search: matching items whose manifests one page builds, at most.
COLLECTION_ITEMS_PER_PAGE = 10
MAX_QUERY_CHARS = 500  # far above any typed search; keeps the index's work bounded
LAST = "last"  # `part=last`: the last part of a page (what `prev` and `last` link to)


def normalise(text: str) -> str:
    """Case- and diacritics-insensitive form: NFKD, combining marks dropped, case-folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    norm: str


@dataclass(frozen=True)
class Entry:
    """One searchable annotation: its Presentation 3 form and its words."""

    annotation: dict
    text: str
    tokens: tuple[Token, ...]

    @property
    def id(self) -> str:
        return self.annotation["id"]

    @property
    def motivation(self) -> str:
        return self.annotation.get("motivation", "")


@dataclass(frozen=True)
class Term:
    norm: str
    prefix: bool

    def matches(self, word: str) -> bool:
        return word.startswith(self.norm) if self.prefix else word == self.norm


@dataclass(frozen=True)
class Hit:
    entry: Entry
    start: int  # character span of the match in entry.text
    end: int

    @property
    def match(self) -> str:
        return self.entry.text[self.start:self.end]

    @property
    def before(self) -> str:
        return _before(self.entry.text, self.start)

    @property
    def after(self) -> str:
        return _after(self.entry.text, self.end)


def tokens(text: str) -> tuple[Token, ...]:
    return tuple(Token(m.start(), m.end(), normalise(m.group())) for m in WORD.finditer(text))


def index(manifest: dict) -> list[Entry]:
    """Every annotation with a textual body in the manifest's canvases' annotation pages."""
    entries = []
    for canvas in manifest.get("items", []):
        for page in canvas.get("annotations", []) or []:
            for annotation in page.get("items", []):
                body = annotation.get("body")
                if isinstance(body, dict) and body.get("type") == "TextualBody" \
                        and isinstance(body.get("value"), str):
                    entries.append(Entry(annotation, body["value"], tokens(body["value"])))
    return entries


def parse_query(q: str) -> list[Term]:
    terms = []
    for found in QUERY_WORD.finditer(q):
        word = found.group()
        prefix = word.endswith("*")
        terms.append(Term(normalise(word.rstrip("*")), prefix))
    return [term for term in terms if term.norm]


def find(entries: Iterable[Entry], terms: list[Term]) -> list[Hit]:
    """Every occurrence of the terms as a phrase, in annotation order."""
    hits = []
    size = len(terms)
    for entry in entries:
        words = entry.tokens
        for i in range(len(words) - size + 1):
            if all(term.matches(words[i + k].norm) for k, term in enumerate(terms)):
                hits.append(Hit(entry, words[i].start, words[i + size - 1].end))
    return hits


def _before(text: str, start: int) -> str:
    cut = max(0, start - CONTEXT_CHARS)
    if cut > 0:
        space = text.find(" ", cut, start)
        cut = space + 1 if space != -1 else cut
    return text[cut:start]


def _after(text: str, end: int) -> str:
    cut = min(len(text), end + CONTEXT_CHARS)
    if cut < len(text):
        space = text.rfind(" ", end, cut)
        cut = space if space > end else cut
    return text[end:cut]


# --------------------------------------------------------------------------- filters


MOTIVATION_ALIASES = {"sc:painting": "painting", "oa:commenting": "commenting",
                      "oa:tagging": "tagging", "oa:describing": "describing",
                      "oa:linking": "linking"}


def motivation_filter(value: str | None):
    if not value or not value.strip():
        return lambda entry: True
    wanted = {MOTIVATION_ALIASES.get(word, word) for word in value.split()}

    def keep(entry: Entry) -> bool:
        motivation = entry.motivation
        return motivation in wanted or ("non-painting" in wanted and motivation != "painting")

    return keep


def ignored_parameters() -> list[str]:
    return [name for name in IGNORED if name in request.args]


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"page must be a whole number from 1, not {raw!r}.")
    return int(raw)


def _page_size() -> int:
    return max(1, current_app.config["BEELDPOST"].search_page_size)


def _url(base: str, page: int | None = None, **overrides: str) -> str:
    """The request's own parameters that were acted on (ignored ones dropped), + page."""
    params = [(name, request.args[name]) for name in ("q", "motivation", "min")
              if name in request.args]
    params = [(name, overrides.get(name, value)) for name, value in params]
    params += [(name, value) for name, value in overrides.items()
               if name not in dict(params)]
    if page is not None and page > 1:
        params.append(("page", str(page)))
    return f"{base}?{urlencode(params)}" if params else base


def _entries(item: str) -> tuple[dict, list[Entry]]:
    from ..presentation.routes import manifest_document

    _record, manifest = manifest_document(item)
    keep = motivation_filter(request.args.get("motivation"))
    return manifest, [entry for entry in index(manifest) if keep(entry)]


def _hits(entries: list[Entry]) -> list[Hit]:
    q = request.args.get("q", "")
    terms = parse_query(q)
    if not terms:
        if q.strip():
            return []  # only punctuation: matches nothing
        # No query: nothing restricts the annotations (Search 1.0 §3.2.1), each is a result.
        return [Hit(entry, 0, 0) for entry in entries]
    return find(entries, terms)


def _pages(total: int, size: int, page: int) -> int:
    last = max(1, -(-total // size))
    if page > last:
        raise NotFound(f"there are {last} page(s) of results; there is no page {page}.")
    return last


# --------------------------------------------------------------------------- Search 1.0


def search_v1(item: str):
    manifest, entries = _entries(item)
    base = search_url(manifest["id"], 1)
    hits = _hits(entries)
    size, page = _page_size(), _page_number()
    last = _pages(len(hits), size, page)
    shown = hits[(page - 1) * size: page * size]

    within: dict = {"@type": "sc:Layer", "total": len(hits)}
    if last > 1:
        within["first"] = _url(base, 1)
        within["last"] = _url(base, last)
    ignored = ignored_parameters()
    if ignored:
        within["ignored"] = ignored
    document: dict = {
        "@context": [PRESENTATION_2_CONTEXT, SEARCH1_CONTEXT],
        "@id": _url(base, page),
        "@type": "sc:AnnotationList",
        "within": within,
    }
    if last > 1:
        if page < last:
            document["next"] = _url(base, page + 1)
        if page > 1:
            document["prev"] = _url(base, page - 1)
        document["startIndex"] = (page - 1) * size
    canvases = {canvas["id"]: canvas for canvas in manifest.get("items", [])}
    resources, seen = [], set()
    for hit in shown:
        if hit.entry.id not in seen:
            seen.add(hit.entry.id)
            resource = annotation_v2(hit.entry.annotation)
            resource["on"] = _on_with_region(resource["on"], canvases)
            resources.append(resource)
    document["resources"] = resources
    document["hits"] = [_hit_v1(hit) for hit in shown]
    return json_ld_response(document, SEARCH1_CONTEXT, MAX_AGE)


def _on_with_region(target, canvases: dict[str, dict]):
    """A whole-canvas target as `canvas#xywh=0,0,W,H`: the same region, spelled out.

    Stock Universal Viewer 4.4 takes each result's canvas and box from the `#xywh=`
    of its `on` (`resource.on.match(/(.*)#/)[1]` in groupOpenAnnotationsByTarget,
    then manifold's AnnotationRect) and throws on a bare canvas URI, showing no
    results. Mirador reads both forms. Targets with a fragment are kept as they are;
    the manifest's own annotations (and Search 2.0) keep the plain canvas URI.
    """
    canvas = canvases.get(target) if isinstance(target, str) else None
    if canvas is None:
        return target
    return f"{target}#xywh=0,0,{canvas['width']},{canvas['height']}"


def _hit_v1(hit: Hit) -> dict:
    document: dict = {"@type": "search:Hit", "annotations": [hit.entry.id]}
    if hit.end > hit.start:
        document["match"] = hit.match
        document["before"] = hit.before
        document["after"] = hit.after
        document["selectors"] = [{"@type": "oa:TextQuoteSelector", "exact": hit.match,
                                  "prefix": hit.before, "suffix": hit.after}]
    return document


# --------------------------------------------------------------------------- Search 2.0


def search_v2(item: str):
    manifest, entries = _entries(item)
    base = search_url(manifest["id"], 2)
    hits = _hits(entries)
    matched: list[Entry] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.entry.id not in seen:
            seen.add(hit.entry.id)
            matched.append(hit.entry)
    size, page = _page_size(), _page_number()
    last = _pages(len(matched), size, page)
    shown = matched[(page - 1) * size: page * size]
    page_id = _url(base, page)

    paging: dict = {}
    if last > 1:
        paging["partOf"] = {
            "id": _url(base),
            "type": "AnnotationCollection",
            "total": len(matched),
            "first": {"id": _url(base, 1), "type": "AnnotationPage"},
            "last": {"id": _url(base, last), "type": "AnnotationPage"},
        }
        if page < last:
            paging["next"] = {"id": _url(base, page + 1), "type": "AnnotationPage"}
        if page > 1:
            paging["prev"] = {"id": _url(base, page - 1), "type": "AnnotationPage"}
        paging["startIndex"] = (page - 1) * size
    document = _annotation_page(page_id, paging, [entry.annotation for entry in shown],
                                _highlighted(hits, shown))
    return json_ld_response(document, SEARCH2_CONTEXT, MAX_AGE)


def _highlighted(hits: list[Hit], shown: Iterable[Entry]) -> list[Hit]:
    """The hits inside the annotations on the page (those of an empty query have no span)."""
    on_page = {entry.id for entry in shown}
    return [hit for hit in hits if hit.entry.id in on_page and hit.end > hit.start]


def _annotation_page(page_id: str, paging: dict, items: list[dict],
                     highlights: list[Hit]) -> dict:
    """A Search 2.0 answer: the annotations, where in them each match is, and paging."""
    document: dict = {"@context": SEARCH2_CONTEXT, "id": page_id, "type": "AnnotationPage"}
    ignored = ignored_parameters()
    if ignored:
        document["ignored"] = ignored
    document.update(paging)
    document["items"] = items
    if highlights:
        document["annotations"] = [{
            "type": "AnnotationPage",
            "items": [_highlight(hit, f"{page_id}#hit-{number}")
                      for number, hit in enumerate(highlights, start=1)],
        }]
    return document


def _highlight(hit: Hit, identifier: str) -> dict:
    """Where the match is inside its (paragraph-sized) annotation: Search 2.0 §4.3.2."""
    selector = {"type": "TextQuoteSelector", "exact": hit.match}
    if hit.before:
        selector["prefix"] = hit.before
    if hit.after:
        selector["suffix"] = hit.after
    return {
        "id": identifier,
        "type": "Annotation",
        "motivation": "highlighting",
        "target": {"type": "SpecificResource", "source": hit.entry.id, "selector": [selector]},
    }


# --------------------------------------------------------------------------- autocomplete


def completions(entries: list[Entry], q: str, minimum: int) -> list[tuple[str, int]]:
    """(term as written most often, occurrences) for words or phrases starting with q."""
    terms = parse_query(q.replace("*", " "))
    if not terms:
        return []
    words = [Term(term.norm, False) for term in terms[:-1]] + [Term(terms[-1].norm, True)]
    forms: dict[str, Counter] = defaultdict(Counter)
    for hit in find(entries, words):
        text = hit.match
        forms[normalise(text)][text] += 1
    found = []
    for norm, counter in forms.items():
        total = sum(counter.values())
        if total >= minimum:
            form = sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))[0][0]
            found.append((norm, form, total))
    found.sort()
    return [(form, total) for _norm, form, total in found[:AUTOCOMPLETE_TERMS]]


def _autocomplete_query() -> tuple[str, int]:
    q = request.args.get("q")
    if q is None or not q.strip():
        raise BadRequest("autocomplete needs q, the beginning of a word: ?q=wijk")
    raw = request.args.get("min", "1")
    if not raw.isdigit():
        raise BadRequest(f"min must be a whole number, not {raw!r}.")
    return q, max(1, int(raw))


def autocomplete_v1(item: str):
    q, minimum = _autocomplete_query()
    manifest, entries = _entries(item)
    search_base = search_url(manifest["id"], 1)
    document: dict = {
        "@context": SEARCH1_CONTEXT,
        "@id": _url(autocomplete_url(manifest["id"], 1)),
        "@type": "search:TermList",
    }
    ignored = ignored_parameters()
    if ignored:
        document["ignored"] = ignored
    document["terms"] = [{"match": form, "url": _term_url(search_base, form), "count": total}
                         for form, total in completions(entries, q, minimum)]
    return json_ld_response(document, SEARCH1_CONTEXT, MAX_AGE)


def autocomplete_v2(item: str):
    q, minimum = _autocomplete_query()
    manifest, entries = _entries(item)
    document: dict = {
        "@context": SEARCH2_CONTEXT,
        "id": _url(autocomplete_url(manifest["id"], 2)),
        "type": "TermPage",
    }
    ignored = ignored_parameters()
    if ignored:
        document["ignored"] = ignored
    document["items"] = [{"value": form, "total": total}
                         for form, total in completions(entries, q, minimum)]
    return json_ld_response(document, SEARCH2_CONTEXT, MAX_AGE)


def _term_url(search_base: str, term: str) -> str:
    params = [("q", term)]
    if request.args.get("motivation"):
        params.append(("motivation", request.args["motivation"]))
    return f"{search_base}?{urlencode(params)}"


# --------------------------------------------------------------------------- Collections


@dataclass(frozen=True)
class SliceFilters(Filters):
    """What a slice of a level holds (hierarchy.py): only the items directly in its
    node, of one year (or the undated), and for a run, those between its first and
    last item in the stable order (by id)."""

    undated: bool = False
    first_item: str | None = None
    last_item: str | None = None

    def where(self) -> tuple[str, list]:
        clauses, values = super().where()
        clauses += " AND i.node = ?"
        values = [*values, self.node or ""]
        if self.undated:
            clauses += " AND i.year IS NULL"
        if self.first_item is not None:
            clauses += " AND i.item BETWEEN ? AND ?"
            values += [self.first_item, self.last_item]
        return clauses, values


@dataclass(frozen=True)
class Scope:
    """A Collection a search was asked of: its id and what of the index it holds."""

    id: str
    filters: Filters


def _catalogue() -> Catalogue:
    return current_app.extensions["beeldpost.catalogue"]


def collection_scope(segments: list[str]) -> Scope:
    """The Collection at /iiif/collection/{segments} (none: the top), or NotFound."""
    catalogue = _catalogue()
    parsed = hierarchy.parse_segments(segments) if segments else ([], hierarchy.Slice())
    unknown = NotFound(f"no collection {'/'.join(segments)!r}; /iiif/collection lists them.")
    if parsed is None:
        raise unknown
    path, part = "/".join(parsed[0]), parsed[1]
    if path and catalogue.node(path) is None:
        raise unknown
    own = Urls(base_url()).collection_part(path, part)
    if part == hierarchy.Slice():
        return Scope(own, Filters(node=path or None))
    level = catalogue.level(path, part)
    if level is None:
        raise unknown
    year = {} if part.year is hierarchy.ALL or part.year is None else \
        {"year_from": part.year, "year_to": part.year}
    bounds = {}
    if part.first is not None:
        first = last = level
        while not first.items and first.slices:  # a run of runs: its first and last run
            first = catalogue.level(path, first.slices[0])
        while not last.items and last.slices:
            last = catalogue.level(path, last.slices[-1])
        if not first.items or not last.items:
            raise unknown
        bounds = {"first_item": first.items[0].item, "last_item": last.items[-1].item}
    return Scope(own, SliceFilters(node=path or None, undated=part.year is None, **year,
                                   **bounds))


def _collection_terms() -> list[Term]:
    """The terms of q, which a Collection's search needs: without them it would answer
    every annotation of every item below it."""
    q = request.args.get("q", "")
    if not q.strip():
        raise BadRequest("a Collection's search needs q, the words to find: ?q=wijkpost")
    if len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"q is at most {MAX_QUERY_CHARS} characters, got {len(q)}.")
    return parse_query(q)


def index_query(terms: list[Term]) -> str:
    """What the index is asked for: the items holding every term, and, when none is a
    prefix, holding them as the phrase the annotations are then searched for."""
    words = [term.norm + ("*" if term.prefix else "") for term in terms]
    if len(terms) > 1 and not any(term.prefix for term in terms):
        return '"' + " ".join(words) + '"'
    return " ".join(words)


def _part_number() -> int | str:
    raw = request.args.get("part", "1")
    if raw == LAST:
        return LAST
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"part must be a whole number from 1 or {LAST!r}, not {raw!r}.")
    return int(raw)


def _collection_url(base: str, page: int = 1, part: int | str = 1) -> str:
    """A page of a Collection's search: its q and motivation, `page` and `part`."""
    params = [(name, request.args[name]) for name in ("q", "motivation") if name in request.args]
    if page > 1 or part != 1:
        params.append(("page", str(page)))
    if part != 1:
        params.append(("part", str(part)))
    return f"{base}?{urlencode(params)}" if params else base


def _page_link(base: str, page: int, part: int | str) -> dict:
    return {"id": _collection_url(base, page, part), "type": "AnnotationPage"}


def collection_search_v2(segments: str | None = None):
    from ..presentation.routes import manifest_document

    scope = collection_scope(segments.split("/") if segments else [])
    terms = _collection_terms()
    size, page, asked_part = _page_size(), _page_number(), _part_number()
    total, found = 0, []
    if terms:  # (a query of punctuation alone matches nothing)
        total, found = _catalogue().search(index_query(terms),
                                           (page - 1) * COLLECTION_ITEMS_PER_PAGE,
                                           COLLECTION_ITEMS_PER_PAGE, scope.filters)
    pages = max(1, -(-total // COLLECTION_ITEMS_PER_PAGE))
    if page > pages:
        raise NotFound(f"there are {pages} page(s) of results; there is no page {page}.")

    keep = motivation_filter(request.args.get("motivation"))
    matched: list[tuple[Entry, dict]] = []  # each annotation once, with its manifest
    hits: list[Hit] = []
    for item in (hit.item for hit in found):
        try:
            _record, manifest = manifest_document(item)
        except BeeldpostError as error:  # broken or gone since the index was read
            log.warning("left out of a collection search: %s: %s", item, error.message)
            continue
        manifest_ref = {"id": manifest["id"], "type": "Manifest", "label": manifest["label"]}
        found_in_item = find([entry for entry in index(manifest) if keep(entry)], terms)
        seen: set[str] = set()
        for hit in found_in_item:
            if hit.entry.id not in seen:
                seen.add(hit.entry.id)
                matched.append((hit.entry, manifest_ref))
        hits.extend(found_in_item)

    parts = max(1, -(-len(matched) // size))
    part = parts if asked_part == LAST else asked_part
    if part > parts:
        raise NotFound(f"page {page} has {parts} part(s); there is no part {part}.")
    shown = matched[(part - 1) * size: part * size]
    base = search_url(scope.id, 2)
    paging: dict = {}
    if pages > 1 or parts > 1:
        paging["partOf"] = {
            "id": _collection_url(base),
            "type": "AnnotationCollection",
            "first": _page_link(base, 1, 1),
            "last": _page_link(base, pages, LAST),
        }
        if part < parts:
            paging["next"] = _page_link(base, page, part + 1)
        elif page < pages:
            paging["next"] = _page_link(base, page + 1, 1)
        if part > 1:
            paging["prev"] = _page_link(base, page, part - 1)
        elif page > 1:
            paging["prev"] = _page_link(base, page - 1, LAST)
    items = [{**entry.annotation, "partOf": [manifest_ref]} for entry, manifest_ref in shown]
    document = _annotation_page(_collection_url(base, page, part), paging, items,
                                _highlighted(hits, (entry for entry, _ref in shown)))
    return json_ld_response(document, SEARCH2_CONTEXT, MAX_AGE)


def collection_autocomplete_v2(segments: str | None = None):
    """Words that begin with the last word of q, from the index's vocabulary, in the
    items below the Collection (and holding the words before it, when there are any)."""
    q, minimum = _autocomplete_query()
    scope = collection_scope(segments.split("/") if segments else [])
    words = list(WORD.finditer(q))
    typed, found = "", []
    if words:
        last = words[-1]
        typed = q[:last.start()].replace("*", " ").strip()
        earlier = parse_query(typed)
        found = _catalogue().completions(normalise(last.group()), scope.filters,
                                         index_query(earlier) if earlier else None, minimum,
                                         AUTOCOMPLETE_TERMS)
    document: dict = {
        "@context": SEARCH2_CONTEXT,
        "id": _url(autocomplete_url(scope.id, 2)),
        "type": "TermPage",
    }
    ignored = ignored_parameters() + (["motivation"] if "motivation" in request.args else [])
    if ignored:
        document["ignored"] = ignored
    document["items"] = [{"value": f"{typed} {word}".lstrip(), "total": total}
                         for word, total in found]
    return json_ld_response(document, SEARCH2_CONTEXT, MAX_AGE)


# --------------------------------------------------------------------------- HTTP


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("search", __name__)

    @blueprint.before_request
    def _label():
        g.route = "search"

    blueprint.add_url_rule("/iiif/manifests/<item>/search", "search_v1", search_v1)
    blueprint.add_url_rule("/iiif/manifests/<item>/search2", "search_v2", search_v2)
    blueprint.add_url_rule("/iiif/manifests/<item>/autocomplete", "autocomplete_v1",
                           autocomplete_v1)
    blueprint.add_url_rule("/iiif/manifests/<item>/autocomplete2", "autocomplete_v2",
                           autocomplete_v2)
    # Beside /iiif/collection/<path:segments> (presentation/routes.py): the router
    # prefers these, whose last segment is fixed, for a path ending in search2.
    for rule in ("/iiif/collection", "/iiif/collection/<path:segments>"):
        blueprint.add_url_rule(f"{rule}/search2", "collection_search_v2", collection_search_v2)
        blueprint.add_url_rule(f"{rule}/autocomplete2", "collection_autocomplete_v2",
                               collection_autocomplete_v2)
    return blueprint
