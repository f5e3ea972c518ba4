"""The transcript of an item whose tier in force today is staff (its record says
`access: staff`, or it is closed until a date) is not public: its manifest (3.0 and
2.1) carries none of its text and no link to it, and every URL of it answers 401 with
a short text saying it is not public, while the item's metadata stays public. The
tiers that restrict only the image (capped, reading room, terms) keep their
transcripts public, as does an item whose closure has ended. On SQLite and
PostgreSQL (`catalogue_settings`)."""

from __future__ import annotations

import datetime
import json

import pytest

from support.presentation import assert_valid
from support.withheld import ITEMS, PUBLIC_TEXT, SHARED, WITHHELD, make_archive, move_day

BASE = "http://localhost"


def transcript_urls(item: str) -> list[str]:
    return [f"/items/{item}/transcript.txt", f"/items/{item}/transcript.html",
            f"/iiif/manifests/{item}/annotations/transcript",
            f"/iiif/manifests/{item}/annotations/transcript/1",
            f"/iiif/manifests/{item}/annotations/transcript/2",
            f"/iiif/manifests/{item}/v2/annotations/transcript"]


@pytest.fixture
def archive(tmp_path, catalogue_settings):
    return make_archive(tmp_path, catalogue_settings)


def assert_not_public(answer, url: str, head: bool = False) -> None:
    assert answer.status_code == 401, (url, answer.status_code)
    assert answer.mimetype == "text/plain"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    body = answer.get_data(as_text=True)
    assert body == "" if head else ("is not public" in body and SHARED not in body)


def test_a_withheld_transcript_is_401_on_every_url_and_missing_from_the_manifest(archive):
    client = archive.client
    for item in WITHHELD:
        word = ITEMS[item][1]
        for url in transcript_urls(item):
            assert_not_public(client.get(url), url)
            assert_not_public(client.head(url), url, head=True)
        for url in (f"/iiif/manifests/{item}", f"/iiif/manifests/{item}/v2"):
            answer = client.get(url)
            assert answer.status_code == 200, url
            text = answer.get_data(as_text=True)
            assert word not in text and SHARED not in text, url
            assert "transcript" not in text, url  # no link, no annotation page
        manifest = client.get(f"/iiif/manifests/{item}").get_json()
        assert_valid(manifest)
        assert "rendering" not in manifest
        pages = [page["id"].rsplit("/", 1)[1] for page in manifest["items"][0]["annotations"]]
        assert pages == ["people", "caption"]
        # Its metadata, and its other annotations, stay public.
        assert manifest["label"]["nl"] == [f"Proefstuk {item}"]
        assert manifest["summary"]["nl"] == ["Links: Anna de Vries. Rechts: Piet Jansen"]
        assert manifest["requiredStatement"]["value"]["nl"] == ["foto Jan Proef, bron Proefarchief"]
        assert manifest["rights"] == "http://rightsstatements.org/vocab/InC/1.0/"
        for part in ("annotations/people", "annotations/people/1", "annotations/caption", "canvas",
                     "v2/annotations/people"):
            assert client.get(f"/iiif/manifests/{item}/{part}").status_code == 200, part
        # A part that never was is still a 404.
        assert client.get(f"/iiif/manifests/{item}/annotations/nothing").status_code == 404


@pytest.mark.parametrize("item", PUBLIC_TEXT)
def test_the_tiers_that_restrict_only_the_image_keep_the_transcript_public(archive, item):
    """Open, capped, reading room (with and without a cap), terms, and a closure that
    ended in 2001: the transcript is served, linked and in the manifest as ever."""
    client = archive.client
    word = ITEMS[item][1]
    for url in transcript_urls(item):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        assert word in answer.get_data(as_text=True), url
    manifest = client.get(f"/iiif/manifests/{item}").get_json()
    assert_valid(manifest)
    assert [link["id"] for link in manifest["rendering"]] == [
        f"{BASE}/items/{item}/transcript.txt", f"{BASE}/items/{item}/transcript.html"]
    pages = [page["id"].rsplit("/", 1)[1] for page in manifest["items"][0]["annotations"]]
    assert pages == ["transcript", "people", "caption"]
    assert word in json.dumps(manifest)


def test_an_item_without_a_transcript_still_answers_404(archive):
    from support.presentation import record_data, write_record

    data = record_data("medewerkers-stuk", access="staff", transcript=None)
    write_record(archive.manifests, "medewerkers-stuk", data)
    client = archive.client
    assert client.get("/iiif/manifests/medewerkers-stuk").status_code == 200
    for url in transcript_urls("medewerkers-stuk"):
        assert client.get(url).status_code == 404, url


def test_a_closed_transcript_opens_on_its_day_without_an_edit(archive, monkeypatch):
    day = [datetime.date(2048, 12, 31)]
    move_day(monkeypatch, day)
    client = archive.client
    for url in transcript_urls("gesloten-stuk"):
        assert client.get(url).status_code == 401, url
    assert "rendering" not in client.get("/iiif/manifests/gesloten-stuk").get_json()
    day[0] = datetime.date(2049, 1, 1)
    archive.forget_policies()
    for url in transcript_urls("gesloten-stuk"):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert "walrus" in answer.get_data(as_text=True), url
    assert "rendering" in client.get("/iiif/manifests/gesloten-stuk").get_json()
    # Staff only stays staff only, whatever the day.
    assert client.get("/items/medewerkers-stuk/transcript.txt").status_code == 401


def test_an_item_made_staff_only_withholds_its_transcript_at_once(archive):
    client = archive.client
    assert client.get("/items/open-stuk/transcript.txt").status_code == 200
    archive.publish("open-stuk", {"access": "medewerkers"}, "kolibrie", image="open-stuk")
    for url in transcript_urls("open-stuk"):
        assert client.get(url).status_code == 401, url
    assert "kolibrie" not in client.get("/iiif/manifests/open-stuk").get_data(as_text=True)
