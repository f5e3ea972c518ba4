"""What a shared cache needs (http/cdn.py): s-maxage on images and info.json, and a tag
per image and per item on every answer about them, the same on 200 and 304."""

from __future__ import annotations

import shutil
from urllib.parse import quote

import pytest

from beeldpost import create_app

from support.paths import IMAGES, MANIFESTS
from support.presentation import make_jpeg

PHOTO = "wijkgericht-werken-1999"


@pytest.fixture
def client(tmp_path):
    shutil.copytree(MANIFESTS, tmp_path / "manifests", ignore=shutil.ignore_patterns("sources"))
    shutil.copytree(IMAGES, tmp_path / "images")
    make_jpeg(tmp_path / "images" / "scan 12,b.jpg", 640, 480)
    return create_app({"images_dir": tmp_path / "images", "manifests_dir": tmp_path / "manifests",
                       "cache_dir": tmp_path / "cache", "shared_max_age": 604800}).test_client()


@pytest.mark.parametrize("path", [
    f"/iiif/3/{PHOTO}/info.json",
    f"/iiif/2/{PHOTO}/info.json",
    f"/iiif/3/{PHOTO}/full/400,/0/default.jpg",
    f"/iiif/3/{PHOTO}/0,0,256,256/256,/0/default.jpg",
])
def test_images_say_how_long_a_shared_cache_keeps_them_and_name_their_image(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    assert "s-maxage=604800" in answer.headers["Cache-Control"]
    assert "public" in answer.headers["Cache-Control"]
    assert answer.headers["Surrogate-Key"] == f"image-{PHOTO}"
    assert answer.headers["Cache-Tag"] == f"image-{PHOTO}"
    again = client.get(path, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Surrogate-Key"] == f"image-{PHOTO}"


def test_vary_names_only_what_the_answer_varies_by(client):
    """A shared cache keeps one copy per Vary value: an image's bytes depend on its URL
    alone, while info.json's media type follows `Accept` and its encoding follows
    `Accept-Encoding`."""
    tile = f"/iiif/3/{PHOTO}/0,0,256,256/256,/0/default.jpg"
    answers = [client.get(tile, headers={"Accept": accept})
               for accept in ("image/avif,image/webp,*/*", "image/jpeg", "")]
    assert len({answer.get_data() for answer in answers}) == 1
    assert len({answer.headers["ETag"] for answer in answers}) == 1
    assert all("Vary" not in answer.headers for answer in answers)
    info = f"/iiif/3/{PHOTO}/info.json"
    plain, linked = client.get(info), client.get(info, headers={"Accept": "application/ld+json"})
    assert plain.headers["Content-Type"] != linked.headers["Content-Type"]
    assert {"Accept", "Accept-Encoding"} <= {v.strip() for v in plain.headers["Vary"].split(",")}


def test_a_tag_holds_no_space_or_comma(client):
    identifier = "scan 12,b"
    answer = client.get(f"/iiif/3/{quote(identifier)}/info.json")
    assert answer.status_code == 200
    assert answer.headers["Surrogate-Key"] == "image-scan%2012%2Cb"
    assert answer.headers["Cache-Tag"] == "image-scan%2012%2Cb"


@pytest.mark.parametrize("path", [
    f"/iiif/manifests/{PHOTO}", f"/iiif/manifests/{PHOTO}/v2", f"/iiif/manifests/{PHOTO}/canvas",
    f"/items/{PHOTO}", f"/items/{PHOTO}/uv", f"/items/{PHOTO}/transcript.txt",
    f"/iiif/manifests/{PHOTO}/edm.xml",
])
def test_an_item_s_documents_name_the_item_and_its_image(client, path):
    answer = client.get(path)
    assert answer.status_code == 200, path
    assert set(answer.headers["Surrogate-Key"].split()) == {f"item-{PHOTO}", f"image-{PHOTO}"}
    assert set(answer.headers["Cache-Tag"].split(",")) == {f"item-{PHOTO}", f"image-{PHOTO}"}


def test_lists_carry_no_item_tag(client):
    assert "Surrogate-Key" not in client.get("/iiif/collection").headers
    assert "Surrogate-Key" not in client.get("/").headers
