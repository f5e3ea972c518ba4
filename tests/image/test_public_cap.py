"""A rights-aware size cap bounds the effective resolution, not just the output size."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from beeldpost import create_app

from support.pictures import RECORD, textured
from support.validator import VALIDATOR_IDENTIFIER

@pytest.fixture
def capped(tmp_path, validator_png):
    images, records = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    records.mkdir()
    textured(3200, 2000).jpegsave(str(images / "capped.jpg"), Q=92)
    (images / validator_png.name).write_bytes(validator_png.read_bytes())
    (records / "capped.yaml").write_text(RECORD.format(extra="max_size: 800"))
    app = create_app({"images_dir": images, "manifests_dir": records, "cache_dir": tmp_path / "c"})
    return app.test_client(), records


def picture(response) -> Image.Image:
    assert response.status_code == 200, response.data
    return Image.open(io.BytesIO(response.data)).convert("RGB")


def test_info_describes_the_capped_image(capped):
    client, _ = capped
    info = client.get("/iiif/3/capped/info.json").get_json()
    assert (info["width"], info["height"]) == (800, 500)
    assert (info["maxWidth"], info["maxHeight"]) == (800, 500)
    assert info["tiles"][0]["scaleFactors"] == [1, 2, 4]
    assert all(size["width"] <= 800 for size in info["sizes"])
    v2 = client.get("/iiif/2/capped/info.json").get_json()
    assert (v2["width"], v2["height"]) == (800, 500)
    assert v2["profile"][1]["maxWidth"] == 800


def test_nothing_finer_than_the_cap_is_served(capped):
    client, _ = capped
    assert picture(client.get("/iiif/3/capped/full/max/0/default.png")).size == (800, 500)
    # Upscaling past the cap, sizes above it, regions past the capped image: all refused.
    assert picture(client.get("/iiif/3/capped/full/^max/0/default.png")).size == (800, 500)
    for path in ("full/^1600,", "full/801,", "full/^pct:200", "900,0,100,100/max",
                 "3000,1900,100,100/max"):
        response = client.get(f"/iiif/3/capped/{path}/0/default.jpg")
        assert response.status_code == 400, path
    assert client.get("/iiif/2/capped/full/1600,/0/default.jpg").status_code == 400
    # A full-resolution tile of the capped image holds the capped image's detail: the same
    # pixels as that corner of the whole capped image, not the scan's 4× finer detail.
    tile = picture(client.get("/iiif/3/capped/0,0,256,256/256,/0/default.png"))
    corner = picture(client.get("/iiif/3/capped/full/max/0/default.png")).crop((0, 0, 256, 256))
    difference = ImageChops.difference(tile, corner)
    assert sum(sum(band.getdata()) for band in difference.split()) / (256 * 256 * 3) < 6
    scan_corner = textured(3200, 2000).crop(0, 0, 256, 256)
    scan = Image.frombytes("RGB", (256, 256), scan_corner.write_to_memory())
    raw = ImageChops.difference(tile, scan)
    assert sum(sum(band.getdata()) for band in raw.split()) / (256 * 256 * 3) > 20


def test_the_canvas_keeps_the_full_coordinates(capped):
    client, _ = capped
    manifest = client.get("/iiif/manifests/capped").get_json()
    [canvas] = manifest["items"]
    assert (canvas["width"], canvas["height"]) == (3200, 2000)
    body = canvas["items"][0]["items"][0]["body"]
    assert (body["width"], body["height"]) == (800, 500)


def test_unrestricted_images_keep_full_size(capped):
    client, _ = capped
    info = client.get(f"/iiif/3/{VALIDATOR_IDENTIFIER}/info.json").get_json()
    assert (info["width"], info["height"]) == (1000, 1000)
    assert "maxWidth" not in info


def test_per_item_limits_from_the_record(tmp_path, capped):
    client, records = capped
    (records / "capped.yaml").write_text(RECORD.format(extra="max_width: 600\nmax_area: 200000"))
    import time

    time.sleep(2.1)  # policies are re-read within two seconds of a record change
    info = client.get("/iiif/3/capped/info.json").get_json()
    assert (info["width"], info["height"]) == (3200, 2000)
    assert info["maxWidth"] == 600 and info["maxArea"] == 200_000
    assert picture(client.get("/iiif/3/capped/full/max/0/default.jpg")).size[0] <= 600
    assert client.get("/iiif/3/capped/full/700,/0/default.jpg").status_code == 400
