"""`beeldpost import`: CSV exports as collection systems write them, turned into records.

Exports are generated here as Excel and collection systems write them (`;`, tab, BOM,
Windows-1252, quoted line breaks, empty rows), into a temporary records folder with a
temporary images folder of small JPEGs.
"""

from __future__ import annotations

import csv
import datetime
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from beeldpost import cli, create_app
from beeldpost.catalogue import importer
from beeldpost.catalogue.records import RecordStore, parse_record
from beeldpost.catalogue.tiers import Tier

from support.paths import IMAGES
from support.presentation import MANIFESTS, make_jpeg, record_data, write_record

HEADER = ["Objectnummer", "Titel", "Datering", "Fotograaf", "Bron", "Plaats", "Onderwerp",
          "Beschrijving", "Collectie", "Rechten", "Bestandsnaam"]
IMAGE_COUNT = 40
BIG = 3000  # rows of the large export


def image_name(number: int) -> str:
    return f"scan-{number % IMAGE_COUNT:04d}"


def row(number: int, **changes: str) -> dict[str, str]:
    """One realistic row of a Dutch photo archive's export."""
    values = {
        "Objectnummer": f"NLW-F {1990 + number % 10}/{number:05d}",
        "Titel": f"Wijkpost {number}, voorgevel met fietsenrek",
        "Datering": f"{number % 28 + 1:02d}-05-1999" if number % 3 else str(1980 + number % 20),
        "Fotograaf": "Jan Blom",
        "Bron": "Nieuw Land",
        "Plaats": "Lelystad",
        "Onderwerp": "Wijkgericht Werken|Wijkposten",
        "Beschrijving": f"Voorgevel van wijkpost {number}.\nAfdruk op fotopapier, zwart-wit.",
        "Collectie": "Batavialand > Nieuw Land > Wijkgericht Werken",
        "Rechten": "Alle rechten voorbehouden",
        "Bestandsnaam": f"{image_name(number)}.jpg",
    }
    values.update(changes)
    return values


def item_of(number: int) -> str:
    return f"nlw-f-{1990 + number % 10}-{number:05d}"


def csv_text(rows: list[dict[str, str]], header: list[str] = HEADER, delimiter: str = ";",
             blank_every: int = 0) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for index, values in enumerate(rows, start=1):
        writer.writerow([values.get(column, "") for column in header])
        if blank_every and index % blank_every == 0:
            writer.writerow([""] * len(header))  # Excel writes an empty row as ;;;;
    return out.getvalue()


class Archive:
    """A temporary archive: images, records, exports, and `beeldpost import` run on them."""

    def __init__(self, root: Path, monkeypatch, capsys):
        self.root = root
        self.images = root / "images"
        self.records = root / "records"
        self.images.mkdir()
        self.records.mkdir()
        self.capsys = capsys
        for number in range(IMAGE_COUNT):
            make_jpeg(self.images / f"{image_name(number)}.jpg", 64, 48)
        monkeypatch.setenv("BEELDPOST_IMAGES", str(self.images))
        monkeypatch.setenv("BEELDPOST_MANIFESTS", str(self.records))
        monkeypatch.setenv("BEELDPOST_CACHE", str(root / "cache"))

    def export(self, text: str | bytes, name: str = "export.csv", encoding: str = "utf-8") -> Path:
        path = self.root / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
        return path

    def run(self, export: Path, *options: str) -> tuple[int, list[str], str]:
        self.capsys.readouterr()
        status = cli.main(["import", str(export), *options])
        captured = self.capsys.readouterr()
        return status, captured.out.splitlines(), captured.err

    def files(self) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in sorted(self.records.iterdir())}

    def stamps(self) -> dict[str, tuple[int, int]]:
        return {path.name: (path.stat().st_mtime_ns, path.stat().st_ino)
                for path in self.records.iterdir()}

    def record(self, item: str):
        path = self.records / f"{item}.yaml"
        return parse_record(path, path.read_text("utf-8"))


@pytest.fixture
def archive(tmp_path, monkeypatch, capsys) -> Archive:
    return Archive(tmp_path, monkeypatch, capsys)


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith(("note: ", "kept: ", "gone: ",
                                                          "overwritten: "))]


# --------------------------------------------------------------------------- a large export


def test_a_large_export_dry_run_apply_and_again(archive):
    """Thousands of rows with a BOM, `;`, quoted line breaks and empty rows: the dry run
    writes nothing, --apply writes every record, and a second import touches nothing."""
    rows = [row(number) for number in range(1, BIG + 1)]
    export = archive.export(b"\xef\xbb\xbf" + csv_text(rows, blank_every=500).encode("utf-8"))

    status, out, err = archive.run(export)
    assert status == 0, out
    assert archive.files() == {}
    assert f"would create {BIG}, update 0, leave unchanged 0" in err
    assert "/s," in err and "left" in err  # the progress bar: rate and time left
    # Dutch only: one note for each English text filled from the Dutch, not a problem per row.
    assert [line for line in out if "label.en" in line] == [
        f"note: export.csv: Titel (label.en): no English text in {BIG} rows (2, 3, 4, 5, 6 and "
        f"{BIG - 5} more); the text in the other language is used"]
    assert problems(out) == []

    status, out, err = archive.run(export, "--apply")
    assert status == 0, out
    assert f"records {BIG} created, 0 updated, 0 unchanged" in err
    files = archive.files()
    assert len(files) == BIG and not any(name.startswith(".") for name in files)

    record = archive.record(item_of(7))
    assert record.label["nl"] == record.label["en"] == "Wijkpost 7, voorgevel met fietsenrek"
    assert record.date == "1999-05-08"
    assert archive.record(item_of(3)).date == "1983"
    # The description is the caption (there is no bijschrift column), and not said twice.
    assert record.summary["nl"] == "Voorgevel van wijkpost 7.\nAfdruk op fotopapier, zwart-wit."
    assert record.description is None
    assert record.subject["nl"] == "Wijkgericht Werken, Wijkposten"
    assert record.hierarchy == ("Batavialand", "Nieuw Land", "Wijkgericht Werken")
    assert record.collection["nl"] == "Batavialand, Nieuw Land, Wijkgericht Werken"
    assert record.credit["nl"] == "foto Jan Blom, bron Nieuw Land"
    assert record.credit["en"] == "photo Jan Blom, source Nieuw Land"
    assert record.rights == "http://rightsstatements.org/vocab/InC/1.0/"
    assert record.rights_label["en"] == "All rights reserved"
    assert record.image == image_name(7)
    text = (archive.records / f"{item_of(7)}.yaml").read_text("utf-8")
    assert "collection: [Batavialand, Nieuw Land, Wijkgericht Werken]\n" in text
    assert text.startswith("# Imported by `beeldpost import`")

    before, stamps = archive.files(), archive.stamps()
    status, out, err = archive.run(export, "--apply")
    assert status == 0
    assert f"records 0 created, 0 updated, {BIG} unchanged" in err
    assert archive.files() == before and archive.stamps() == stamps


# --------------------------------------------------------------------------- reading real files


@pytest.mark.parametrize("encoding,delimiter,bom", [
    ("utf-8", ";", True),
    ("utf-8", ",", False),
    ("utf-8", "\t", False),
    ("cp1252", ";", False),
    ("utf-16", "\t", False),  # Excel's "Unicode text": UTF-16 with a BOM, tabs
])
def test_encodings_and_delimiters(archive, encoding, delimiter, bom):
    title = "Café in de Leekerhoek; ‘een ruïne’, België"
    if encoding == "cp1252":
        title = "Café in de Leekerhoek; een ruïne, België"  # é, ë, ï: Windows-1252 bytes
    rows = [row(1, Titel=title, Beschrijving="Eerste regel\nTweede; regel, met \"quotes\""),
            row(2)]
    text = csv_text(rows, delimiter=delimiter)
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
    status, out, _err = archive.run(archive.export(raw), "--apply")
    assert status == 0, out
    record = archive.record(item_of(1))
    assert record.label["nl"] == title
    assert record.summary["nl"] == "Eerste regel\nTweede; regel, met \"quotes\""
    assert archive.record(item_of(2)).place == "Lelystad"


def test_the_delimiter_is_taken_from_the_header_outside_quotes():
    assert importer.sniff_delimiter('"a;b",c,d\n1;2;3;4;5\n') == ","
    assert importer.sniff_delimiter("\r\nid\ttitel, met komma\trechten\n") == "\t"
    assert importer.sniff_delimiter("id\n1\n") == ","


def test_a_file_that_is_no_text_is_refused(archive):
    status, out, _err = archive.run(archive.export(b"id;titel\n\x81\x8d\x8f;x\n"))
    assert status == 1
    assert out == ["export.csv: is neither UTF-8 nor Windows-1252 text (byte 9 cannot be read)"]


# --------------------------------------------------------------------------- problems


def test_bad_rows_are_named_and_left_out_the_good_ones_are_written(archive):
    rows = [
        row(1),
        row(2, Datering="ca. 1950"),
        row(3, Datering="31-02-1999"),
        row(4, Rechten="Copyright Batavialand"),
        row(5, Bestandsnaam="ontbreekt.tif"),
        row(6, Objectnummer="NLW-F 1999/00009"),  # the id of row(9): spreadsheet row 10
        row(7, Bestandsnaam=f"scans\\{image_name(7)}.JPG"),  # a Windows path, upper case
        row(8, Rechten="https://creativecommons.org/licenses/by-sa/4.0/deed.nl"),
        row(9),
        row(10, Titel=""),
        row(11, Rechten="CC BY"),
    ]
    export = archive.export(csv_text(rows, header=HEADER + ["Afmetingen", "Vorm"]))
    status, out, err = archive.run(export, "--apply")
    assert status == 1
    assert problems(out) == [
        "export.csv: row 3: Datering: 'ca. 1950' is not a date: give a year (1999) or a day "
        "(1999-05-12 or 12-05-1999)",
        "export.csv: row 4: Datering: '31-02-1999' is not a real date",
        "export.csv: row 5: Rechten: 'Copyright Batavialand' is not a rights statement: give a "
        "RightsStatements.org or Creative Commons URI (http://rightsstatements.org/vocab/InC/1.0/)"
        " or words such as 'Alle rechten voorbehouden', 'CC0', 'Publiek domein' or 'CC BY 4.0' "
        "(manifests/README.md lists them)",
        "export.csv: row 6: Bestandsnaam: 'ontbreekt.tif': no image 'ontbreekt' in the images "
        f"folder {archive.images} (BEELDPOST_IMAGES)",
        "export.csv: row 7: id: 'nlw-f-1999-00009' is also the id of row 10; neither is imported",
        "export.csv: row 10: id: 'nlw-f-1999-00009' is also the id of row 7; neither is imported",
        "export.csv: row 11: Titel: is empty: every record needs a title",
        "export.csv: row 12: Rechten: 'CC BY' has no version: give it, e.g. 'CC BY 4.0'",
    ]
    assert "note: export.csv: columns: not known, left out: 'Afmetingen', 'Vorm' (a mapping " \
           "file, --mapping, can name the field each one gives)" in out
    assert "records 3 created" in err
    assert "8 rows with problems, not imported: 3, 4, 5, 6, 7, 10, 11, 12" in err
    assert sorted(archive.files()) == [f"{item_of(n)}.yaml" for n in (1, 7, 8)]
    assert archive.record(item_of(7)).image == image_name(7)
    assert archive.record(item_of(8)).rights == "http://creativecommons.org/licenses/by-sa/4.0/"
    assert archive.record(item_of(8)).rights_label["nl"] == "CC BY-SA 4.0"


def test_a_case_slip_in_a_file_name_gets_a_hint(archive):
    make_jpeg(archive.images / "Scan_Leekerhoek.jpg", 64, 48)
    status, out, _err = archive.run(archive.export(csv_text([
        row(1, Bestandsnaam="scan_leekerhoek.jpg")])))
    assert status == 1
    assert out[0].endswith(f"no image 'scan_leekerhoek' in the images folder {archive.images} "
                           "(BEELDPOST_IMAGES) (did you mean 'Scan_Leekerhoek'?)")


def test_problems_the_record_checks_find_are_named_by_column(archive):
    status, out, _err = archive.run(archive.export(csv_text(
        [row(1, Link="www.batavialand.nl|https://www.batavialand.nl/"), row(2, Taal="Fries")],
        header=HEADER + ["Link", "Taal"])))
    assert status == 1
    assert problems(out) == [
        "export.csv: row 2: Link (links[1].url): 'www.batavialand.nl' is not an http(s) URL",
        "export.csv: row 3: Taal: 'Fries' is not a language code such as nl, en or fy",
    ]


@pytest.mark.parametrize("header,words", [
    (["Titel", "Rechten", "Fotograaf"], "no column gives the id"),
    (["Objectnummer", "Inventarisnummer", "Titel", "Rechten", "Bron"],
     "'Objectnummer' (column 1) and 'Inventarisnummer' (column 2) both give id"),
    (["Objectnummer", "Titel", "Rechten"], "no column gives a credit line"),
    (["Objectnummer", "Titel", "Rechten", "Bron", "Collectie", "Serie"],
     "either as one collection column"),
])
def test_an_export_that_cannot_be_imported_stops_before_writing(archive, header, words):
    status, out, err = archive.run(archive.export(csv_text([row(1)], header=header)), "--apply")
    assert status == 1 and archive.files() == {}
    assert any(line.startswith("export.csv: columns: ") and words in line for line in out), out
    assert "nothing imported" in err


# --------------------------------------------------------------------------- columns and values


def test_language_tagged_columns_fill_both_languages(archive):
    header = ["ID", "titel_nl", "Title (EN)", "Beschrijving", "description_en", "Onderwerp NL",
              "Subject (English)", "Credit", "Credit EN", "Rights"]
    rows = [{"ID": "F-1", "titel_nl": "Wijkpost", "Title (EN)": "Neighbourhood office",
             "Beschrijving": "Een woning.", "description_en": "A house.",
             "Onderwerp NL": "Wijkposten|Woningbouw", "Subject (English)": "Offices|Housing",
             "Credit": "foto onbekend, bron Nieuw Land",
             "Credit EN": "photo unknown, source Nieuw Land",
             "Rights": "CC0"}]
    make_jpeg(archive.images / "f-1.jpg", 64, 48)  # no file column: the image named like the id
    status, out, _err = archive.run(archive.export(csv_text(rows, header, ",")), "--apply")
    assert status == 0, out
    assert not [line for line in out if line.startswith("note: ")]
    record = archive.record("f-1")
    assert (record.label["nl"], record.label["en"]) == ("Wijkpost", "Neighbourhood office")
    assert record.summary["en"] == "A house."
    assert (record.subject["nl"], record.subject["en"]) == ("Wijkposten, Woningbouw",
                                                            "Offices, Housing")
    assert record.credit["en"] == "photo unknown, source Nieuw Land"
    assert record.rights == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert record.rights_label["nl"] == "Publiek domein (CC0)"
    assert record.image == "f-1"


def test_a_mapping_file_names_the_other_columns(archive):
    header = ["Inv. nr.", "Titel (NL)", "Title (EN)", "Maker", "Deelcollectie", "Archiefnaam",
              "Reeks", "Rechtenstatus", "Afbeelding", "Vorm"]
    rows = [{"Inv. nr.": "BL.2012.7", "Titel (NL)": "Interview", "Title (EN)": "Interview",
             "Maker": "Jan Blom", "Deelcollectie": "Nieuw Land", "Archiefnaam": "Batavialand",
             "Reeks": "Interviews", "Rechtenstatus": "Geen bekende auteursrechten",
             "Afbeelding": f"{image_name(3)}.jpeg", "Vorm": "foto"}]
    mapping = archive.root / "map.yaml"
    mapping.write_text('"Inv. nr.": id\n"Titel (NL)": label.nl\n"Deelcollectie": fonds\n'
                       '"Archiefnaam": archive\n"Vorm": ignore\n"Datering (vroegst)": date\n',
                       "utf-8")
    status, out, _err = archive.run(archive.export(csv_text(rows, header)), "--mapping",
                                    str(mapping), "--apply")
    assert status == 0, out
    assert out == ["note: export.csv: mapping: 'Datering (vroegst)' names no column of this export"]
    record = archive.record("bl.2012.7")
    assert record.hierarchy == ("Batavialand", "Nieuw Land", "Interviews")
    assert record.photographer == "Jan Blom" and record.credit["nl"] == "foto Jan Blom"
    assert record.rights == "http://rightsstatements.org/vocab/NKC/1.0/"


def test_a_bad_mapping_file_is_refused(archive):
    mapping = archive.root / "map.yaml"
    mapping.write_text('"Titel (NL)": titel.nl\n"Fotograaf": photographer.en\n', "utf-8")
    status, out, _err = archive.run(archive.export(csv_text([row(1)])), "--mapping", str(mapping))
    assert status == 1
    assert out[0].startswith("map.yaml: Titel (NL): 'titel.nl' is not a record field")
    assert out[1] == ("map.yaml: Fotograaf: photographer reads the same in every language; "
                      "map to photographer, not photographer.en")


def test_repeated_values(archive):
    header = HEADER + ["Links"]
    rows = [row(1, Fotograaf="Jan Blom|Thea Laffra", Plaats="Lelystad | Almere",
                Onderwerp="Wijkposten||Wijkgericht Werken",
                Links="https://www.batavialand.nl/|https://www.lelystad.nl/",
                Titel="Wijkpost | Leekerhoek")]
    status, out, _err = archive.run(archive.export(csv_text(rows, header)), "--apply")
    assert status == 0, out
    record = archive.record(item_of(1))
    assert record.photographer == "Jan Blom, Thea Laffra" and record.place == "Lelystad, Almere"
    assert record.subject["nl"] == "Wijkposten, Wijkgericht Werken"
    assert [link.url for link in record.links] == ["https://www.batavialand.nl/",
                                                   "https://www.lelystad.nl/"]
    assert record.label["nl"] == "Wijkpost | Leekerhoek"  # a title keeps its |
    assert record.credit["nl"] == "foto Jan Blom, Thea Laffra, bron Nieuw Land"


def test_the_hierarchy_from_archive_fonds_and_series_columns(archive):
    header = [name for name in HEADER if name != "Collectie"] + ["Serie", "Archief", "Fonds"]
    rows = [row(1, Archief="Batavialand", Fonds="Nieuw Land", Serie="Wijkgericht Werken"),
            row(2, Archief="Batavialand", Serie="Losse foto's"),
            row(3)]
    status, out, _err = archive.run(archive.export(csv_text(rows, header)), "--apply")
    assert status == 0, out
    assert archive.record(item_of(1)).hierarchy == ("Batavialand", "Nieuw Land",
                                                    "Wijkgericht Werken")
    assert archive.record(item_of(2)).hierarchy == ("Batavialand", "Losse foto's")
    assert archive.record(item_of(3)).collection is None


def test_a_hierarchy_too_deep_or_with_an_empty_level_is_a_problem_of_its_row(archive):
    rows = [row(1, Collectie=" > ".join(f"Niveau {n}" for n in range(9))),
            row(2, Collectie="Batavialand >  > Wijkgericht Werken")]
    status, out, _err = archive.run(archive.export(csv_text(rows)))
    assert status == 1
    assert problems(out) == [
        "export.csv: row 2: Collectie (collection): expected 1 to 8 levels from the top down, "
        "got a list of 9",
        "export.csv: row 3: Collectie: 'Batavialand >  > Wijkgericht Werken' has an empty level "
        "(levels are separated by ' > ', top down)",
    ]


@pytest.mark.parametrize("words,uri", [
    ("Alle rechten voorbehouden", "http://rightsstatements.org/vocab/InC/1.0/"),
    ("ALL RIGHTS RESERVED", "http://rightsstatements.org/vocab/InC/1.0/"),
    ("Publiek domein", "http://creativecommons.org/publicdomain/zero/1.0/"),
    ("CC0 1.0", "http://creativecommons.org/publicdomain/zero/1.0/"),
    ("Public Domain Mark", "http://creativecommons.org/publicdomain/mark/1.0/"),
    ("CC BY 4.0", "http://creativecommons.org/licenses/by/4.0/"),
    ("cc-by-nc-sa 3.0", "http://creativecommons.org/licenses/by-nc-sa/3.0/"),
    ("CC BY-ND-NC 4.0 Internationaal", "http://creativecommons.org/licenses/by-nc-nd/4.0/"),
    ("Geen bekende auteursrechten", "http://rightsstatements.org/vocab/NKC/1.0/"),
    ("http://rightsstatements.org/vocab/CNE/1.0/", "http://rightsstatements.org/vocab/CNE/1.0/"),
    ("https://creativecommons.org/licenses/by/4.0", "http://creativecommons.org/licenses/by/4.0/"),
    ("https://creativecommons.org/licenses/by-nc/4.0/deed.nl",
     "http://creativecommons.org/licenses/by-nc/4.0/"),
    ("https://rightsstatements.org/page/InC-EDU/1.0/?language=nl",
     "http://rightsstatements.org/vocab/InC-EDU/1.0/"),
])
def test_rights_in_words_become_uris(words, uri):
    assert importer.rights_uri(words) == uri


@pytest.mark.parametrize("value,date", [("1999", "1999"), ("1999-05-12", "1999-05-12"),
                                        ("12-05-1999", "1999-05-12"), ("2-5-1999", "1999-05-02")])
def test_dates(value, date):
    assert importer.iso_date(value) == date


@pytest.mark.parametrize("value", ["12/05/1999", "mei 1999", "1999-5-12", "1950-1960",
                                   "29-02-1999"])
def test_other_dates_are_refused(value):
    with pytest.raises(importer.Refused):
        importer.iso_date(value)


# --------------------------------------------------------------------------- re-importing


def test_a_changed_row_updates_its_record_only(archive):
    rows = [row(number) for number in range(1, 6)]
    archive.run(archive.export(csv_text(rows)), "--apply")
    before, stamps = archive.files(), archive.stamps()
    rows[2] = row(3, Titel="Wijkpost 3, achtergevel")
    rows.insert(0, row(99))  # every other row moves one down: their files stay as they are
    status, _out, err = archive.run(archive.export(csv_text(rows)), "--apply")
    assert status == 0
    assert "records 1 created, 1 updated, 4 unchanged" in err
    changed = {name for name, content in archive.files().items() if before.get(name) != content}
    assert changed == {f"{item_of(3)}.yaml", f"{item_of(99)}.yaml"}
    after = archive.stamps()
    assert all(after[name] == stamps[name] for name in stamps if name != f"{item_of(3)}.yaml")
    assert archive.record(item_of(3)).label["nl"] == "Wijkpost 3, achtergevel"


def test_a_record_edited_by_hand_is_kept_unless_asked(archive):
    export = archive.export(csv_text([row(1), row(2)]))
    archive.run(export, "--apply")
    path = archive.records / f"{item_of(1)}.yaml"
    edited = path.read_text("utf-8").replace("label:\n  nl: Wijkpost 1, voorgevel met fietsenrek\n"
                                             "  en: Wijkpost 1, voorgevel met fietsenrek",
                                             "label:\n  nl: Wijkpost 1, voorgevel met fietsenrek\n"
                                             "  en: Neighbourhood office 1, front")
    assert "Neighbourhood office" in edited
    path.write_text(edited, "utf-8")
    changed = export.read_text("utf-8").replace("Jan Blom", "J. Blom")
    export = archive.export(changed)

    status, out, err = archive.run(export, "--apply")
    assert status == 0
    assert out[0] == (f"kept: export.csv: row 2: {item_of(1)}.yaml was edited by hand since it "
                      "was imported from row 2 of export.csv; not overwritten "
                      "(--overwrite-edited overwrites it)")
    assert path.read_text("utf-8") == edited
    assert "1 updated" in err and "1 kept (changed by hand)" in err

    status, out, _err = archive.run(export, "--apply", "--overwrite-edited")
    assert status == 0
    assert archive.record(item_of(1)).photographer == "J. Blom"
    assert archive.record(item_of(1)).label["en"] == "Wijkpost 1, voorgevel met fietsenrek"
    # Written by the import again: a later import leaves it alone.
    assert "leave unchanged 2" in archive.run(export)[2]


def test_a_record_written_by_hand_is_never_overwritten_unasked(archive):
    data = record_data(item_of(1), image=image_name(1), transcript=None, people=None)
    write_record(archive.records, item_of(1), data, transcript=None)
    by_hand = archive.files()
    status, out, _err = archive.run(archive.export(csv_text([row(1)])), "--apply")
    assert status == 0
    assert out[0].startswith(f"kept: export.csv: row 2: {item_of(1)}.yaml was written by hand")
    assert archive.files() == by_hand


def test_delete_missing_deletes_only_what_this_export_made(archive):
    export = archive.export(csv_text([row(n) for n in range(1, 5)]))
    other = archive.export(csv_text([row(50)]), name="andere-export.csv")
    archive.run(export, "--apply")
    archive.run(other, "--apply")
    write_record(archive.records, "met-de-hand",
                 record_data("met-de-hand", image=image_name(1), transcript=None, people=None),
                 transcript=None)
    edited = archive.records / f"{item_of(4)}.yaml"
    edited.write_text(edited.read_text("utf-8").replace("fietsenrek", "fietsenstalling"), "utf-8")
    export = archive.export(csv_text([row(1), row(2, Datering="ooit")]))  # 3 and 4 are gone

    status, out, _err = archive.run(export, "--apply")
    assert status == 1  # row 2's date
    assert f"gone: export.csv: {item_of(3)}.yaml is no longer in the export; left alone " \
           "(--delete-missing deletes it)" in out
    assert len(archive.files()) == 6

    status, out, err = archive.run(export, "--apply", "--delete-missing")
    assert "1 deleted" in err
    assert f"kept: export.csv: {item_of(4)}.yaml is no longer in the export but was edited by " \
           "hand; not deleted (--overwrite-edited deletes it)" in out
    # Row 2 has a problem but still names its id: its record stays.
    assert sorted(archive.files()) == sorted(f"{name}.yaml" for name in (
        item_of(1), item_of(2), item_of(4), item_of(50), "met-de-hand"))


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary_file(archive, monkeypatch):
    export = archive.export(csv_text([row(n) for n in range(1, 4)]))
    archive.run(export, "--apply")
    before = archive.files()
    export = archive.export(csv_text([row(n, Plaats="Almere") for n in range(1, 4)]))
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target).endswith(f"{item_of(2)}.yaml"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(importer.os, "replace", failing_replace)
    status, out, err = archive.run(export, "--apply")
    assert status == 1
    assert problems(out) == [f"export.csv: row 3: {item_of(2)}.yaml could not be written: "
                             "No space left on device; the file is as it was"]
    assert "2 updated" in err and "1 failed" in err
    files = archive.files()
    assert sorted(files) == sorted(before)  # no temporary file left behind
    assert files[f"{item_of(2)}.yaml"] == before[f"{item_of(2)}.yaml"]
    assert archive.record(item_of(1)).place == "Almere"


def test_records_are_written_readable_by_others(archive):
    archive.run(archive.export(csv_text([row(1)])), "--apply")
    mode = (archive.records / f"{item_of(1)}.yaml").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


# --------------------------------------------------------------------------- served


def test_imported_records_are_served(archive):
    rows = [row(1), row(2, Collectie="Batavialand")]
    archive.run(archive.export(csv_text(rows)), "--apply")
    store = RecordStore(archive.records, lambda identifier: (64, 48))
    valid, broken = store.load_all()
    assert [record.item for record in valid] == [item_of(1), item_of(2)] and broken == []

    app = create_app({"images_dir": archive.images, "manifests_dir": archive.records,
                      "cache_dir": archive.root / "cache"})
    client = app.test_client()
    manifest = client.get(f"/iiif/manifests/{item_of(1)}").get_json()
    metadata = {entry["label"]["en"][0]: entry["value"] for entry in manifest["metadata"]}
    assert metadata["Collection"] == {"nl": ["Batavialand, Nieuw Land, Wijkgericht Werken"],
                                      "en": ["Batavialand, Nieuw Land, Wijkgericht Werken"]}
    assert manifest["requiredStatement"]["value"]["nl"] == ["foto Jan Blom, bron Nieuw Land"]
    assert manifest["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
    # The hierarchy is Collections, top down: row 1 in Batavialand > Nieuw Land >
    # Wijkgericht Werken, row 2 in Batavialand itself.
    def members(url: str) -> list[tuple[str, str]]:
        document = client.get(url.removeprefix("http://localhost")).get_json()
        return [(member["type"], member["label"]["nl"][0] if member["type"] == "Collection"
                 else member["id"].rsplit("/", 1)[1]) for member in document["items"]]

    top = "/iiif/collection"
    assert members(top) == [("Collection", "Batavialand")]
    assert members(f"{top}/batavialand") == [("Collection", "Nieuw Land"),
                                             ("Manifest", item_of(2))]
    assert members(f"{top}/batavialand/nieuw-land") == [("Collection", "Wijkgericht Werken")]
    assert members(f"{top}/batavialand/nieuw-land/wijkgericht-werken") == \
        [("Manifest", item_of(1))]


def test_the_committed_example_imports_cleanly(tmp_path, monkeypatch, capsys):
    existing = {path.stem for path in MANIFESTS.glob("*.yaml")}
    monkeypatch.setenv("BEELDPOST_IMAGES", str(IMAGES))
    monkeypatch.setenv("BEELDPOST_MANIFESTS", str(tmp_path / "records"))
    monkeypatch.setenv("BEELDPOST_CACHE", str(tmp_path / "cache"))
    example = MANIFESTS / "import-example.csv"
    assert cli.main(["import", str(example)]) == 0
    captured = capsys.readouterr()
    assert all(line.startswith("note: ") for line in captured.out.splitlines()), captured.out
    assert "would create 4" in captured.err
    assert cli.main(["import", str(example), "--apply"]) == 0
    records = sorted((tmp_path / "records").glob("*.yaml"))
    assert len(records) == 4 and not {path.stem for path in records} & existing
    for path in records:
        record = parse_record(path, path.read_text("utf-8"))
        assert record.image in ("wijkgericht-werken-1999", "wijkpost-leekerhoek")
        assert record.hierarchy[:3] == ("Batavialand", "Nieuw Land", "Wijkgericht Werken")
    data = yaml.safe_load((tmp_path / "records" / "nlw-f-1999-014.yaml").read_text("utf-8"))
    assert data["credit"] == {"nl": "foto Jan Blom, bron Nieuw Land",
                              "en": "photo Jan Blom, source Nieuw Land"}


KILLED_MID_WRITE = """
import os, signal, sys
from beeldpost import cli
from beeldpost.catalogue import importer

real_replace = os.replace
written = [0]

def replace(source, target):
    written[0] += 1
    if written[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write: the temporary file stays
    return real_replace(source, target)

importer.os.replace = replace
cli.main(["import", sys.argv[1], "--apply"])
"""


def test_a_killed_import_leaves_a_temporary_file_that_the_next_import_removes(archive):
    """Issue 21: an import killed mid-write left `.{item}.yaml.*.tmp` in the records
    folder for good. The records are as they were (old or new, whole); the next import
    removes what the dead one left, and leaves a running import's own files alone."""
    export = archive.export(csv_text([row(n) for n in range(1, 40)]))
    env = {**os.environ, "BEELDPOST_IMAGES": str(archive.images),
           "BEELDPOST_MANIFESTS": str(archive.records), "BEELDPOST_CACHE": str(archive.root / "cache")}
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(export), "17"], env=env,
                            cwd=archive.root, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    left = [path.name for path in archive.records.iterdir() if path.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith("."), left
    assert len([path for path in archive.records.iterdir() if path.suffix == ".yaml"]) == 16
    # A running import's file (this process's parent, say) and a fresh old-style one stay.
    running = archive.records / f".{item_of(90)}.yaml.{os.getppid()}-abc123.tmp"
    running.write_bytes(b"being written")
    status, out, err = archive.run(export, "--apply")
    assert status == 0, out
    names = sorted(path.name for path in archive.records.iterdir())
    assert [name for name in names if name.endswith(".tmp")] == [running.name]
    assert len(names) == 39 + 1
    # Once that process is gone (or the file is old), it goes too.
    old = time.time() - importer.LEFTOVER_SECONDS - 1
    os.utime(running, (old, old))
    assert importer.remove_leftovers(archive.records) == [running.name]


def test_in_a_cluster_the_import_looks_for_images_in_the_bucket_and_says_so(archive, bucket,
                                                                             monkeypatch):
    """With BEELDPOST_IMAGES naming the images bucket (and the AWS variables, as the
    watcher has them), rows whose scan is in the bucket are imported; a row whose scan
    is not is refused with a message naming the bucket it looked in."""
    for number in (1, 2):
        bucket.put(f"fonds/{image_name(number)}.jpg", archive.images / f"{image_name(number)}.jpg")
    monkeypatch.setenv("BEELDPOST_IMAGES", bucket.url)
    status, out, _err = archive.run(archive.export(csv_text([row(1), row(2), row(3)])), "--apply")
    assert status == 1
    assert problems(out) == [f"export.csv: row 4: Bestandsnaam: '{image_name(3)}.jpg': no image "
                             f"'{image_name(3)}' in the images bucket {bucket.url} "
                             "(BEELDPOST_IMAGES)"]
    assert sorted(archive.files()) == [f"{item_of(1)}.yaml", f"{item_of(2)}.yaml"]


def test_access_columns_in_dutch_or_english_become_tiers_and_closures(archive):
    """Toegang / access (a tier in either language), Openbaar vanaf / restricted until (a
    year or a day), Voorwaarden / terms (per language); a wrong tier is the problem of
    its row and column, with the tiers allowed; the other rows are written."""
    header = HEADER + ["Toegang", "Openbaar vanaf", "Voorwaarden_nl", "Voorwaarden_en"]
    rows = [
        row(1, Toegang="studiezaal", **{"Openbaar vanaf": "2049"}),
        row(2, Toegang="Medewerkers", **{"Openbaar vanaf": "1-7-2031"}),
        row(3, Toegang="voorwaarden", Voorwaarden_nl="Alleen voor onderzoek.",
            Voorwaarden_en="For research only."),
        row(4, Toegang="studeizaal"),
        row(5),
        row(6, **{"Openbaar vanaf": "binnenkort"}),
    ]
    status, out, _err = archive.run(archive.export(csv_text(rows, header=header)), "--apply")
    assert status == 1
    assert problems(out) == [
        "export.csv: row 5: Toegang: 'studeizaal' is not an access tier; give one of open, "
        "capped, clickthrough, reading-room, staff (in Dutch: open, verkleind, voorwaarden, "
        "studiezaal, medewerkers)",
        "export.csv: row 7: Openbaar vanaf: 'binnenkort' is not a date: give a year (1999) or "
        "a day (1999-05-12 or 12-05-1999)",
    ]
    first, second, third, fifth = (archive.record(item_of(n)) for n in (1, 2, 3, 5))
    assert first.access is Tier.READING_ROOM and first.restricted_until == datetime.date(2049, 1, 1)
    assert second.access is Tier.STAFF and second.restricted_until == datetime.date(2031, 7, 1)
    assert third.access is Tier.CLICKTHROUGH and third.terms["en"] == "For research only."
    assert fifth.access is Tier.OPEN and fifth.restricted_until is None
    assert f"{item_of(4)}.yaml" not in archive.files()
