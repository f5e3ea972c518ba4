"""Bulk import of an archive's CSV export into item records: one YAML record per row.

Collection management systems (Memorix, Axiell, Atlantis, …) export their objects as
CSV. An export is read as it comes (the delimiter sniffed from the header: `,`, `;` or
tab; UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252; quoted newlines),
its columns are matched to record fields by their Dutch or English names or by a
mapping file, and each row becomes a record, checked by parse_record (the checks of
`beeldpost check`). manifests/README.md documents the columns and the rules.

Each record is then compared with what the records folder holds: created, updated,
unchanged, kept (edited or written by hand) or, when asked, deleted. An imported
file starts with a header naming the export and row and the SHA-256 of the body
below it; a body that no longer matches was edited by hand, a file without the
header was written by hand, and neither is overwritten unless asked. Writes are
atomic (a temporary file in the same folder, fsync, os.replace); an unchanged file is
never touched, so Change Discovery sees no Update.

Rows are numbered as a spreadsheet numbers them: the header is row 1. Every problem
names the row, the column and what is wrong; a row with a problem is not written.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import io
import json
import logging
import os
import re
import stat
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

from ..image.sources import SOURCE_EXTENSIONS, DuplicateSource, SourceCatalog
from ..storage.places import process_running
from .tiers import ALLOWED as ALLOWED_TIERS
from .tiers import tier_named
from .records import (
    DATE,
    LANGUAGE_TAG,
    RECORD_SUFFIX,
    REQUIRED_LANGUAGES,
    RIGHTS_URI,
    BrokenRecord,
    parse_record,
)

log = logging.getLogger(__name__)

# progress(phase, done, total): "checking" each row, then "writing" each record
Progress = Callable[[str, int, int], None]

DELIMITERS = (";", ",", "\t")
REPEAT = "|"  # separates repeated values in one cell
LEVEL = ">"  # separates the levels of a `collectie` cell, top down
DEFAULT_LANGUAGE = "nl"
LANGUAGE_NAMES = {"nl": "Dutch", "en": "English"}
# Language suffixes of column names (`titel_nl`, `Title (EN)`) and words in a `taal` column.
LANGUAGE_WORDS = {"nl": "nl", "ned": "nl", "nederlands": "nl", "dutch": "nl",
                  "en": "en", "eng": "en", "engels": "en", "english": "en"}
MAX_ID_LENGTH = 200  # ids become file names; most file systems stop at 255 bytes

# --------------------------------------------------------------------------- the columns

# Fields whose values are texts per language; every other field reads the same in all.
TEXT_FIELDS = ("label", "summary", "description", "subject", "credit", "rights_label", "terms")
# Fields a mapping file may name; archive, fonds and series are levels of `collection`.
FIELDS = ("id", "image", "language", "label", "summary", "description", "date",
          "photographer", "source", "place", "subject", "collection", "archive", "fonds",
          "series", "credit", "rights", "rights_label", "links", "max_size", "access",
          "restricted_until", "terms")
LEVEL_FIELDS = ("archive", "fonds", "series")  # in this order, top down
IGNORE = "ignore"

# The column names every export is understood by, compared after normalise().
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "identificatie", "identificatienummer", "identifier", "objectnummer",
           "objectnr", "objectnumber", "inventarisnummer", "inventarisnr", "invnr",
           "inventorynumber", "catalogusnummer", "catalognumber"),
    "image": ("bestandsnaam", "bestand", "file", "filename", "afbeelding", "image", "scan"),
    "language": ("taal", "language"),
    "label": ("titel", "title"),
    "summary": ("bijschrift", "caption", "samenvatting", "summary"),
    "description": ("beschrijving", "description", "omschrijving"),
    "date": ("datering", "datum", "date", "jaar", "year"),
    "photographer": ("fotograaf", "photographer", "vervaardiger", "maker", "creator"),
    "source": ("bron", "source"),
    "place": ("plaats", "place", "plaatsnaam", "locatie", "location"),
    "subject": ("onderwerp", "onderwerpen", "subject", "subjects", "trefwoord",
                "trefwoorden", "keywords"),
    "collection": ("collectie", "collection"),
    "archive": ("archief", "archive"),
    "fonds": ("fonds",),
    "series": ("serie", "series", "reeks"),
    "credit": ("credit", "creditline", "creditregel", "naamsvermelding"),
    "rights": ("rechten", "rights", "rechtenstatus", "licentie", "license", "licence",
               "auteursrecht", "copyright"),
    "rights_label": ("rightslabel",),
    "links": ("link", "links", "url", "weblink", "website"),
    "max_size": ("maxsize",),
    # Who may see the full scan (catalogue/tiers.py), and until when only staff.
    "access": ("toegang", "toegankelijkheid", "openbaarheid", "access", "accesstier"),
    "restricted_until": ("openbaarvanaf", "beperkttot", "openbaarheidsbeperkingtot",
                         "gesloten tot", "restricteduntil", "closeduntil"),
    "terms": ("voorwaarden", "gebruiksvoorwaarden", "terms", "termsofuse"),
}


def normalise(name: str) -> str:
    """A column name as compared: lower case, without accents, spaces or punctuation."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.casefold())


KNOWN_COLUMNS = {normalise(name): target for target, names in COLUMN_NAMES.items()
                 for name in names}


@dataclass(frozen=True)
class Target:
    """A record field a column fills, and for a text the language it is in (None: the row's)."""

    field: str
    language: str | None = None

    def __str__(self) -> str:
        return f"{self.field}.{self.language}" if self.language else self.field


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Issue:
    """A problem (the row is not imported) or a note, naming row and column."""

    file: str  # the export's (or mapping file's) name
    row: int | None  # as a spreadsheet numbers it (the header is row 1); None: the whole file
    column: str | None  # the export's column, or the record field
    message: str

    def __str__(self) -> str:
        where = [self.file] + ([f"row {self.row}"] if self.row else []) \
            + ([self.column] if self.column else [])
        return f"{': '.join(where)}: {self.message}"


class ExportError(Exception):
    """An export (or mapping file) that cannot be imported at all: nothing is written."""

    def __init__(self, problems: list[Issue]):
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in problems))


class Refused(Exception):
    """One value that cannot become part of a record; its message says why."""


# --------------------------------------------------------------------------- reading the export


@dataclass(frozen=True)
class Export:
    name: str  # the file's name, as record headers name it
    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]  # (row number, cells); empty rows left out
    encoding: str
    delimiter: str


def read_export(path: Path) -> Export:
    """The export at `path`, or ExportError when it cannot be read as CSV."""
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise ExportError([Issue(name, None, None, f"cannot be read: {error.strerror}")]) from None
    text, encoding = decode_export(raw, name)
    delimiter = sniff_delimiter(text)
    rows = _csv_rows(text, delimiter, name)
    while rows and not any(rows[0][1]):  # blank lines before the header
        rows.pop(0)
    if not rows:
        raise ExportError([Issue(name, None, None, "is empty: the first row must name "
                                                   "the columns")])
    (_number, header), body = rows[0], rows[1:]
    return Export(name, header, tuple((number, cells) for number, cells in body if any(cells)),
                  encoding, delimiter)


def decode_export(raw: bytes, name: str) -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8 (with or without BOM), UTF-16 with a
    BOM (Excel's "Unicode text"), else Windows-1252 (what Excel writes on Windows)."""
    if raw.startswith(codecs.BOM_UTF8):
        return _decode(raw[len(codecs.BOM_UTF8):], "utf-8", "UTF-8 with BOM", name)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(raw, "utf-16", "UTF-16", name)
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return _decode(raw, "cp1252", "Windows-1252", name)


def _decode(raw: bytes, codec: str, label: str, name: str) -> tuple[str, str]:
    try:
        return raw.decode(codec), label
    except UnicodeDecodeError as error:
        what = "neither UTF-8 nor Windows-1252" if codec == "cp1252" else f"not {label}"
        raise ExportError([Issue(name, None, None, f"is {what} text (byte {error.start} "
                                                   "cannot be read)")]) from None


def sniff_delimiter(text: str) -> str:
    """`;`, `,` or tab: whichever the header line holds most of, outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for character in text.lstrip("\r\n"):
        if character == '"':
            quoted = not quoted
        elif not quoted and character in "\r\n":
            break
        elif not quoted and character in counts:
            counts[character] += 1
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _csv_rows(text: str, delimiter: str, name: str) -> list[tuple[int, tuple[str, ...]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for number, cells in enumerate(reader, start=1):
            rows.append((number, tuple(_clean(cell) for cell in cells)))
    except csv.Error as error:
        raise ExportError([Issue(name, None, None, f"is not valid CSV near line "
                                                   f"{reader.line_num}: {error}")]) from None
    return rows


def _clean(cell: str) -> str:
    """Line breaks as \\n, composed characters (NFC), no surrounding spaces."""
    text = cell.replace("\r\n", "\n").replace("\r", "\n").strip()
    return unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------- the mapping file


def read_mapping(path: Path) -> dict[str, str]:
    """A mapping file: column name → record field (`label.nl`) or `ignore`."""
    name = Path(path).name
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except OSError as error:
        raise ExportError([Issue(name, None, None, f"cannot be read: {error.strerror}")]) from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ExportError([Issue(name, None, None, f"is not a YAML file: {error}")]) from None
    if not isinstance(data, dict):
        raise ExportError([Issue(name, None, None, "expected lines like `\"Titel (NL)\": "
                                                   "label.nl`, one for each column")])
    mapping, problems = {}, []
    for column, target in data.items():
        target = IGNORE if target is None else str(target).strip()
        try:
            parse_target(target)
        except Refused as error:
            problems.append(Issue(name, None, str(column), str(error)))
            continue
        mapping[str(column)] = target
    if problems:
        raise ExportError(problems)
    return mapping


def parse_target(text: str) -> Target | None:
    """`label.nl`, `date`, … as a Target; None for `ignore`; Refused for anything else."""
    if text == IGNORE:
        return None
    base, _, language = text.partition(".")
    if base not in FIELDS:
        raise Refused(f"{text!r} is not a record field (fields: {', '.join(FIELDS)}, "
                      f"or {IGNORE})")
    if language and base not in TEXT_FIELDS:
        raise Refused(f"{base} reads the same in every language; map to {base}, not {text}")
    if language and language not in REQUIRED_LANGUAGES:
        raise Refused(f"{language!r} is not one of the languages "
                      f"{', '.join(REQUIRED_LANGUAGES)}")
    return Target(base, language or None)


# --------------------------------------------------------------------------- matching the columns


@dataclass(frozen=True)
class Columns:
    names: tuple[str, ...]  # the header, as given
    targets: dict[int, Target]  # column index → what it fills
    unknown: tuple[int, ...]  # columns nothing matched (ignored)
    unused_mapping: tuple[str, ...]  # mapping lines that name no column

    def name(self, target: Target) -> str | None:
        """The column that fills `target`; for a text without a language, one of its columns."""
        for index, known in self.targets.items():
            if known == target:
                return self.names[index]
        if target.language is None:
            return next((self.names[index] for index, known in self.targets.items()
                         if known.field == target.field), None)
        return None

    def has(self, field: str) -> bool:
        return any(target.field == field for target in self.targets.values())


def map_columns(names: Sequence[str], mapping: dict[str, str], file: str) -> Columns:
    """Which column fills which field: the mapping file first, then the known names.

    Two columns for the same field, or an export without an id, title or rights
    column, is an ExportError: nothing would come out right."""
    by_key = {normalise(column): target for column, target in mapping.items()}
    targets: dict[int, Target] = {}
    unknown, used = [], set()
    for index, column in enumerate(names):
        key = normalise(column)
        if key in by_key:
            used.add(key)
            target = parse_target(by_key[key])
            if target is not None:
                targets[index] = target
        elif column:
            target = _known_target(column)
            if target is None:
                unknown.append(index)
            else:
                targets[index] = target
        else:
            unknown.append(index)  # unnamed: reported only when a row fills it
    _check_columns(names, targets, file)
    unused = tuple(column for column in mapping if normalise(column) not in used)
    return Columns(tuple(names), targets, tuple(unknown), unused)


def _known_target(column: str) -> Target | None:
    """`Titel` → label; `titel_en`, `Title (NL)` → label in that language."""
    whole = KNOWN_COLUMNS.get(normalise(column))
    if whole is not None:
        return Target(whole)
    words = re.findall(r"[^\W_]+", column)
    if len(words) < 2 or words[-1].casefold() not in LANGUAGE_WORDS:
        return None
    base = KNOWN_COLUMNS.get(normalise("".join(words[:-1])))
    if base not in TEXT_FIELDS:
        return None
    return Target(base, LANGUAGE_WORDS[words[-1].casefold()])


def _check_columns(names: Sequence[str], targets: dict[int, Target], file: str) -> None:
    problems = []
    seen: dict[Target, int] = {}
    for index, target in targets.items():
        if target in seen:
            problems.append(Issue(file, None, "columns", (
                f"{names[seen[target]]!r} (column {seen[target] + 1}) and {names[index]!r} "
                f"(column {index + 1}) both give {target}; map one of them to another field "
                f"or to {IGNORE} in a mapping file (--mapping)")))
        seen.setdefault(target, index)
    fields = {target.field for target in targets.values()}
    if "collection" in fields and fields & set(LEVEL_FIELDS):
        problems.append(Issue(file, None, "columns", (
            "give the hierarchy either as one collection column (levels separated by ' > ') "
            "or as archive, fonds and series columns, not both")))
    if not fields & {"credit", "photographer", "source"}:
        problems.append(Issue(file, None, "columns", (
            "no column gives a credit line or what makes one: a credit (naamsvermelding), "
            "photographer (fotograaf) or source (bron) column")))
    for required, names_hint in (("id", "id, identificatie, objectnummer, inventarisnummer"),
                                 ("label", "titel, title, titel_nl"),
                                 ("rights", "rechten, rights")):
        if required not in fields:
            problems.append(Issue(file, None, "columns", (
                f"no column gives the {required} of a record (a column named e.g. "
                f"{names_hint}, or one mapped to {required} in a mapping file)")))
    if problems:
        raise ExportError(problems)


# --------------------------------------------------------------------------- a row's values


class _Row:
    """One row's cells by the field they fill, and what turning them into a record found."""

    def __init__(self, file: str, number: int, cells: Sequence[str], columns: Columns):
        self.file = file
        self.number = number
        self.columns = columns
        self.values = {target: cells[index] for index, target in columns.targets.items()
                       if index < len(cells) and cells[index]}
        self.problems: list[Issue] = []
        self.fallbacks: list[str] = []  # "label.en": filled from another language
        self.used: dict[str, list[str]] = {}  # record field → the columns it came from
        if len(cells) > len(columns.names) and any(cells[len(columns.names):]):
            self.problem(None, f"has {len(cells)} cells, the header names "
                               f"{len(columns.names)} columns")

    def value(self, field: str, language: str | None = None) -> str | None:
        target = Target(field, language)
        value = self.values.get(target)
        if value is not None:
            self.used.setdefault(field, []).append(self.column(field, language))
        return value

    def column(self, field: str, language: str | None = None) -> str:
        """The export's column that fills the field, for messages (or the field itself)."""
        return self.columns.name(Target(field, language)) or field

    def problem(self, column: str | None, message: str) -> None:
        self.problems.append(Issue(self.file, self.number, column, message))

    def read(self, field: str, convert: Callable[[str], Any]) -> Any:
        """The field's value converted, or None (the problem noted) when it cannot be."""
        value = self.value(field)
        if value is None:
            return None
        try:
            return convert(value)
        except Refused as error:
            self.problem(self.column(field), str(error))
            return None


def split_repeated(value: str) -> list[str]:
    """`a | b|c` → ["a", "b", "c"]: several values in one cell."""
    return [part.strip() for part in value.split(REPEAT) if part.strip()]


def joined(value: str) -> str:
    """Several values (subjects, names) joined as a record shows them: "a, b, c"."""
    return ", ".join(split_repeated(value))


# --------------------------------------------------------------------------- one value each


def item_id(value: str) -> str:
    """An export's identifier as an item id: lower case, other characters as `-`
    (`BL F 12/3` → `bl-f-12-3`), as it appears in URLs and file names."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().casefold()
    item = re.sub(r"[^a-z0-9._-]+", "-", plain).strip("-._")
    if not item:
        raise Refused(f"{value!r} holds no letter or digit to make an id of")
    if len(item) > MAX_ID_LENGTH:
        raise Refused(f"{value!r} is longer than {MAX_ID_LENGTH} characters")
    return item


def image_identifier(value: str) -> str:
    """A file name (or a path, as some exports give it) as an image identifier: its stem."""
    if REPEAT in value:
        raise Refused(f"{value!r} names several files; a record shows one image")
    name = re.split(r"[\\/]", value)[-1].strip()
    stem, extension = os.path.splitext(name)
    identifier = stem if extension.lower() in SOURCE_EXTENSIONS else name
    if not identifier:
        raise Refused(f"{value!r} names no file")
    return identifier


DUTCH_DATE = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{4})$")


def iso_date(value: str) -> str:
    """`1999`, `1999-05-12`, or the Dutch `12-05-1999` / `12-5-1999` → `1999-05-12`."""
    dutch = DUTCH_DATE.match(value)
    text = f"{dutch[3]}-{int(dutch[2]):02}-{int(dutch[1]):02}" if dutch else value
    if not DATE.match(text):
        raise Refused(f"{value!r} is not a date: give a year (1999) or a day "
                      "(1999-05-12 or 12-05-1999)")
    if len(text) > 4:
        try:
            datetime.date.fromisoformat(text)
        except ValueError:
            raise Refused(f"{value!r} is not a real date") from None
    return text


def language_code(value: str) -> str:
    """`nl`, or `Nederlands`, `Dutch`, … as `nl`: the language of the row's texts."""
    code = LANGUAGE_WORDS.get(value.casefold(), value)
    if not LANGUAGE_TAG.match(code):
        raise Refused(f"{value!r} is not a language code such as nl, en or fy")
    return code


def access_tier(value: str) -> str:
    """A tier in English or Dutch (`studiezaal`, `reading room`) as the record names it."""
    tier = tier_named(value)
    if tier is None:
        raise Refused(f"{value!r} is not an access tier; give one of {ALLOWED_TIERS}")
    return tier.value


def closure_day(value: str) -> str:
    """The day a closure ends: a year (2049: its first day) or a day (2049-01-01, 1-1-2049)."""
    day = iso_date(value)
    return f"{day}-01-01" if len(day) == 4 else day


def positive_number(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise Refused(f"{value!r} is not a positive whole number")
    return int(value)


# --------------------------------------------------------------------------- rights


RIGHTS_STATEMENTS = "http://rightsstatements.org/vocab/{}/1.0/"
CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
PDM = "http://creativecommons.org/publicdomain/mark/1.0/"
# The rights URIs with their words, {nl, en}: the record's rights_label.
RIGHTS_LABELS = {
    RIGHTS_STATEMENTS.format("InC"): ("Alle rechten voorbehouden", "All rights reserved"),
    RIGHTS_STATEMENTS.format("InC-EDU"): (
        "Auteursrechtelijk beschermd, gebruik voor onderwijs toegestaan",
        "In copyright, educational use permitted"),
    RIGHTS_STATEMENTS.format("InC-OW-EU"): ("Verweesd werk", "In copyright, EU orphan work"),
    RIGHTS_STATEMENTS.format("InC-RUU"): (
        "Auteursrechtelijk beschermd, rechthebbende onbekend",
        "In copyright, rights-holder unlocatable or unidentifiable"),
    RIGHTS_STATEMENTS.format("NKC"): ("Geen bekende auteursrechten", "No known copyright"),
    RIGHTS_STATEMENTS.format("CNE"): ("Auteursrecht niet vastgesteld", "Copyright not evaluated"),
    RIGHTS_STATEMENTS.format("UND"): ("Auteursrecht onbepaald", "Copyright undetermined"),
    CC0: ("Publiek domein (CC0)", "Public domain (CC0)"),
    PDM: ("Publiek domein (Public Domain Mark)", "Public domain (Public Domain Mark)"),
}
# Rights in words, compared after normalise().
RIGHTS_WORDS = {
    normalise(words): uri for uri, names in {
        RIGHTS_STATEMENTS.format("InC"): ("Alle rechten voorbehouden", "All rights reserved",
                                          "In copyright", "Auteursrechtelijk beschermd"),
        RIGHTS_STATEMENTS.format("InC-EDU"): ("In copyright - educational use permitted",),
        RIGHTS_STATEMENTS.format("InC-OW-EU"): ("Verweesd werk", "Orphan work",
                                                "In copyright - EU orphan work"),
        RIGHTS_STATEMENTS.format("InC-RUU"): (
            "Rechthebbende onbekend",
            "In copyright - rights-holder(s) unlocatable or unidentifiable"),
        RIGHTS_STATEMENTS.format("NKC"): ("Geen bekende auteursrechten", "No known copyright"),
        RIGHTS_STATEMENTS.format("CNE"): ("Auteursrecht niet vastgesteld",
                                          "Copyright not evaluated"),
        RIGHTS_STATEMENTS.format("UND"): ("Auteursrecht onbepaald", "Copyright undetermined"),
        CC0: ("CC0", "CC0 1.0", "CC zero", "Publiek domein", "Public domain",
              "Publiek domein (CC0)", "Public domain (CC0)"),
        PDM: ("Public Domain Mark", "Public Domain Mark 1.0", "PDM", "Publiek domein merk"),
    }.items() for words in names
}
CC_LICENCE = re.compile(r"^cc[\s-]*by((?:[\s-]+(?:nc|sa|nd))*)(?:[\s-]+(\d\.\d))?"
                        r"(?:\s+(?:international|internationaal))?$")


def rights_uri(value: str) -> str:
    """A rights URI, or rights in words. A URI copied from a browser is taken in its
    http form: https, a licence's `deed.nl` page, a statement's `/page/…?language=nl`."""
    if re.match(r"^https?://", value, re.I):
        uri = re.sub(r"^https?://", "http://", value.strip(), flags=re.I)
        uri = re.sub(r"^(http://rightsstatements\.org/)page/([^?#]*)([?#].*)?$", r"\1vocab/\2", uri)
        uri = re.sub(r"(/deed\.[a-z-]+|/legalcode(\.[a-z-]+)?)$", "/", uri)
        uri = uri if uri.endswith("/") else uri + "/"
        if RIGHTS_URI.match(uri):
            return uri
    elif normalise(value) in RIGHTS_WORDS:
        return RIGHTS_WORDS[normalise(value)]
    else:
        licence = CC_LICENCE.match(value.casefold().strip())
        if licence:
            return _cc_licence(value, licence[1], licence[2])
    raise Refused(f"{value!r} is not a rights statement: give a RightsStatements.org or "
                  "Creative Commons URI (http://rightsstatements.org/vocab/InC/1.0/) or "
                  "words such as 'Alle rechten voorbehouden', 'CC0', 'Publiek domein' or "
                  "'CC BY 4.0' (manifests/README.md lists them)")


def _cc_licence(value: str, modifiers: str, version: str | None) -> str:
    parts = set(re.findall(r"nc|sa|nd", modifiers))
    if {"sa", "nd"} <= parts:
        raise Refused(f"{value!r} is no Creative Commons licence (SA and ND exclude each other)")
    if version is None:
        raise Refused(f"{value!r} has no version: give it, e.g. 'CC BY 4.0'")
    name = "-".join(["by"] + [part for part in ("nc", "sa", "nd") if part in parts])
    return f"http://creativecommons.org/licenses/{name}/{version}/"


def rights_label(uri: str) -> dict[str, str] | None:
    """The rights in words, {nl, en}: known words for a known URI, a licence's name
    (`CC BY-SA 4.0`) for a Creative Commons one, else none."""
    if uri in RIGHTS_LABELS:
        nl, en = RIGHTS_LABELS[uri]
        return {"nl": nl, "en": en}
    licence = re.match(r"^http://creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)/", uri)
    if licence:
        name = f"CC {licence[1].upper()} {licence[2]}"
        return {"nl": name, "en": name}
    return None


# --------------------------------------------------------------------------- texts


def texts(row: _Row, field: str, language: str,
          convert: Callable[[str], str] = lambda value: value) -> dict[str, str] | None:
    """A text in every required language: its columns (untagged ones are in the row's
    language), a missing language filled with the text in another (a note, not a problem)."""
    given = {}
    untagged = row.value(field)
    if untagged:
        given[language] = convert(untagged)
    for tagged in REQUIRED_LANGUAGES:
        value = row.value(field, tagged)
        if value:
            given[tagged] = convert(value)
    given = {key: value for key, value in given.items() if value}
    if not given:
        return None
    return complete(row, field, given, language)


def complete(row: _Row, field: str, given: dict[str, str], language: str) -> dict[str, str]:
    """Every required language present, the required ones first (nl, en, then others)."""
    for required in REQUIRED_LANGUAGES:
        if required not in given:
            given[required] = given.get(language) or next(iter(given.values()))
            row.fallbacks.append(f"{field}.{required}")
    ordered = {required: given[required] for required in REQUIRED_LANGUAGES}
    ordered.update(sorted((key, value) for key, value in given.items() if key not in ordered))
    return ordered


def credit_line(photographer: str | None, source: str | None) -> dict[str, str] | None:
    """"foto X, bron Y" / "photo X, source Y", as the first item's record has it."""
    words = {"nl": ("foto", "bron"), "en": ("photo", "source")}
    if not photographer and not source:
        return None
    return {language: ", ".join(part for part in (
        photographer and f"{photo} {photographer}", source and f"{from_} {source}") if part)
        for language, (photo, from_) in words.items()}


def hierarchy(row: _Row) -> list[str] | None:
    """The levels, top down: one `collectie` cell `A > B > C`, or archive, fonds, series."""
    path = row.value("collection")
    if path is not None:
        levels = [level.strip() for level in path.split(LEVEL)]
        if not all(levels):
            row.problem(row.column("collection"), f"{path!r} has an empty level (levels are "
                                                  "separated by ' > ', top down)")
            return None
        return levels
    given = {level: row.value(level) for level in LEVEL_FIELDS}
    given = {level: value for level, value in given.items() if value}
    row.used["collection"] = [row.column(level) for level in given]
    return list(given.values()) or None


def links(value: str) -> list[dict]:
    """Web pages, `|` between them; each shown under its own address."""
    return [{"url": url, "label": {"nl": url, "en": url}} for url in split_repeated(value)]


# --------------------------------------------------------------------------- a row's record


@dataclass
class Draft:
    """One row turned into a record: its YAML body (checked), or the problems that stop it."""

    row: int
    item: str | None
    body: bytes | None
    problems: list[Issue]
    fallbacks: list[str]


def draft_record(row: _Row, catalog: SourceCatalog, folder: Path) -> Draft:
    item = row.read("id", item_id)
    if item is None and row.value("id") is None:
        row.problem(row.column("id"), "is empty: every record needs an id")
    data = record_data(row, item, catalog)
    body = None
    if item is not None and not row.problems:
        body = record_yaml(data).encode("utf-8")
        _check_record(row, folder / f"{item}{RECORD_SUFFIX}", body)
    return Draft(row.number, item, None if row.problems else body, row.problems, row.fallbacks)


def record_data(row: _Row, item: str | None, catalog: SourceCatalog) -> dict[str, Any]:
    """The record's fields, in the order the hand-written records have them."""
    language = row.read("language", language_code) or DEFAULT_LANGUAGE
    label = texts(row, "label", language)
    if label is None:
        row.problem(row.column("label"), "is empty: every record needs a title")
    description = texts(row, "description", language)
    caption = texts(row, "summary", language)
    photographer = row.read("photographer", joined)
    source = row.read("source", joined)
    rights = row.read("rights", rights_uri)
    data: dict[str, Any] = {
        "id": item,
        "image": _image(row, item, catalog),
        "language": language,
        "label": label,
        # Without a caption the description is the caption, and not said twice.
        "summary": caption or description or label,
        "description": description if caption else None,
        "date": row.read("date", iso_date),
        "photographer": photographer,
        "source": source,
        "place": row.read("place", joined),
        "subject": texts(row, "subject", language, joined),
        "collection": _Levels(levels) if (levels := hierarchy(row)) else None,
        "credit": _credit(row, language, photographer, source),
        "rights": rights,
        "rights_label": texts(row, "rights_label", language)
        or (rights and rights_label(rights)),
        "links": row.read("links", links) or None,
        "max_size": row.read("max_size", positive_number),
        "access": row.read("access", access_tier),
        "restricted_until": row.read("restricted_until", closure_day),
        "terms": texts(row, "terms", language),
    }
    return {key: value for key, value in data.items() if value is not None}


def _image(row: _Row, item: str | None, catalog: SourceCatalog) -> str | None:
    """The image named by the file column, or, without one, the image named like the id."""
    identifier = row.read("image", image_identifier)
    if identifier is None and row.value("image"):
        return None  # refused above
    identifier = identifier or item
    if identifier is None:
        return None
    try:
        found = catalog.lookup(identifier)
    except DuplicateSource as error:
        row.problem(row.column("image"), error.message)
        return None
    if found is None:
        given, where = row.value("image"), images_place(catalog)
        if given:
            message = f"{given!r}: no image {identifier!r} in {where}"
        elif row.columns.has("image"):
            message = f"is empty, and no image in {where} is named like the id " \
                      f"{identifier!r}"
        else:
            message = f"no image in {where} is named like the id {identifier!r} " \
                      "(the export has no file column, such as bestandsnaam)"
        hint = _near(identifier, catalog)
        row.problem(row.column("image"), message + (f" (did you mean {hint!r}?)" if hint else ""))
        return None
    return identifier


def images_place(catalog: SourceCatalog) -> str:
    """Where the import looked for images, as a problem names it: the folder or the
    bucket (BEELDPOST_IMAGES; in a cluster, the watcher's)."""
    if catalog.remote:
        return f"the images bucket {catalog.images_dir} (BEELDPOST_IMAGES)"
    return f"the images folder {catalog.images_dir} (BEELDPOST_IMAGES)"


def _near(identifier: str, catalog: SourceCatalog) -> str | None:
    """An image whose identifier differs only in case, for the problem's message."""
    folded = identifier.casefold()
    return next((known for known in catalog.identifiers() if known.casefold() == folded), None)


def _credit(row: _Row, language: str, photographer: str | None,
            source: str | None) -> dict[str, str] | None:
    credit = texts(row, "credit", language) or credit_line(photographer, source)
    if credit is None:
        row.problem(row.column("credit"), "no credit line: give a credit (naamsvermelding) "
                                          "column, or a photographer (fotograaf) or source "
                                          "(bron) to make one of")
    return credit


def _check_record(row: _Row, path: Path, body: bytes) -> None:
    """The checks of `beeldpost check`; each problem named by the column it came from."""
    try:
        parse_record(path, body.decode("utf-8"))
    except BrokenRecord as error:
        for problem in error.problems:
            top = re.split(r"[.\[]", problem.field, maxsplit=1)[0]
            columns = row.used.get(top)
            where = f"{', '.join(dict.fromkeys(columns))} ({problem.field})" if columns \
                else problem.field
            row.problem(where, problem.message)


# --------------------------------------------------------------------------- the record as YAML


class _Levels(list):
    """The hierarchy: written on one line, `collection: [Archief, Fonds, Serie]`."""


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Safe YAML (on libyaml where PyYAML has it); texts of several lines as `|` blocks;
    a text used twice (the title as the caption) written out twice, not as an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value,
                                   style="|" if "\n" in value else None)


def _represent_levels(dumper: yaml.SafeDumper, value: _Levels) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(value), flow_style=True)


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(_Levels, _represent_levels)


def record_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=88,
                     default_flow_style=False)


# --------------------------------------------------------------------------- the header


HEADER_NOTE = (b"# Imported by `beeldpost import`; changed by hand, it is kept (the import "
               b"reports it, not overwrites it).\n")
HEADER_LINE = re.compile(rb"^# import: (\{.*\})$")


@dataclass(frozen=True)
class Header:
    """What an imported file says of itself: the export, the row, the hash of its body."""

    file: str
    row: int
    sha256: str


def with_header(body: bytes, export: str, row: int) -> bytes:
    facts = {"file": export, "row": row, "sha256": hashlib.sha256(body).hexdigest()}
    return HEADER_NOTE + b"# import: " + json.dumps(facts, ensure_ascii=False).encode() \
        + b"\n" + body


def split_header(content: bytes) -> tuple[Header | None, bytes]:
    """The header (None for a file written by hand) and the body below it."""
    lines = content.split(b"\n", 2)
    for index in range(min(2, len(lines) - 1)):
        match = HEADER_LINE.match(lines[index])
        header = _header(match[1]) if match else None
        if header is not None:
            return header, b"\n".join(lines[index + 1:])
    return None, content


def _header(text: bytes) -> Header | None:
    try:
        facts = json.loads(text)
        header = Header(facts["file"], facts["row"], facts["sha256"])
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(header.file, str) and isinstance(header.row, int)
            and isinstance(header.sha256, str)):
        return None
    return header


@dataclass(frozen=True)
class OnDisk:
    """A record file as the folder holds it."""

    content: bytes
    header: Header | None
    body: bytes

    @classmethod
    def of(cls, content: bytes) -> "OnDisk":
        return cls(content, *split_header(content))

    @property
    def by_hand(self) -> bool:
        return self.header is None

    @property
    def edited(self) -> bool:
        """Imported, then changed by hand: the body no longer has the hash the header gives."""
        if self.header is None:
            return False
        return hashlib.sha256(self.body).hexdigest() != self.header.sha256


def records_on_disk(folder: Path) -> dict[str, OnDisk]:
    """Every record file of the folder (a flat folder of `{id}.yaml`), by item."""
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    found = {}
    for name in names:
        if name.endswith(RECORD_SUFFIX) and not name.startswith("."):
            try:
                found[name[: -len(RECORD_SUFFIX)]] = OnDisk.of((folder / name).read_bytes())
            except OSError:
                continue  # removed while we looked, or not a file
    return found


# --------------------------------------------------------------------------- the plan


CREATE, UPDATE, UNCHANGED, KEPT, DELETE, GONE, FAILED = (
    "create", "update", "unchanged", "kept", "delete", "gone", "failed")


@dataclass
class Change:
    """What the import does (or, in a dry run, would do) with one record file."""

    item: str
    row: int | None
    action: str
    content: bytes | None = None  # what is written, for CREATE and UPDATE
    reason: str = ""


@dataclass
class Plan:
    export: str
    folder: Path
    changes: list[Change] = field(default_factory=list)
    problems: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def rows_with_problems(self) -> list[int]:
        return sorted({problem.row for problem in self.problems if problem.row})


def plan_import(export: Export, columns: Columns, folder: Path, catalog: SourceCatalog, *,
                overwrite_edited: bool = False, delete_missing: bool = False,
                progress: Progress | None = None) -> Plan:
    """What importing `export` into `folder` does, without writing anything."""
    plan = Plan(export.name, Path(folder))
    plan.notes.extend(column_notes(export, columns))
    drafts = []
    for done, (number, cells) in enumerate(export.rows, start=1):
        drafts.append(draft_record(_Row(export.name, number, cells, columns), catalog, folder))
        if progress:
            progress("checking", done, len(export.rows))
    refuse_duplicates(drafts, export.name)
    plan.notes.extend(fallback_notes(drafts, columns, export.name))
    on_disk = records_on_disk(Path(folder))
    for draft in drafts:
        plan.problems.extend(draft.problems)
        if draft.body is not None:
            plan.changes.append(decide(draft, on_disk.get(draft.item), export.name,
                                       overwrite_edited))
    in_export = {draft.item for draft in drafts if draft.item}
    plan.changes.extend(missing(on_disk, in_export, export.name, delete_missing,
                                overwrite_edited))
    return plan


def column_notes(export: Export, columns: Columns) -> list[Issue]:
    notes = []
    unknown = [columns.names[index] or f"(column {index + 1}, no name)"
               for index in columns.unknown
               if columns.names[index] or any(index < len(cells) and cells[index]
                                              for _number, cells in export.rows)]
    if unknown:
        notes.append(Issue(export.name, None, "columns", (
            f"not known, left out: {', '.join(repr(name) for name in unknown)} "
            "(a mapping file, --mapping, can name the field each one gives)")))
    for column in columns.unused_mapping:
        notes.append(Issue(export.name, None, "mapping", f"{column!r} names no column of "
                                                         "this export"))
    return notes


def refuse_duplicates(drafts: list[Draft], file: str) -> None:
    """Rows sharing an id are all refused, each naming the others: none is picked."""
    rows_of: dict[str, list[int]] = {}
    for draft in drafts:
        if draft.item:
            rows_of.setdefault(draft.item, []).append(draft.row)
    for draft in drafts:
        others = [row for row in rows_of.get(draft.item, ()) if row != draft.row]
        if others:
            draft.problems.append(Issue(file, draft.row, "id", (
                f"{draft.item!r} is also the id of row {', '.join(map(str, others))}; "
                "neither is imported")))
            draft.body = None


def fallback_notes(drafts: list[Draft], columns: Columns, file: str) -> list[Issue]:
    """One note per text and language filled from another language, with its rows."""
    rows: dict[str, list[int]] = {}
    for draft in drafts:
        if draft.body is not None:
            for where in draft.fallbacks:
                rows.setdefault(where, []).append(draft.row)
    notes = []
    for where, numbers in rows.items():
        name, language = where.split(".")
        shown = ", ".join(map(str, numbers[:5])) + (f" and {len(numbers) - 5} more"
                                                    if len(numbers) > 5 else "")
        column = columns.name(Target(name))
        notes.append(Issue(file, None, f"{column} ({where})" if column else where, (
            f"no {LANGUAGE_NAMES.get(language, language)} text in {len(numbers)} "
            f"row{'s' if len(numbers) > 1 else ''} ({shown}); the text in the other "
            "language is used")))
    return notes


def decide(draft: Draft, on_disk: OnDisk | None, export: str, overwrite_edited: bool) -> Change:
    """Create, update, leave alone, or keep a record changed by hand."""
    item, body = draft.item, draft.body
    content = with_header(body, export, draft.row)
    if on_disk is None:
        return Change(item, draft.row, CREATE, content)
    if on_disk.body == body:  # the same record (a moved row alone touches nothing)
        return Change(item, draft.row, UNCHANGED)
    if on_disk.by_hand or on_disk.edited:
        how = "was written by hand" if on_disk.by_hand else \
            f"was edited by hand since it was imported from row {on_disk.header.row} of " \
            f"{on_disk.header.file}"
        if overwrite_edited:
            return Change(item, draft.row, UPDATE, content, f"{how}; overwritten")
        return Change(item, draft.row, KEPT, reason=f"{how}; not overwritten "
                                                    "(--overwrite-edited overwrites it)")
    return Change(item, draft.row, UPDATE, content)


def missing(on_disk: dict[str, OnDisk], in_export: set[str], export: str,
            delete_missing: bool, overwrite_edited: bool) -> Iterable[Change]:
    """Records this export made earlier whose ids it no longer has."""
    for item, record in sorted(on_disk.items()):
        if item in in_export or record.header is None or record.header.file != export:
            continue
        if not delete_missing:
            yield Change(item, None, GONE, reason="is no longer in the export; left alone "
                                                  "(--delete-missing deletes it)")
        elif record.edited and not overwrite_edited:
            yield Change(item, None, KEPT, reason="is no longer in the export but was edited "
                                                  "by hand; not deleted (--overwrite-edited "
                                                  "deletes it)")
        else:
            yield Change(item, None, DELETE)


# --------------------------------------------------------------------------- applying it


def apply_plan(plan: Plan, progress: Progress | None = None) -> None:
    """Write and delete what the plan says; a failure is a problem of its row, the rest go on.
    First, the temporary files an import killed mid-write left are removed."""
    remove_leftovers(plan.folder)
    todo = [change for change in plan.changes if change.action in (CREATE, UPDATE, DELETE)]
    if todo:
        plan.folder.mkdir(parents=True, exist_ok=True)
    for done, change in enumerate(todo, start=1):
        path = plan.folder / f"{change.item}{RECORD_SUFFIX}"
        try:
            if change.action == DELETE:
                path.unlink()
            else:
                write_atomically(path, change.content)
        except OSError as error:
            verb = "deleted" if change.action == DELETE else "written"
            plan.problems.append(Issue(plan.export, change.row, None, (
                f"{path.name} could not be {verb}: {error.strerror or error}; "
                "the file is as it was")))
            change.action, change.reason = FAILED, f"could not be {verb}"
        if progress:
            progress("writing", done, len(todo))
    if todo:
        _sync_folder(plan.folder)


def write_atomically(path: Path, content: bytes) -> None:
    """The file holds the old content or the new, never a mix; no temporary file is left.

    A temporary file in the same folder (a dot name RecordStore never lists), fsync,
    os.replace: a crash or a failure at any point leaves the old file as it was."""
    mode = _mode_for(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


# A temporary file of write_atomically: `.{name}.yaml.{pid}-{random}.tmp` (before the
# writer's process id was in the name: `.{name}.yaml.{random}.tmp`).
_TEMPORARY = re.compile(r"\.(?P<name>.+\.yaml)\.(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+\.tmp")
# A temporary file older than this is left over whoever wrote it (a write takes
# milliseconds; a process id seen here may be another machine's, on a shared folder).
LEFTOVER_SECONDS = 600.0


def remove_leftovers(folder: Path) -> list[str]:
    """Remove the temporary files of writes that never finished (an import killed
    mid-write): those of a process that is gone, and any older than LEFTOVER_SECONDS.
    What a running import is writing is left alone. The names removed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    now = time.time()
    for name in names:
        found = _TEMPORARY.fullmatch(name)
        if found is None:
            continue
        path = folder / name
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        if age < LEFTOVER_SECONDS and _being_written(found["pid"], age):
            continue
        try:
            path.unlink()
            removed.append(name)
        except OSError:
            pass
    if removed:
        log.warning("removed %d temporary file(s) left by an import that did not finish "
                    "in %s", len(removed), folder)
    return removed


def _being_written(pid: str | None, age: float) -> bool:
    """Whether a young temporary file may still be written: its process runs (or, for
    a name without one, it is less than a minute old)."""
    return age < 60 if pid is None else int(pid) != os.getpid() and process_running(int(pid))


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or a new file's as the umask gives them
    (mkstemp makes files only their owner can read; the server may run as another user)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """The renames themselves on disk."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # not every file system syncs folders
    finally:
        os.close(descriptor)


# --------------------------------------------------------------------------- the report


def report(plan: Plan) -> list[str]:
    """Every problem, kept record and note, one line each (after apply_plan, or as a dry run)."""
    lines = [str(problem) for problem in plan.problems]
    for change in plan.changes:
        if change.action in (KEPT, GONE):
            where = f"row {change.row}: " if change.row else ""
            lines.append(f"{change.action}: {plan.export}: {where}"
                         f"{change.item}{RECORD_SUFFIX} {change.reason}")
        elif change.reason and change.action == UPDATE:
            lines.append(f"overwritten: {plan.export}: row {change.row}: "
                         f"{change.item}{RECORD_SUFFIX} {change.reason}")
    lines.extend(f"note: {note}" for note in plan.notes)
    return lines


def summary(plan: Plan, applied: bool) -> str:
    """One line: how many records were (or would be) created, updated, … and the bad rows."""
    counts = [(plan.count(CREATE), "created", "create"), (plan.count(UPDATE), "updated", "update"),
              (plan.count(UNCHANGED), "unchanged", "leave unchanged"),
              (plan.count(KEPT), "kept (changed by hand)", "keep (changed by hand)"),
              (plan.count(DELETE), "deleted", "delete")]
    if applied:
        parts = [f"{count} {done}" for count, done, _would in counts]
        parts.append(f"{plan.count(FAILED)} failed")
        text = f"{plan.export}: records {', '.join(parts)}"
    else:
        text = f"{plan.export}: dry run, nothing written (--apply writes): would " + \
            ", ".join(f"{would} {count}" for count, _done, would in counts)
    rows = plan.rows_with_problems()
    if rows:
        shown = ", ".join(map(str, rows[:20])) + (" …" if len(rows) > 20 else "")
        text += f"; {len(rows)} row{'s' if len(rows) > 1 else ''} with problems, " \
                f"not imported: {shown}"
    elif any(problem.row is None for problem in plan.problems):
        text += "; problems, see above"
    return text
