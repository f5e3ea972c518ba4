"""An item whose image the public sees nothing of (staff only, or closed) shows a clear
"not public" picture wherever its image would be, on its pages and as its manifest's
thumbnail, never a broken image: its description stays public."""

from __future__ import annotations

import pytest

from beeldpost import create_app

from support.presentation import make_jpeg, record_data, write_record


@pytest.fixture
def app(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    for item, fields in (("dicht", {"access": "staff"}), ("open-stuk", {}),
                         ("gesloten", {"restricted_until": "2049-01-01"})):
        make_jpeg(images / f"{item}.jpg", 2400, 1600)
        write_record(manifests, item, record_data(item, people=None, **fields))
    return create_app({"images_dir": images, "manifests_dir": manifests,
                       "cache_dir": tmp_path / "cache", "journal_interval": 0})


@pytest.mark.parametrize("item", ["dicht", "gesloten"])
def test_a_withheld_item_shows_the_not_public_picture(app, item):
    client = app.test_client()
    manifest = client.get(f"/iiif/manifests/{item}").get_json()
    [thumbnail] = manifest["thumbnail"]
    assert thumbnail["id"] == "http://localhost/static/not-public.svg"
    assert thumbnail["format"] == "image/svg+xml" and "service" not in thumbnail
    picture = client.get("/static/not-public.svg")
    assert picture.status_code == 200 and picture.mimetype == "image/svg+xml"
    assert b"Niet openbaar" in picture.data and b"Not public" in picture.data
    page = client.get(f"/items/{item}").get_data(as_text=True)
    assert "/static/not-public.svg" in page
    assert f"/iiif/3/{item}/full/" not in page  # no image URL that would answer 401
    home = client.get("/").get_data(as_text=True)
    assert "/static/not-public.svg" in home and "/iiif/3/open-stuk/full/" in home
    # Its description is public all the same.
    assert manifest["label"]["en"] == [record_data(item)["label"]["en"]]


def test_an_open_item_keeps_its_own_thumbnail(app):
    manifest = app.test_client().get("/iiif/manifests/open-stuk").get_json()
    assert manifest["thumbnail"][0]["id"].startswith("http://localhost/iiif/3/open-stuk/full/")


def test_a_withheld_item_s_page_shows_no_transcript(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    for item, fields in (("dicht", {"access": "staff"}), ("open-stuk", {})):
        make_jpeg(images / f"{item}.jpg", 1200, 800)
        write_record(manifests, item, record_data(item, people=None, **fields),
                     transcript=f"Het geheime woord van {item} is zeldzaamheid.\n")
    client = create_app({"images_dir": images, "manifests_dir": manifests,
                         "cache_dir": tmp_path / "cache", "journal_interval": 0}).test_client()
    assert "zeldzaamheid" in client.get("/items/open-stuk").get_data(as_text=True)
    closed = client.get("/items/dicht").get_data(as_text=True)
    assert "zeldzaamheid" not in closed and "transcript.txt" not in closed
