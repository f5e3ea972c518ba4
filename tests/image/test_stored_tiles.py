"""Interior tiles are served as the stored JPEG itself, spliced with its tables."""

from __future__ import annotations

import io

import pyvips
import pytest
from PIL import Image, ImageChops

from beeldpost import create_app
from beeldpost.image.stored_tiles import StoredTiles, read_tile_indexes


@pytest.fixture
def photo_app(tmp_path):
    """A textured 2000×1500 image: several levels, interior and edge tiles."""
    images = tmp_path / "images"
    images.mkdir()
    noise = pyvips.Image.gaussnoise(2000, 1500, mean=128, sigma=40)
    gradient = pyvips.Image.xyz(2000, 1500)[0] / 8
    picture = (noise.bandjoin([gradient, noise.rot180()])).cast("uchar").copy(interpretation="srgb")
    picture.jpegsave(str(images / "photo.jpg"), Q=90)
    return create_app({"images_dir": images, "cache_dir": tmp_path / "cache"})


def derivative_of(app):
    app.extensions["beeldpost.catalogue"].current()  # as a request does first
    images = app.extensions["beeldpost.images"]
    return images.resolve("photo").pyramid.path


def test_tile_indexes_match_libvips(photo_app):
    path = derivative_of(photo_app)
    levels = read_tile_indexes(path)
    assert [(level.width, level.height) for level in levels] == [
        (2000, 1500), (1000, 750), (500, 375), (250, 187)]
    assert levels[0].columns == 8 and len(levels[0].offsets) == 8 * 6


@pytest.mark.parametrize("url,level,column,row", [
    ("0,0,256,256/256,", 0, 0, 0),
    ("512,768,256,256/256,", 0, 2, 3),
    ("512,512,512,512/256,256", 1, 1, 1),
    ("0,0,1024,1024/256,", 2, 0, 0),
])
def test_interior_tiles_are_the_stored_bytes(photo_app, url, level, column, row):
    client = photo_app.test_client()
    response = client.get(f"/iiif/3/photo/{url}/0/default.jpg")
    assert response.status_code == 200
    stored = StoredTiles().jpeg(derivative_of(photo_app), level, column, row)
    assert response.data == stored
    spliced = Image.open(io.BytesIO(response.data))
    assert spliced.size == (256, 256) and spliced.mode == "RGB"
    # The same pixels libvips decodes from the TIFF at that place.
    page = pyvips.Image.new_from_file(str(derivative_of(photo_app)), page=level)
    expected = page.crop(column * 256, row * 256, 256, 256)
    reference = Image.frombytes("RGB", (256, 256), expected.write_to_memory())
    difference = ImageChops.difference(spliced.convert("RGB"), reference)
    assert max(high for _, high in difference.getextrema()) <= 3


@pytest.mark.parametrize("url", [
    "1792,0,208,256/208,/0/default.jpg",  # edge tile: stored padded
    "0,0,256,256/256,/90/default.jpg",
    "0,0,256,256/256,/0/gray.jpg",
    "0,0,256,256/256,/0/default.png",
    "0,0,256,256/128,/0/default.jpg",
    "10,0,256,256/256,/0/default.jpg",  # not aligned
])
def test_everything_else_is_rendered(photo_app, url):
    client = photo_app.test_client()
    response = client.get(f"/iiif/3/photo/{url}")
    assert response.status_code == 200
    # Rendered, not passed through: encoded at the served quality (85), not the stored 88.
    if url.endswith(".jpg"):
        assert quantization(response.data) == quantization(jpeg_at(85))
        assert quantization(response.data) != quantization(jpeg_at(88))


def jpeg_at(quality: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def quantization(data: bytes) -> list[int]:
    return list(Image.open(io.BytesIO(data)).quantization[0])  # the luma table
