"""An image whose records withhold it from the public (their access tier, catalogue/
tiers.py) and give it no cap to show instead is answered 401 on every Image API path:
info.json and image requests, 3.0 and 2.1, stored tiles, `full/max`, `pct:`, `^`
upscales, and renders the response cache already holds. With a cap, the public sees
the image up to its cap, as before. A closure holds until its day, and then the image
is open, with no edit. (Who may see more, once signed in, comes from the HTTP layer
above: these are the answers to the anonymous.)"""

from __future__ import annotations

import datetime

import pytest

from beeldpost import create_app
from beeldpost.catalogue import lookups as lookups_module

from support.presentation import make_jpeg, record_data, write_record

PATHS = [
    "/iiif/3/{id}/info.json", "/iiif/2/{id}/info.json",
    "/iiif/3/{id}/0,0,256,256/256,/0/default.jpg",  # a stored tile at scale factor 1
    "/iiif/3/{id}/full/max/0/default.jpg", "/iiif/2/{id}/full/full/0/default.jpg",
    "/iiif/3/{id}/pct:10,10,50,50/max/0/default.png", "/iiif/3/{id}/full/^3000,/0/default.jpg",
    "/iiif/3/{id}/full/!200,200/0/default.jpg", "/iiif/2/{id}/full/pct:50/90/gray.jpg",
]


@pytest.fixture
def archive(tmp_path, catalogue_settings):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "journal_interval": 0,
                      **catalogue_settings})
    return app, images, manifests


def publish(images, manifests, item: str, **fields) -> None:
    make_jpeg(images / f"{item}.jpg", 2400, 1600)
    write_record(manifests, item, record_data(item, **{"people": None, **fields}))


@pytest.mark.parametrize("fields", [
    {"access": "staff"},
    {"access": "medewerkers", "max_size": 800},  # staff only: not even the cap
    {"access": "studiezaal"},
    {"access": "clickthrough"},
    {"restricted_until": "2049-01-01"},  # closed: staff only, whatever the tier
    {"access": "capped", "max_size": 800, "restricted_until": 2049},
], ids=lambda fields: ",".join(f"{key}={value}" for key, value in fields.items()))
def test_a_withheld_image_gives_the_public_nothing_on_any_path(archive, fields):
    app, images, manifests = archive
    client = app.test_client()
    publish(images, manifests, "open-stuk")
    for path in PATHS:  # first as an open item: every answer made and kept
        assert client.get(path.format(id="open-stuk")).status_code == 200, path
    publish(images, manifests, "dicht", **fields)
    for path in PATHS:
        answer = client.get(path.format(id="dicht"))
        assert answer.status_code == 401, (path, answer.status_code)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert b"is not public" in answer.data and not answer.data.startswith(b"\xff\xd8")
    # The metadata stays public.
    assert client.get("/iiif/manifests/dicht").status_code == 200


def test_an_item_that_becomes_withheld_is_refused_even_where_answers_were_kept(archive):
    app, images, manifests = archive
    client = app.test_client()
    publish(images, manifests, "stuk")
    for path in PATHS:
        assert client.get(path.format(id="stuk")).status_code == 200, path
    publish(images, manifests, "stuk", access="staff")
    app.extensions["beeldpost.images"]._policies.clear()  # (kept 2 s per worker)
    for path in PATHS:
        assert client.get(path.format(id="stuk")).status_code == 401, path


def test_with_a_cap_the_public_sees_up_to_the_cap(archive):
    app, images, manifests = archive
    client = app.test_client()
    publish(images, manifests, "studiezaal-stuk", access="reading-room", max_size=800)
    info = client.get("/iiif/3/studiezaal-stuk/info.json").get_json()
    assert (info["width"], info["height"]) == (800, 533)
    assert client.get("/iiif/3/studiezaal-stuk/full/max/0/default.jpg").status_code == 200
    assert client.get("/iiif/3/studiezaal-stuk/full/1000,/0/default.jpg").status_code == 400


def test_a_closure_holds_until_its_day_then_the_image_is_open(archive, monkeypatch):
    app, images, manifests = archive
    client = app.test_client()
    day = [datetime.date(2048, 12, 31)]
    monkeypatch.setattr(lookups_module, "today", lambda: day[0])
    publish(images, manifests, "tot-2049", restricted_until="2049-01-01")
    assert client.get("/iiif/3/tot-2049/info.json").status_code == 401
    day[0] = datetime.date(2049, 1, 1)
    app.extensions["beeldpost.images"]._policies.clear()  # (kept 2 s per worker)
    info = client.get("/iiif/3/tot-2049/info.json")
    assert info.status_code == 200 and info.get_json()["width"] == 2400


def test_records_of_withheld_images_are_still_checked_against_them(tmp_path, capsys,
                                                                  monkeypatch):
    """Checking a record against its image (people's regions, sizes) reads the image
    whatever the record withholds: an edited record of a staff-only item, not yet
    scanned, is served from its file (not a 422 saying the image is not public), and
    `beeldpost check` finds nothing wrong with it."""
    from beeldpost import cli

    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    publish(images, manifests, "dicht", access="staff",
            people=[{"name": "Iemand", "xywh": [10, 10, 200, 300]}])
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": tmp_path / "cache", "journal_interval": 3600})
    client = app.test_client()
    assert client.get("/iiif/manifests/dicht").status_code == 200  # (the first scan)
    write_record(manifests, "dicht", record_data(
        "dicht", people=[{"name": "Iemand Anders", "xywh": [10, 10, 200, 300]}],
        access="staff", label={"nl": "Bewerkt", "en": "Edited"}))
    answer = client.get("/iiif/manifests/dicht")  # not scanned yet: from the file
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["label"]["en"] == ["Edited"]
    assert client.get("/iiif/3/dicht/info.json").status_code == 401
    for name, value in (("BEELDPOST_IMAGES", images), ("BEELDPOST_MANIFESTS", manifests),
                        ("BEELDPOST_CACHE", tmp_path / "cache")):
        monkeypatch.setenv(name, str(value))
    assert cli.main(["check"]) == 0, capsys.readouterr()
