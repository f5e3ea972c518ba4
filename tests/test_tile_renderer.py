"""Small JPEG answers from stored tiles (Pillow) match libvips' render of the same request."""

from __future__ import annotations

import io

import pytest
import pyvips
from PIL import Image, ImageChops, ImageStat

from server.config import Settings
from server.images import ImageService
from server.parameters import parse_image_request
from server.processor import render
from server.tile_renderer import render_from_tiles, within_tile_limit

from test_public_cap import textured


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiles")
    (root / "images").mkdir()
    textured(2000, 1300).jpegsave(str(root / "images" / "photo.jpg"), Q=92)
    return ImageService(Settings.of(images_dir=root / "images", cache_dir=root / "cache"))


def operations(service, path: str):
    region, size, rotation, quality_format = path.split("/")
    image = service.resolve("photo")
    return image, service.operations(image, parse_image_request(region, size, rotation,
                                                                quality_format, 3))


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("path", [
    "1792,0,208,256/208,/0/default.jpg",        # edge tile of the full-size level
    "1792,1024,208,276/208,/0/color.jpg",       # corner tile
    "1024,1024,976,276/244,/0/default.jpg",     # edge tile, scale factor 4
    "full/!200,200/0/default.jpg",              # thumbnail: a few tiles, resized
    "full/max/0/default.jpg",                   # 2000×1300, 48 tiles as stored
    "full/1500,/0/default.jpg",                 # 48 tiles resized: not this path
    "100,100,700,500/350,/0/default.jpg",       # across tiles at level 1
    "100,100,1024,1024/max/0/default.jpg",      # 25 tiles as stored
])
def test_same_picture_as_libvips(service, path):
    image, ops = operations(service, path)
    settings = service.settings
    ours = render_from_tiles(service.stored_tiles, image.pyramid, ops, settings.tile_size,
                             settings.jpeg_quality)
    if not within_tile_limit(image.pyramid, ops, settings.tile_size):
        assert ours is None
        return
    assert ours is not None and ours.startswith(b"\xff\xd8")
    theirs = render(lambda index: service.opened.level(image.pyramid, index), image.pyramid, ops,
                    settings.jpeg_quality)
    ours_image, theirs_image = decoded(ours), decoded(theirs)
    assert ours_image.size == theirs_image.size == (ops.width, ops.height)
    difference = ImageStat.Stat(ImageChops.difference(ours_image, theirs_image)).mean
    assert max(difference) < 2.5, difference  # two JPEG encodes of the same pixels


@pytest.mark.parametrize("path", [
    "1792,0,208,256/208,/0/gray.jpg",
    "1792,0,208,256/208,/90/default.jpg",
    "1792,0,208,256/208,/!0/default.jpg",
    "1792,0,208,256/208,/0/default.png",
    "300,300,90,60/^180,120/0/default.jpg",  # upscaled: the kernels differ
])
def test_other_requests_are_left_to_libvips(service, path):
    image, ops = operations(service, path)
    assert render_from_tiles(service.stored_tiles, image.pyramid, ops, 256, 85) is None


def test_the_service_uses_it_and_falls_back_on_damage(service, monkeypatch):
    image, ops = operations(service, "1792,0,208,256/208,/0/default.jpg")
    calls = []
    real = service.stored_tiles.jpeg

    def damaged(*arguments):
        calls.append(arguments)
        return real(*arguments)[:200]  # a truncated tile: Pillow fails, libvips answers

    monkeypatch.setattr(service.stored_tiles, "jpeg", damaged)
    answer = service.render(image, ops)
    assert calls and decoded(answer).size == (208, 256)
    monkeypatch.undo()
    assert pyvips.Image.new_from_buffer(service.render(image, ops), "").width == 208
