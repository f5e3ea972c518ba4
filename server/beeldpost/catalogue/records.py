"""Item records: one human-edited YAML file per item in the manifests folder.

A record holds everything an item's manifest says (see manifests/README.md for
the fields). Records are checked when they are read, and every problem names the
file, the field and what is wrong, so an archivist can fix it without reading
code. A broken record only takes its own item offline: the store answers for
every other record as usual.

Records are read again whenever their file (or their transcript file) changes,
so an edit is served without a restart; unchanged records come from a cache
keyed on each file's mtime, size and inode.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import yaml

from ..errors import BeeldpostError, NotFound
from . import tiers
from .tiers import Tier, closed_until, tier_named
from ..image.sources import walk_files

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".yaml"
# Item ids appear verbatim in URLs, so they are kept to characters that need no escaping.
ITEM_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
# Every text shown to people is given in these languages (viewers pick one of them).
REQUIRED_LANGUAGES = ("nl", "en")
# The only rights URIs IIIF Presentation 3 allows, in the http form aggregators require.
RIGHTS_URI = re.compile(
    r"^http://(rightsstatements\.org/vocab/[A-Za-z-]+/1\.0/"
    r"|creativecommons\.org/licenses/[a-z-]+/\d\.\d/([a-z]{2}/)?"
    r"|creativecommons\.org/publicdomain/(zero|mark)/1\.0/)$"
)
DATE = re.compile(r"^(\d{4})(-(\d{2})-(\d{2}))?$")
# `collection:` as a list names the item's place in the archive, from the top down
# (archive, fonds, series, …); at most this many levels.
MAX_COLLECTION_LEVELS = 8

# field name -> required?  (order is the order problems are reported in)
TOP_LEVEL_FIELDS = {
    "id": True, "image": True, "language": True, "label": True, "summary": True,
    "date": False, "photographer": False, "source": False, "description": False,
    "place": False, "subject": False, "collection": False,
    "credit": True, "rights": True, "rights_label": False, "provider": False,
    "people": False, "transcript": False, "links": False, "max_size": False,
    "max_width": False, "max_height": False, "max_area": False,
    "access": False, "restricted_until": False, "terms": False,
}


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Text:
    """One text in several languages, e.g. {"nl": "…", "en": "…"}; one value per language."""

    entries: tuple[tuple[str, str], ...]

    def __getitem__(self, language: str) -> str:
        return dict(self.entries)[language]

    def language_map(self) -> dict[str, list[str]]:
        """The IIIF form: {"nl": ["…"], "en": ["…"]}."""
        return {language: [value] for language, value in self.entries}

    @classmethod
    def same_in_all(cls, value: str) -> "Text":
        """A name, which reads the same in every language."""
        return cls(tuple((language, value) for language in REQUIRED_LANGUAGES))


@dataclass(frozen=True)
class Person:
    name: str
    position: Text | None
    xywh: tuple[int, int, int, int]  # the person's figure, in full-size image pixels


@dataclass(frozen=True)
class Provider:
    id: str
    label: Text
    homepage: str | None


@dataclass(frozen=True)
class Link:
    url: str
    label: Text


@dataclass(frozen=True)
class Transcript:
    file: str
    title: Text
    citation: Text
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    item: str
    file: str  # the record's file name, for messages
    image: str
    language: str  # language of the original texts: caption, transcript, tags
    label: Text
    summary: Text
    credit: Text
    rights: str
    date: str | None = None  # as given: "1999" or "1999-05-12"
    photographer: str | None = None
    source: str | None = None
    description: Text | None = None
    place: str | None = None
    subject: Text | None = None
    # As a label {nl, en}, or, for `collection:` given as a list of levels, those
    # names joined with ", " (the same in both languages); `hierarchy` keeps the list.
    collection: Text | None = None
    rights_label: Text | None = None
    provider: Provider | None = None
    people: tuple[Person, ...] = ()
    transcript: Transcript | None = None
    links: tuple[Link, ...] = ()
    # The public image service of this item: the long edge it may show (a rights-aware
    # cap, e.g. 1600 for "all rights reserved"), and Image API limits of its own.
    max_size: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = None
    hierarchy: tuple[str, ...] = ()  # the archive's levels, top down, when given as a list
    # Who may see the full scan (tiers.py): the tier, the day a closure ends (staff only
    # until then), and the terms a clickthrough item shows (else the server's).
    access: Tier = Tier.OPEN
    restricted_until: datetime.date | None = None
    terms: Text | None = None

    @property
    def nav_date(self) -> str | None:
        """navDate needs a full timestamp with a time zone; a year means its first day."""
        if self.date is None:
            return None
        day = self.date if len(self.date) > 4 else f"{self.date}-01-01"
        return f"{day}T00:00:00Z"


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class BrokenRecord(BeeldpostError):
    """An item whose record cannot be served until someone fixes it.

    Like a broken source image (SourceError) it gets its own status, not a 404:
    the item exists, its record does not hold up, and its keepers should see why.
    """

    status = 422
    title = "Unprocessable Record"

    def __init__(self, problems: list[Problem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in problems))


# --------------------------------------------------------------------------- YAML


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML that refuses a key given twice (PyYAML silently keeps the last one).

    On libyaml's parser where PyYAML has it: about ten times faster than the pure
    Python one (4 ms a record), with the same line and column in its errors."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def _yaml_problem(error: yaml.YAMLError) -> tuple[str, str]:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    what = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    return where, f"not valid YAML: {what}" + (f" ({context})" if context else "")


# --------------------------------------------------------------------------- checking


class _Checker:
    """Reads one record's fields, collecting every problem instead of stopping at the first."""

    def __init__(self, file: str, folder: Path, transcript: str | None = None,
                 text: str = ""):
        self.file = file
        self.folder = folder
        self.transcript = transcript  # the transcript's text, when given rather than read
        self.record_text = text  # the record's, for the line a problem is on
        self.problems: list[Problem] = []

    def at_line(self, key: str) -> str:
        """A top-level field with the line it is on: `access (line 17)`."""
        found = re.search(rf"^{re.escape(key)}\s*:", self.record_text, re.M)
        if found is None:
            return key
        return f"{key} (line {self.record_text.count(chr(10), 0, found.start()) + 1})"

    def tier(self, value: Any, where: str) -> Tier | None:
        name = self.string(value, self.at_line(where))
        if name is None:
            return None
        tier = tier_named(name)
        if tier is None:
            self.problem(self.at_line(where), f"{name!r} is not an access tier; give one of "
                                              f"{tiers.ALLOWED}")
        return tier

    def closure(self, value: Any, where: str) -> datetime.date | None:
        day = None if isinstance(value, bool) else closed_until(value)
        if day is None:
            self.problem(self.at_line(where), f"{value!r} is not a date (2049-01-01) or a "
                                              "year (2049)")
        return day

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, where, message))

    def string(self, value: Any, where: str) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problem(where, f"expected text, got {_describe(value)}")
            return None
        text = str(value).strip()
        if not text:
            self.problem(where, "is empty")
            return None
        return text

    def text(self, value: Any, where: str) -> Text | None:
        """A language map: {nl: "…", en: "…"}, every required language present."""
        if not isinstance(value, dict):
            self.problem(where, f"expected texts per language like {{nl: …, en: …}}, "
                                f"got {_describe(value)}")
            return None
        entries = []
        for language, text in value.items():
            if not isinstance(language, str) or not LANGUAGE_TAG.match(language):
                self.problem(f"{where}.{language}", "is not a language code like nl or en")
                continue
            checked = self.string(text, f"{where}.{language}")
            if checked is not None:
                entries.append((language, checked))
        missing = [language for language in REQUIRED_LANGUAGES if language not in value]
        for language in missing:
            self.problem(f"{where}.{language}", "is missing (give every text in "
                                                f"{' and '.join(REQUIRED_LANGUAGES)})")
        if missing or len(entries) != len(value):
            return None
        # Required languages first, in a fixed order, so the output does not depend on YAML order.
        order = {language: rank for rank, language in enumerate(REQUIRED_LANGUAGES)}
        entries.sort(key=lambda entry: (order.get(entry[0], len(order)), entry[0]))
        return Text(tuple(entries))

    def url(self, value: Any, where: str) -> str | None:
        text = self.string(value, where)
        if text is None:
            return None
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
            self.problem(where, f"{text!r} is not an http(s) URL")
            return None
        return text

    def rights(self, value: Any, where: str) -> str | None:
        text = self.string(value, where)
        if text is None:
            return None
        if RIGHTS_URI.match(text):
            return text
        if RIGHTS_URI.match("http://" + text.removeprefix("https://")):
            self.problem(where, f"{text!r} must use http://, not https:// "
                                "(IIIF and aggregators such as Europeana require the http form)")
        else:
            self.problem(where, f"{text!r} is not a RightsStatements.org or Creative Commons "
                                "URI, e.g. http://rightsstatements.org/vocab/InC/1.0/")
        return None

    def date(self, value: Any, where: str) -> str | None:
        if isinstance(value, datetime.date):  # YAML reads 1999-05-12 as a date
            value = value.isoformat()
        text = self.string(value, where)
        if text is None:
            return None
        match = DATE.match(text)
        if match is None:
            self.problem(where, f"{text!r} is not a year (1999) or a date (1999-05-12)")
            return None
        if match.group(2):
            try:
                datetime.date.fromisoformat(text)
            except ValueError:
                self.problem(where, f"{text!r} is not a real date")
                return None
        return text

    def positive_int(self, value: Any, where: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.problem(where, f"expected a positive whole number, got {_describe(value)}")
            return None
        return value

    def xywh(self, value: Any, where: str) -> tuple[int, int, int, int] | None:
        if (not isinstance(value, list) or len(value) != 4
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
            self.problem(where, f"expected [x, y, width, height] in whole pixels, "
                                f"got {_describe(value)}")
            return None
        x, y, w, h = value
        if x < 0 or y < 0 or w <= 0 or h <= 0:
            self.problem(where, f"{value} needs x, y ≥ 0 and width, height > 0")
            return None
        return x, y, w, h

    def mapping(self, value: Any, where: str, known: dict[str, bool]) -> dict | None:
        if not isinstance(value, dict):
            self.problem(where or "(record)",
                         f"expected fields {', '.join(known)}, got {_describe(value)}")
            return None
        for key in value:
            if key not in known:
                self.problem(f"{where}.{key}" if where else str(key),
                             f"unknown field (known: {', '.join(known)})")
        for key, required in known.items():
            if required and value.get(key) is None:
                self.problem(f"{where}.{key}" if where else key, "is missing")
        return value

    def field(self, values: dict, where: str, key: str, read: Callable[[Any, str], Any]) -> Any:
        """values[key] read by `read`, or None when absent (mapping() reports a missing one)."""
        value = values.get(key)
        return None if value is None else read(value, f"{where}.{key}" if where else key)

    def items(self, value: Any, where: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, f"expected a list, got {_describe(value)}")
            return []
        return value


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"yes/no ({value})"
    if isinstance(value, dict):
        return "a group of fields"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"{type(value).__name__} {value!r}"


def parse_record(path: Path, text: str, file: str | None = None,
                 transcript: str | None = None) -> Record:
    """The record in `text` (the contents of `path`, named `file` in messages: its path
    in the records folder), or BrokenRecord listing every problem. `transcript` is its
    transcript file's text when it is known already (a server with no records folder
    builds from the catalogue index, which holds both texts as published)."""
    file = file or path.name
    check = _Checker(file, path.parent, transcript, text)
    try:
        data = _read_yaml(text)
    except yaml.YAMLError as error:
        raise BrokenRecord([Problem(file, *_yaml_problem(error))]) from None
    if check.mapping(data, "", TOP_LEVEL_FIELDS) is None:
        raise BrokenRecord(check.problems)

    def optional(name: str, read: Callable[[Any, str], Any]) -> Any:
        return check.field(data, "", name, read)

    item = optional("id", check.string)
    if item is not None and item != path.stem:
        check.problem("id", f"{item!r} must equal the file name without {RECORD_SUFFIX} "
                            f"({path.stem!r}): the item's URLs are made from it")
    if not ITEM_ID.match(path.stem):
        check.problem("id", f"the file name {path.stem!r} may only hold a-z, 0-9, '.', '_' "
                            "and '-' (it becomes part of URLs)")
    language = optional("language", check.string)
    if language is not None and not LANGUAGE_TAG.match(language):
        check.problem("language", f"{language!r} is not a language code like nl")
    values = dict(
        item=path.stem,
        file=file,
        image=optional("image", check.string),
        language=language,
        label=optional("label", check.text),
        summary=optional("summary", check.text),
        credit=optional("credit", check.text),
        rights=optional("rights", check.rights),
        date=optional("date", check.date),
        photographer=optional("photographer", check.string),
        source=optional("source", check.string),
        description=optional("description", check.text),
        place=optional("place", check.string),
        subject=optional("subject", check.text),
        collection=_collection(check, data.get("collection")),  # (label, levels): split below
        rights_label=optional("rights_label", check.text),
        provider=optional("provider", lambda value, where: _provider(check, value, where)),
        people=tuple(_people(check, data.get("people"))),
        transcript=optional("transcript", lambda value, where: _transcript(check, value, where)),
        links=tuple(_links(check, data.get("links"))),
        max_size=optional("max_size", check.positive_int),
        max_width=optional("max_width", check.positive_int),
        max_height=optional("max_height", check.positive_int),
        max_area=optional("max_area", check.positive_int),
        restricted_until=optional("restricted_until", check.closure),
        terms=optional("terms", check.text),
    )
    values["collection"], values["hierarchy"] = values["collection"]
    values["access"] = _access(check, data.get("access"), values)
    summary = values["summary"]
    if language and summary and language not in dict(summary.entries):
        check.problem("language", f"the summary has no text in {language!r}, the language "
                                  "of the caption")
    if check.problems:
        raise BrokenRecord(check.problems)
    return Record(**values)


def _access(check: _Checker, value: Any, values: dict) -> Tier:
    """The tier (tiers.py): as given, else `capped` when the record caps its image."""
    tier = check.tier(value, "access") if value is not None else None
    if tier is None:
        return Tier.CAPPED if value is None and values["max_size"] else Tier.OPEN
    if tier is Tier.OPEN and values["max_size"]:
        check.problem(check.at_line("access"), "open gives everyone the full scan, but "
                      "max_size caps it: leave out one of them (a capped image is "
                      "access: capped, which staff and the reading room see in full)")
    if tier is Tier.CAPPED and not values["max_size"]:
        check.problem(check.at_line("access"), "capped needs max_size: the long edge, in "
                      "pixels, of the image everyone may see")
    if values["terms"] is not None and tier is not Tier.CLICKTHROUGH:
        check.problem(check.at_line("terms"), "terms are shown only for access: "
                      "clickthrough (voorwaarden)")
    return tier


def _collection(check: _Checker, value: Any) -> tuple[Text | None, tuple[str, ...]]:
    """`collection:` as a label {nl, en}, or as a list of level names from the top down.

    A list's names are the label in both languages, joined with ", ", so manifests
    show a Collection entry either way."""
    if value is None:
        return None, ()
    if isinstance(value, dict):
        return check.text(value, "collection"), ()
    if not isinstance(value, list):
        check.problem("collection", "expected texts per language like {nl: …, en: …} or a "
                                    "list of levels from the top down like [Archief, Fonds, "
                                    f"Serie], got {_describe(value)}")
        return None, ()
    if not 1 <= len(value) <= MAX_COLLECTION_LEVELS:
        check.problem("collection", f"expected 1 to {MAX_COLLECTION_LEVELS} levels from the "
                                    f"top down, got {_describe(value)}")
        return None, ()
    levels = [check.string(level, f"collection[{index + 1}]") for index, level in enumerate(value)]
    if None in levels:
        return None, ()
    return Text.same_in_all(", ".join(levels)), tuple(levels)


def _provider(check: _Checker, value: Any, where: str) -> Provider | None:
    if check.mapping(value, where, {"id": True, "label": True, "homepage": False}) is None:
        return None
    provider_id = check.field(value, where, "id", check.url)
    label = check.field(value, where, "label", check.text)
    homepage = check.field(value, where, "homepage", check.url)
    if homepage and provider_id and homepage.rstrip("/") == provider_id.rstrip("/"):
        # IIIF ids must be unique in a manifest; an organisation is not its web page.
        check.problem(f"{where}.id", "must differ from provider.homepage (use an "
                                     "authority URI for the organisation)")
    if provider_id and label:
        return Provider(provider_id, label, homepage)
    return None


def _people(check: _Checker, value: Any) -> Iterable[Person]:
    for index, entry in enumerate(check.items(value, "people")):
        where = f"people[{index + 1}]"
        if check.mapping(entry, where, {"name": True, "position": False, "xywh": True}) is None:
            continue
        name = check.field(entry, where, "name", check.string)
        position = check.field(entry, where, "position", check.text)
        xywh = check.field(entry, where, "xywh", check.xywh)
        if name and xywh:
            yield Person(name, position, xywh)


def _links(check: _Checker, value: Any) -> Iterable[Link]:
    for index, entry in enumerate(check.items(value, "links")):
        where = f"links[{index + 1}]"
        if check.mapping(entry, where, {"url": True, "label": True}) is None:
            continue
        url = check.field(entry, where, "url", check.url)
        label = check.field(entry, where, "label", check.text)
        if url and label:
            yield Link(url, label)


def _transcript(check: _Checker, value: Any, where: str) -> Transcript | None:
    known = {"file": True, "title": True, "citation": True}
    if check.mapping(value, where, known) is None:
        return None
    title = check.field(value, where, "title", check.text)
    citation = check.field(value, where, "citation", check.text)
    name = check.field(value, where, "file", check.string)
    if name is None:
        return None
    if "/" in name or "\\" in name or name.startswith("."):
        check.problem(f"{where}.file", f"{name!r} must be a file name in the manifests folder, "
                                        "not a path")
        return None
    try:
        raw = (check.transcript.encode("utf-8") if check.transcript is not None
               else (check.folder / name).read_bytes())
    except OSError as error:
        check.problem(f"{where}.file", f"{name!r} cannot be read: {error.strerror}")
        return None
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        check.problem(f"{where}.file", f"{name!r} is not UTF-8 text (byte {error.start})")
        return None
    paragraphs = split_paragraphs(body)
    if not paragraphs:
        check.problem(f"{where}.file", f"{name!r} holds no text")
        return None
    if title and citation:
        return Transcript(name, title, citation, paragraphs)
    return None


def split_paragraphs(text: str) -> tuple[str, ...]:
    """Paragraphs are separated by blank lines; line breaks inside one are wrapping only."""
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").lstrip("\ufeff"))
    return tuple(" ".join(line.strip() for line in block.strip().splitlines())
                 for block in blocks if block.strip())


def check_image(record: Record, width: int, height: int) -> list[Problem]:
    """The problems of `record` that only its image can show: regions outside it."""
    problems = []
    for index, person in enumerate(record.people):
        x, y, w, h = person.xywh
        if x + w > width or y + h > height:
            problems.append(Problem(
                record.file, f"people[{index + 1}].xywh",
                f"{list(person.xywh)} reaches outside the {width}×{height} image "
                f"{record.image!r}",
            ))
    return problems


# --------------------------------------------------------------------------- the store

# identifier -> (width, height); raises BeeldpostError when the image is unknown or unreadable
ImageSize = Callable[[str], tuple[int, int]]

_Stamp = tuple[tuple[str, int, int, int] | None, ...]


@dataclass
class _Cached:
    stamp: _Stamp
    result: Record | BrokenRecord


@dataclass
class RecordStore:
    folder: Path
    image_size: ImageSize
    # item -> the files (relative to the folder) holding a record with that id: the
    # catalogue's index in the server; None walks the folder (commands, tools).
    locate: Callable[[str], list[str]] | None = None
    _cache: dict[str, _Cached] = field(default_factory=dict)
    # Parsed records kept by file stamp: the items being looked at, not the archive
    # (100,000 parsed records would be most of a worker's memory).
    CACHED_RECORDS = 2000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def walk(self) -> dict[str, str]:
        """relative path (with /) -> item of every record file in the folder and below.
        For the catalogue's scan and commands: requests never list a folder."""
        if not self.folder.is_dir():
            return {}
        return walk_files(self.folder, lambda name: name.endswith(RECORD_SUFFIX))

    def items(self) -> list[str]:
        """Every item that has a record file, valid or not, sorted."""
        return sorted(set(self.walk().values()))

    def files_of(self, item: str) -> list[str]:
        if self.locate is not None:
            return self.locate(item)
        return sorted(path for path, found in self.walk().items() if found == item)

    def load(self, item: str) -> Record:
        """The checked record of `item`; NotFound or BrokenRecord otherwise.

        Its file is looked up (the catalogue's index in the server), then read, or
        taken from the cache while its stamp is the same: never a listing of the folder.
        """
        if not ITEM_ID.match(item):
            raise NotFound(f"no item {item!r}; the collection at /iiif/collection lists them all.")
        files = self.files_of(item)
        if len(files) > 1:
            raise BrokenRecord([Problem(" and ".join(files), "id",
                                        f"two records have the id {item!r}; both are refused "
                                        "until one is renamed or removed")])
        if not files:
            raise NotFound(f"no item {item!r}; the collection at /iiif/collection lists them all.")
        return self._checked(self.folder / files[0], files[0])

    def load_all(self) -> tuple[list[Record], list[BrokenRecord]]:
        """Every record, checked: one walk of the folder, then each file once (commands)."""
        by_item: dict[str, list[str]] = {}
        for path, item in self.walk().items():
            by_item.setdefault(item, []).append(path)
        records, broken = [], []
        for item in sorted(by_item):
            files = sorted(by_item[item])
            try:
                if len(files) > 1:
                    raise BrokenRecord([Problem(" and ".join(files), "id",
                                                f"two records have the id {item!r}; both are "
                                                "refused until one is renamed or removed")])
                records.append(self._checked(self.folder / files[0], files[0]))
            except BrokenRecord as error:
                broken.append(error)
            except NotFound:  # removed while we were reading
                continue
        return records, broken

    def _checked(self, path: Path, file: str) -> Record:
        """The parsed record at `path` (`file` in the folder), checked against its image."""
        try:
            is_file = path.is_file()
        except OSError:  # a name too long for the file system, for one
            is_file = False
        if not is_file:
            raise NotFound(f"no item {path.stem!r}; the collection at /iiif/collection lists them all.")
        record = self._parsed(path, file)
        # Checked on every load, not cached: an image can change without its record changing.
        problems = self._image_problems(record)
        if problems:
            raise BrokenRecord(problems)
        return record

    def _image_problems(self, record: Record) -> list[Problem]:
        try:
            width, height = self.image_size(record.image)
        except BeeldpostError as error:
            return [Problem(record.file, "image", error.message)]
        return check_image(record, width, height)

    def _parsed(self, path: Path, file: str) -> Record:
        key = str(path)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached.stamp == self._stamp(path, cached.result):
            result = cached.result
        else:
            before = _file_stamp(path)
            result = self._read(path, file)
            stamp = self._stamp(path, result)
            if stamp[0] == before:  # not cached if the file changed while it was read
                with self._lock:
                    if len(self._cache) >= self.CACHED_RECORDS:  # a crawler reads them all
                        del self._cache[next(iter(self._cache))]  # the longest kept first
                    self._cache[key] = _Cached(stamp, result)
            if isinstance(result, BrokenRecord):
                log.warning("broken record: %s", result.message)
        if isinstance(result, BrokenRecord):
            raise result
        return result

    def _read(self, path: Path, file: str) -> Record | BrokenRecord:
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise NotFound(f"no item {path.stem!r}.") from None
        except (OSError, UnicodeDecodeError) as error:
            return BrokenRecord([Problem(file, "(file)", f"cannot be read as UTF-8: {error}")])
        try:
            return parse_record(path, text, file)
        except BrokenRecord as error:
            return error

    def _stamp(self, path: Path, result: Record | BrokenRecord) -> _Stamp:
        """The record file's and its transcript file's identity, as the cache key."""
        paths = [path]
        transcript = _transcript_name(path, result)
        if transcript:
            paths.append(path.parent / transcript)
        return tuple(_file_stamp(p) for p in paths)


def _transcript_name(path: Path, result: Record | BrokenRecord) -> str | None:
    if isinstance(result, Record):
        return result.transcript.file if result.transcript else None
    # A broken record may be broken *because* of its transcript: watch that file too.
    try:
        data = _read_yaml(path.read_text("utf-8"))
        name = data["transcript"]["file"]
    except Exception:  # noqa: BLE001 - any unreadable shape just means "no transcript to watch"
        return None
    return name if isinstance(name, str) and "/" not in name else None


def _file_stamp(path: Path) -> tuple[str, int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino
