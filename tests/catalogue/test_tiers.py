"""Access tiers in records (catalogue/tiers.py, records.py): named in English or Dutch,
checked with the file, the line and the allowed values; a closure until a date holds
until that day, and on that day the item opens by itself, journalled as an Update."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from beeldpost.catalogue import index
from beeldpost.catalogue import journal as journal_module
from beeldpost.catalogue.journal import Journal
from beeldpost.catalogue.records import BrokenRecord, RecordStore, parse_record
from beeldpost.catalogue.tiers import Tier, effective, tier_named
from beeldpost.image.service import ImageService
from beeldpost.settings import Settings

from support.presentation import make_jpeg, record_data, write_record

PHOTO_RECORD = Path(__file__).resolve().parents[2] / "manifests" / "wijkgericht-werken-1999.yaml"


def parsed(**fields) -> "Record":  # noqa: F821
    data = record_data("stuk", transcript=None, people=None)
    data.pop("max_size", None)
    data.update(fields)
    text = yaml.safe_dump({key: value for key, value in data.items() if value is not None},
                          allow_unicode=True, sort_keys=False)
    return parse_record(Path("stuk.yaml"), text)


@pytest.mark.parametrize("name, tier", [
    ("open", Tier.OPEN), ("capped", Tier.CAPPED), ("verkleind", Tier.CAPPED),
    ("clickthrough", Tier.CLICKTHROUGH), ("voorwaarden", Tier.CLICKTHROUGH),
    ("reading-room", Tier.READING_ROOM), ("Reading room", Tier.READING_ROOM),
    ("studiezaal", Tier.READING_ROOM), ("staff", Tier.STAFF), ("Medewerkers", Tier.STAFF),
    ("staff only", Tier.STAFF),
])
def test_a_tier_is_named_in_english_or_dutch(name, tier):
    assert tier_named(name) is tier
    caps = {"max_size": 1600} if tier is Tier.CAPPED else {}
    assert parsed(access=name, **caps).access is tier


def test_without_access_an_item_is_open_and_with_max_size_capped():
    assert parsed().access is Tier.OPEN
    assert parsed(max_size=1600).access is Tier.CAPPED
    record = parse_record(PHOTO_RECORD, PHOTO_RECORD.read_text("utf-8"))
    assert record.max_size == 1600 and record.access is Tier.CAPPED  # the 1999 photo


def test_a_tier_typo_names_the_file_the_line_and_the_allowed_values():
    text = PHOTO_RECORD.read_text("utf-8").replace("access: capped", "access: studeizaal")
    with pytest.raises(BrokenRecord) as broken:
        parse_record(PHOTO_RECORD, text)
    line = text.splitlines().index("access: studeizaal") + 1
    assert str(broken.value) == (
        f"wijkgericht-werken-1999.yaml: access (line {line}): 'studeizaal' is not an access "
        "tier; give one of open, capped, clickthrough, reading-room, staff (in Dutch: open, "
        "verkleind, voorwaarden, studiezaal, medewerkers)")
    assert broken.value.status == 422


@pytest.mark.parametrize("fields, message", [
    ({"access": "open", "max_size": 800}, "open gives everyone the full scan, but max_size caps it"),
    ({"access": "capped"}, "capped needs max_size"),
    ({"access": "staff", "terms": {"nl": "Alleen voor onderzoek.", "en": "For research only."}},
     "terms are shown only for access: clickthrough"),
    ({"restricted_until": "morgen"}, "'morgen' is not a date (2049-01-01) or a year (2049)"),
    ({"restricted_until": True}, "is not a date"),
    ({"access": ["staff"]}, "expected text"),
])
def test_contradictions_and_bad_values_are_refused(fields, message):
    with pytest.raises(BrokenRecord) as broken:
        parsed(**fields)
    assert message in str(broken.value)


def test_a_closure_is_a_date_or_a_year_and_clickthrough_has_its_terms():
    assert parsed(restricted_until=2049).restricted_until == datetime.date(2049, 1, 1)
    assert parsed(restricted_until="2049-03-04").restricted_until == datetime.date(2049, 3, 4)
    assert parsed(restricted_until=datetime.date(2030, 5, 1)).restricted_until == \
        datetime.date(2030, 5, 1)
    record = parsed(access="voorwaarden", terms={"nl": "Alleen voor onderzoek.",
                                                 "en": "For research only."})
    assert record.access is Tier.CLICKTHROUGH and record.terms["en"] == "For research only."


def test_a_closure_makes_any_tier_staff_only_until_its_day():
    day = datetime.date(2049, 1, 1)
    assert effective(Tier.OPEN, day, datetime.date(2048, 12, 31)) is Tier.STAFF
    assert effective(Tier.OPEN, day, day) is Tier.OPEN
    assert effective(Tier.READING_ROOM, day, datetime.date(2050, 6, 1)) is Tier.READING_ROOM
    assert effective(Tier.CAPPED, None, datetime.date(1999, 1, 1)) is Tier.CAPPED


def test_a_closed_item_opens_on_its_day_without_an_edit_journalled_that_day(
        tmp_path, monkeypatch):
    """The scan on the day the closure ends journals one Update (Change Discovery tells
    harvesters to look again); the days before and after, nothing."""
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    for item in ("gesloten", "gewoon"):
        make_jpeg(images / f"{item}.jpg", 640, 480)
    write_record(manifests, "gesloten", record_data("gesloten", people=None,
                                                    restricted_until="2049-01-01"))
    write_record(manifests, "gewoon", record_data("gewoon", people=None))
    service = ImageService(Settings.of(images_dir=images, cache_dir=tmp_path / "cache"))
    journal = Journal(tmp_path / "journal.sqlite3", RecordStore(manifests, lambda i: (640, 480)),
                      service)
    day = [datetime.date(2048, 12, 30)]
    monkeypatch.setattr(journal_module, "today", lambda: day[0])

    def manifest_changes(activities) -> list[tuple[str, str]]:
        return [(a.type, a.item) for a in activities if a.kind == "manifest"]

    assert sorted(manifest_changes(journal.scan())) == [("Create", "gesloten"), ("Create", "gewoon")]
    entry = journal.read(index.entry, "gesloten")
    assert entry.restricted_until == "2049-01-01" and entry.tier is Tier.OPEN
    assert entry.tier_on(day[0]) is Tier.STAFF
    day[0] = datetime.date(2048, 12, 31)
    assert journal.scan() == []  # the day before: nothing
    day[0] = datetime.date(2049, 1, 1)
    written = journal.scan()  # the periodic full scan of that day
    assert manifest_changes(written) == [("Update", "gesloten")]
    assert journal.read(index.entry, "gesloten").tier_on(day[0]) is Tier.OPEN
    assert journal.scan() == []  # once
    day[0] = datetime.date(2049, 1, 2)
    assert journal.scan() == []
