"""Records: the real ones in manifests/, and broken ones in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from beeldpost import cli
from beeldpost.catalogue import records as records_module
from beeldpost.errors import NotFound, SourceError
from beeldpost.catalogue.records import BrokenRecord, RecordStore, parse_record, split_paragraphs

from support.presentation import (
    MANIFESTS,
    PHOTO,
    TRANSCRIPT,
    make_jpeg,
    record_data,
    seed_blocks,
    seed_interview,
    write_record,
)

def read_real(item: str):
    path = MANIFESTS / f"{item}.yaml"
    return parse_record(path, path.read_text("utf-8"))


# --------------------------------------------------------------------------- the real records


def test_every_real_record_parses():
    items = sorted(path.stem for path in MANIFESTS.glob("*.yaml"))
    assert PHOTO in items and len(items) >= 2
    for item in items:
        assert read_real(item).item == item


def test_the_photo_record_says_what_the_source_says():
    record = read_real(PHOTO)
    blocks = seed_blocks()
    assert record.image == PHOTO
    assert record.label["nl"] == "Het managementteam van Wijkgericht Werken, 1999"
    assert record.label["nl"] in blocks
    assert record.summary["nl"] == (
        "Bovenste rij, geheel rechts: Aziz Manar. Onderste rij, tweede van links: Thea Laffra")
    assert record.credit["nl"] == "foto Jan Blom, bron Nieuw Land"
    caption = next(block for block in blocks if block.startswith(record.label["nl"] + ". "))
    assert caption == f"{record.label['nl']}. {record.summary['nl']} ({record.credit['nl']})"
    assert record.rights == "http://rightsstatements.org/vocab/InC/1.0/"
    assert record.rights_label["nl"] == "Alle rechten voorbehouden"
    assert record.photographer == "Jan Blom" and record.source == "Nieuw Land"
    assert record.date == "1999" and record.nav_date == "1999-01-01T00:00:00Z"
    assert [person.name for person in record.people] == ["Aziz Manar", "Thea Laffra"]
    assert record.transcript.title["nl"] == blocks[0] == "Wijkgericht Werken in Lelystad"
    assert record.transcript.citation["nl"] == (
        "Bron: Batavialand te Lelystad, Project Nederlanders – Wereldburgers, "
        "interview met Aziz Manar op 9 oktober 2012 te Lelystad.")
    assert record.transcript.citation["nl"] in blocks
    assert record.provider.homepage == "https://www.batavialand.nl/"


def test_the_transcript_is_the_interview_paragraph_by_paragraph():
    record = read_real(PHOTO)
    expected = seed_interview()
    assert len(expected) == 5
    assert list(record.transcript.paragraphs) == expected
    # The exact characters survive: curly quotes, ellipses, en dash.
    text = "\n".join(record.transcript.paragraphs)
    for character in "“”…–":
        assert character in text
    raw = (MANIFESTS / record.transcript.file).read_text("utf-8")
    assert raw == "\n\n".join(expected) + "\n"


def test_split_paragraphs_joins_wrapped_lines_and_ignores_extra_blank_lines():
    text = "\ufeffEen\r\nlange regel\n\n\n  \nTwee  \n"
    assert split_paragraphs(text) == ("Een lange regel", "Twee")


# --------------------------------------------------------------------------- broken records


def broken(tmp_path: Path, data: dict | None = None, text: str | None = None,
           item: str = "stuk") -> list[str]:
    """The problems of a record, as `beeldpost check` prints them."""
    if text is None:
        write_record(tmp_path, item, data if data is not None else record_data(item))
    else:
        (tmp_path / f"{item}.yaml").write_text(text, "utf-8")
    path = tmp_path / f"{item}.yaml"
    with pytest.raises(BrokenRecord) as caught:
        parse_record(path, path.read_text("utf-8"))
    lines = [str(problem) for problem in caught.value.problems]
    assert all(line.startswith(f"{item}.yaml: ") for line in lines)
    return lines


def without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


@pytest.mark.parametrize("change,field,words", [
    (lambda d: without(d, "label"), "label", "is missing"),
    (lambda d: without(d, "credit"), "credit", "is missing"),
    (lambda d: {**d, "summary": {"nl": "alleen Nederlands"}}, "summary.en", "is missing"),
    (lambda d: {**d, "summary": "geen talen"}, "summary", "texts per language"),
    (lambda d: {**d, "label": {"nl": "x", "en": "y", "Engels!": "z"}}, "label.Engels!",
     "not a language code"),
    (lambda d: {**d, "rights": "https://rightsstatements.org/vocab/InC/1.0/"}, "rights",
     "must use http://"),
    (lambda d: {**d, "rights": "alle rechten voorbehouden"}, "rights",
     "not a RightsStatements.org or Creative Commons URI"),
    (lambda d: {**d, "sumary": {"nl": "x", "en": "y"}}, "sumary", "unknown field"),
    (lambda d: {**d, "id": "iets-anders"}, "id", "must equal the file name"),
    (lambda d: {**d, "date": "zomer 1999"}, "date", "not a year"),
    (lambda d: {**d, "date": "1999-02-30"}, "date", "not a real date"),
    (lambda d: {**d, "language": "fy"}, "language", "summary has no text in 'fy'"),
    (lambda d: {**d, "max_size": -5}, "max_size", "positive whole number"),
    (lambda d: {**d, "people": [{"name": "A", "xywh": [1, 2, 3]}]}, "people[1].xywh",
     "[x, y, width, height]"),
    (lambda d: {**d, "people": [{"name": "A", "xywh": [1, 2, 0, 3]}]}, "people[1].xywh",
     "width, height > 0"),
    (lambda d: {**d, "people": [{"xywh": [1, 2, 3, 4]}]}, "people[1].name", "is missing"),
    (lambda d: {**d, "links": [{"url": "www.example.nl", "label": {"nl": "a", "en": "b"}}]},
     "links[1].url", "not an http(s) URL"),
    (lambda d: {**d, "provider": {**d["provider"], "id": d["provider"]["homepage"]}},
     "provider.id", "must differ from provider.homepage"),
    (lambda d: {**d, "transcript": {**d["transcript"], "file": "../elders.txt"}},
     "transcript.file", "not a path"),
])
def test_a_broken_record_names_file_field_and_problem(tmp_path, change, field, words):
    lines = broken(tmp_path, change(record_data("stuk")))
    assert any(line.startswith(f"stuk.yaml: {field}: ") and words in line for line in lines), lines


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    data = {**without(record_data("stuk"), "label"), "rights": "nope", "date": "ooit"}
    fields = [line.split(": ")[1] for line in broken(tmp_path, data)]
    assert fields == ["label", "rights", "date"]


@pytest.mark.parametrize("text,where,words", [
    ("id: stuk\nlabel: [unclosed\n", "line 3, column 1", "not valid YAML"),
    ("id: stuk\nid: stuk\n", "line 2, column 1", "the key 'id' is given twice"),
    ("- just\n- a list\n", "(record)", "expected fields id, image"),
])
def test_bad_yaml_names_the_place(tmp_path, text, where, words):
    lines = broken(tmp_path, text=text)
    assert any(where in line and words in line for line in lines), lines


def test_a_missing_transcript_is_named(tmp_path):
    path = write_record(tmp_path, "stuk", transcript=None)
    with pytest.raises(BrokenRecord, match=r"stuk.yaml: transcript.file: 'stuk.transcript.txt' "
                                           r"cannot be read: No such file"):
        parse_record(path, path.read_text("utf-8"))


def test_a_transcript_that_is_not_utf8_is_refused(tmp_path):
    write_record(tmp_path, "stuk", transcript=None)
    (tmp_path / "stuk.transcript.txt").write_bytes("caf\xe9".encode("latin-1"))
    path = tmp_path / "stuk.yaml"
    with pytest.raises(BrokenRecord, match=r"stuk.yaml: transcript.file: .* is not UTF-8"):
        parse_record(path, path.read_text("utf-8"))


# --------------------------------------------------------------------------- the collection


def test_the_collection_as_a_label_keeps_no_hierarchy():
    record = read_real(PHOTO)
    assert record.collection["en"] == ("Batavialand, project Nederlanders – Wereldburgers "
                                       "(Dutch – World Citizens)")
    assert record.hierarchy == ()


def test_the_collection_as_levels_from_the_top_down(tmp_path):
    levels = ["Batavialand", "Nieuw Land", "Wijkgericht Werken"]
    path = write_record(tmp_path, "stuk", record_data("stuk", collection=levels))
    record = parse_record(path, path.read_text("utf-8"))
    assert record.hierarchy == ("Batavialand", "Nieuw Land", "Wijkgericht Werken")
    assert record.collection.language_map() == {
        "nl": ["Batavialand, Nieuw Land, Wijkgericht Werken"],
        "en": ["Batavialand, Nieuw Land, Wijkgericht Werken"]}


@pytest.mark.parametrize("value,field,words", [
    ([], "collection", "expected 1 to 8 levels from the top down, got a list of 0"),
    ([f"Niveau {n}" for n in range(9)], "collection", "got a list of 9"),
    (["Batavialand", "  ", "Serie"], "collection[2]", "is empty"),
    (["Batavialand", {"nl": "x", "en": "y"}], "collection[2]", "expected text"),
    ("Batavialand", "collection", "or a list of levels from the top down"),
])
def test_a_bad_hierarchy_is_named(tmp_path, value, field, words):
    lines = broken(tmp_path, record_data("stuk", collection=value))
    assert any(line.startswith(f"stuk.yaml: {field}: ") and words in line for line in lines), lines


def test_max_size_is_read_for_later_use(tmp_path):
    path = write_record(tmp_path, "stuk", record_data("stuk", max_size=1200))
    assert parse_record(path, path.read_text("utf-8")).max_size == 1200


# --------------------------------------------------------------------------- the store


def sizes(known: dict[str, tuple[int, int]]):
    def image_size(identifier: str) -> tuple[int, int]:
        if identifier not in known:
            raise NotFound(f"no image with identifier {identifier!r}.")
        return known[identifier]
    return image_size


def touch_later(path: Path) -> None:
    """Make an edit visible even on file systems with coarse timestamps."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "manifests"
    path.mkdir()
    write_record(path, "een")
    write_record(path, "twee")
    return path


def test_the_store_lists_records_only(folder):
    (folder / "notities.txt").write_text("geen record", "utf-8")
    (folder / ".een.yaml.swp").write_text("editor", "utf-8")
    store = RecordStore(folder, sizes({}))
    assert store.items() == ["een", "twee"]
    assert RecordStore(folder / "ontbreekt", sizes({})).items() == []


def test_a_broken_record_leaves_the_others_alone(folder):
    (folder / "twee.yaml").write_text("id: twee\nlabel: [\n", "utf-8")
    store = RecordStore(folder, sizes({"een": (1200, 800), "twee": (1200, 800)}))
    valid, broken_records = store.load_all()
    assert [record.item for record in valid] == ["een"]
    assert "twee.yaml: line 3, column 1: not valid YAML" in broken_records[0].message
    with pytest.raises(BrokenRecord):
        store.load("twee")
    with pytest.raises(NotFound):
        store.load("drie")


def test_the_image_is_checked_on_every_load(folder):
    known = {"een": (1200, 800)}
    store = RecordStore(folder, sizes(known))
    assert store.load("een").item == "een"
    with pytest.raises(BrokenRecord, match=r"twee.yaml: image: no image with identifier 'twee'"):
        store.load("twee")
    known["een"] = (1000, 800)  # the image was replaced by a narrower one
    with pytest.raises(BrokenRecord, match=r"een.yaml: people\[2\].xywh: \[800, 100, 350, 650\] "
                                           r"reaches outside the 1000×800 image 'een'"):
        store.load("een")


def test_an_unreadable_image_is_named(folder):
    def image_size(identifier):
        raise SourceError("Source image 'een.jpg' cannot be read: truncated")
    with pytest.raises(BrokenRecord, match=r"een.yaml: image: Source image 'een.jpg' cannot be read"):
        RecordStore(folder, image_size).load("een")


def test_edits_are_picked_up_and_unchanged_records_come_from_the_cache(folder, monkeypatch):
    store = RecordStore(folder, sizes({"een": (1200, 800), "twee": (1200, 800)}))
    parsed = []
    real_parse = records_module.parse_record
    monkeypatch.setattr(records_module, "parse_record",
                        lambda path, text, file=None: parsed.append(path.name) or real_parse(path, text, file))
    assert store.load("een").summary["en"] == "Left: Anna de Vries. Right: Piet Jansen"
    store.load("een")
    assert parsed == ["een.yaml"]

    data = record_data("een", summary={"nl": "Nieuw bijschrift", "en": "New caption"})
    write_record(folder, "een", data, transcript=None)
    touch_later(folder / "een.yaml")
    assert store.load("een").summary["en"] == "New caption"

    (folder / "een.transcript.txt").write_text("Alleen deze alinea.\n", "utf-8")
    touch_later(folder / "een.transcript.txt")
    assert store.load("een").transcript.paragraphs == ("Alleen deze alinea.",)
    assert parsed == ["een.yaml"] * 3


def test_fixing_a_broken_transcript_is_picked_up(folder):
    store = RecordStore(folder, sizes({"een": (1200, 800)}))
    (folder / "een.transcript.txt").unlink()
    with pytest.raises(BrokenRecord, match="transcript.file"):
        store.load("een")
    (folder / "een.transcript.txt").write_text(TRANSCRIPT, "utf-8")
    assert len(store.load("een").transcript.paragraphs) == 3


# --------------------------------------------------------------------------- beeldpost check


@pytest.fixture
def check_env(tmp_path, monkeypatch, folder):
    images = tmp_path / "images"
    images.mkdir()
    for item in ("een", "twee"):
        make_jpeg(images / f"{item}.jpg", 1200, 800)
    monkeypatch.setenv("BEELDPOST_IMAGES", str(images))
    monkeypatch.setenv("BEELDPOST_MANIFESTS", str(folder))
    monkeypatch.setenv("BEELDPOST_CACHE", str(tmp_path / "cache"))
    return folder


def test_check_passes_on_good_records(check_env, capsys):
    assert cli.main(["check"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2 of 2 records" in captured.err


def test_check_prints_one_line_per_problem_and_fails(check_env, capsys):
    data = record_data("twee", rights="https://creativecommons.org/publicdomain/zero/1.0/")
    data["people"][0]["xywh"] = [1000, 0, 500, 100]
    write_record(check_env, "twee", data)
    (check_env / "drie.yaml").write_text("id: drie\n\tlabel: x\n", "utf-8")
    assert cli.main(["check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("drie.yaml: line 2, column 1: not valid YAML")
    assert lines[1] == ("twee.yaml: rights: 'https://creativecommons.org/publicdomain/zero/1.0/' "
                        "must use http://, not https:// (IIIF and aggregators such as Europeana "
                        "require the http form)")
    assert len(lines) == 2  # the region is only checked once the record itself is sound


def test_check_finds_regions_outside_the_image(check_env, capsys):
    data = record_data("twee")
    data["people"][0]["xywh"] = [1000, 0, 500, 100]
    write_record(check_env, "twee", data)
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "twee.yaml: people[1].xywh: [1000, 0, 500, 100] reaches outside the 1200×800 image 'twee'"
    ]

