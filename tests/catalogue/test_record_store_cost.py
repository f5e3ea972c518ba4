"""The record store's cost per request does not grow with the square of the items: a
collection of a few hundred items lists the records folder a few times, not once per
item, and parses each record at most once while its file stays the same."""

from __future__ import annotations

import os

import pytest

from beeldpost import create_app
from beeldpost.catalogue import records as records_module
from beeldpost.catalogue.records import RecordStore

from support.presentation import make_jpeg, record_data, write_record

ITEMS = 400


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("many-records")
    images, manifests = root / "images", root / "manifests"
    images.mkdir()
    manifests.mkdir()
    for number in range(ITEMS):
        item = f"stuk-{number:04d}"
        make_jpeg(images / f"{item}.jpg", 320, 240)
        write_record(manifests, item, record_data(item, image=item, people=None))
    app = create_app({"images_dir": images, "manifests_dir": manifests, "cache_dir": root / "cache",
                      "viewers_dir": root / "no-viewers"})
    client = app.test_client()
    assert client.get("/iiif/collection").status_code == 200  # derivatives built, records read
    return client


@pytest.fixture
def counted(monkeypatch):
    counts = {"listings": 0, "parses": 0}
    real_listdir, real_read = os.listdir, RecordStore._read

    def listdir(path):
        counts["listings"] += 1
        return real_listdir(path)

    def read(self, path):
        counts["parses"] += 1
        return real_read(self, path)

    monkeypatch.setattr(records_module.os, "listdir", listdir)
    monkeypatch.setattr(RecordStore, "_read", read)
    return counts


def test_the_collection_lists_the_folder_a_few_times_and_parses_nothing_again(archive, counted):
    collection = archive.get("/iiif/collection").get_json()
    assert len(collection["items"]) == ITEMS
    assert counted["parses"] == 0  # every record file is as it was
    assert counted["listings"] <= 3  # not once per item (it was 2 per item, and quadratic)


def test_a_manifest_lists_no_folder_and_parses_only_its_own_changed_record(archive, counted, tmp_path):
    folder = archive.application.config["BEELDPOST"].manifests_dir
    path = folder / "stuk-0007.yaml"
    path.write_text(path.read_text("utf-8").replace("Proefstuk", "Ander proefstuk"), "utf-8")
    os.utime(path, ns=(1, 1))  # a stamp of its own, however fast the edit
    answer = archive.get("/iiif/manifests/stuk-0007")
    assert answer.status_code == 200
    assert counted["parses"] == 1
    assert counted["listings"] <= 1  # at most the records the image policy looks up
    assert archive.get("/iiif/manifests/nothing-here").status_code == 404
