"""A pyramid keeps its edge tiles cut: the same bytes as re-cutting them, without a decode."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest
import pyvips
from PIL import Image

from beeldpost import create_app
from beeldpost.image.derivatives import DerivativeStore, append_edge_tiles
from beeldpost.image.parameters import parse_image_request
from beeldpost.image.plan import FROM_TILES, STORED_EDGE, STORED_TILE
from beeldpost.image.service import ImageService
from beeldpost.image.stored_edges import FOOTER, edge_positions, read_edges
from beeldpost.image.stored_tiles import StoredTiles, read_tile_indexes
from beeldpost.image.tile_renderer import render_from_tiles
from beeldpost.settings import Settings

from support.pictures import textured

WIDTH, HEIGHT = 3000, 2000  # levels 3000×2000, 1500×1000, 750×500, 375×250, 188×125


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    (root / "images").mkdir()
    textured(WIDTH, HEIGHT).jpegsave(str(root / "images" / "photo.jpg"), Q=90)
    return root


@pytest.fixture(scope="module")
def service(folders):
    return ImageService(Settings.of(images_dir=folders / "images", cache_dir=folders / "cache"))


def planned(service, path: str, version: int = 3):
    region, size, rotation, quality_format = path.split("/")
    image = service.resolve("photo")
    ops = service.operations(image, parse_image_request(region, size, rotation, quality_format,
                                                        version))
    return service.plan(image, ops, ops.canonical_path(version))


def edge_urls(levels, tile: int = 256):
    """What a deep-zoom viewer asks for each edge tile of each level: the region at full
    resolution, its width at the level's scale."""
    for level, index in enumerate(levels):
        scale = 1 << level
        for column, row, width, height in edge_positions(index.width, index.height, index.tile_width, index.tile_height):
            x, y = column * tile * scale, row * tile * scale
            region_w = min(tile * scale, WIDTH - x)
            region_h = min(tile * scale, HEIGHT - y)
            yield level, column, row, (width, height), f"{x},{y},{region_w},{region_h}/{width},/0/default.jpg"


def test_the_edges_of_every_level_are_kept_cut(service):
    path = service.resolve("photo").pyramid.path
    levels = read_tile_indexes(path)
    assert [(level.width, level.height) for level in levels][:3] == [(3000, 2000), (1500, 1000), (750, 500)]
    edges = read_edges(lambda offset, length: path.read_bytes()[offset:offset + length],
                       path.stat().st_size)
    assert edges is not None and edges.quality == service.settings.jpeg_quality
    expected = {(level, column, row) for level, index in enumerate(levels)
                for column, row, _w, _h in edge_positions(index.width, index.height, index.tile_width, index.tile_height)}
    # 3000 = 11×256 + 184, 2000 = 7×256 + 208: 12 + 8 - 1 edge tiles at full size, …
    assert sum(1 for level, _c, _r in expected if level == 0) == 12 + 8 - 1
    assert set(edges.places) == expected
    # The file is still the TIFF every reader knows (libvips, and so IIPImage's libtiff).
    for level, index in enumerate(levels):
        page = pyvips.Image.new_from_file(str(path), page=level, access="random")
        assert (page.width, page.height) == (index.width, index.height)
        assert page.crop(0, 0, 8, 8).avg() > 0
    assert DerivativeStore(service.settings.cache_dir).is_intact(path)


def test_an_edge_tile_is_the_bytes_a_re_cut_gives(service):
    path = service.resolve("photo").pyramid.path
    levels = read_tile_indexes(path)
    asked = list(edge_urls(levels))
    assert len(asked) > 30
    for level, column, row, size, url in asked:
        plan = planned(service, url)
        assert plan.renderer == STORED_EDGE and plan.tile == (level, column, row), url
        body, origin = service.answer(plan)
        assert origin == STORED_TILE, url
        recut = render_from_tiles(service.stored_tiles, plan.image.pyramid, plan.source_ops,
                                  plan.level, plan.box, 256, service.settings.jpeg_quality)
        assert body == recut, url  # not a pixel or a byte different from before
        assert Image.open(io.BytesIO(body)).size == size


@pytest.mark.parametrize("url, renderer", [
    ("2816,0,184,256/184,/0/default.jpg", STORED_EDGE),    # right edge, as viewers ask
    ("2816,0,184,256/184,256/0/default.jpg", STORED_EDGE),  # the same, both sizes given
    ("0,1792,256,208/256,/0/default.jpg", STORED_EDGE),     # bottom edge
    ("2816,1792,184,208/max/0/default.jpg", STORED_EDGE),   # the corner
    ("2816,0,184,256/92,/0/default.jpg", FROM_TILES),       # smaller: a resize
    ("2816,0,184,200/184,/0/default.jpg", FROM_TILES),      # part of the tile
    ("2817,0,183,256/183,/0/default.jpg", FROM_TILES),      # off the grid
    ("2816,0,184,256/184,/90/default.jpg", FROM_TILES),     # rotated (libvips, then)
    ("2816,0,184,256/184,/0/gray.jpg", FROM_TILES),         # grey
    ("2816,0,184,256/184,/0/default.png", FROM_TILES),      # PNG
    ("2816,0,184,256/184,/!0/default.jpg", FROM_TILES),     # mirrored
])
def test_only_an_edge_tile_as_it_is_takes_it(service, url, renderer):
    plan = planned(service, url)
    if renderer == STORED_EDGE:
        assert plan.renderer == STORED_EDGE
    else:
        assert plan.renderer != STORED_EDGE and plan.renderer != STORED_TILE


def copy_app(folders, tmp_path, **settings):
    """An app over a copy of the folders' derivative (the same content hash)."""
    shutil.copytree(folders / "cache", tmp_path / "cache")
    return ImageService(Settings.of(images_dir=folders / "images", cache_dir=tmp_path / "cache",
                                    **settings))


def drop_edges(path):
    """The pyramid as built before edges were kept: cut back to the TIFF, its sidecar too."""
    edges = read_edges(lambda offset, length: path.read_bytes()[offset:offset + length],
                       path.stat().st_size)
    end = min(offset for offset, _ in edges.places.values())
    os.truncate(path, end)
    sidecar = path.with_suffix(".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "bytes": end}))


def test_a_pyramid_built_before_is_re_cut_as_before(service, folders, tmp_path):
    older = copy_app(folders, tmp_path)
    path = older.resolve("photo").pyramid.path
    url = "2816,0,184,256/184,/0/default.jpg"
    kept, _ = service.answer(planned(service, url))
    drop_edges(path)
    older.stored_tiles.forget(path)  # as a worker that opens it afresh
    assert older.derivatives.is_intact(path)  # not rebuilt: it was good before
    plan = planned(older, url)
    assert plan.renderer == STORED_EDGE
    body, origin = older.answer(plan)
    assert origin != STORED_TILE and body == kept


def test_another_answer_quality_re_cuts(folders, tmp_path):
    other = copy_app(folders, tmp_path, jpeg_quality=70)
    plan = planned(other, "2816,0,184,256/184,/0/default.jpg")
    body, origin = other.answer(plan)
    assert origin != STORED_TILE
    assert body == render_from_tiles(other.stored_tiles, plan.image.pyramid, plan.source_ops,
                                     plan.level, plan.box, 256, 70)


@pytest.mark.parametrize("damage", ["magic", "index past the end", "an entry past the index",
                                    "cut short"])
def test_a_damaged_appendix_is_no_appendix(service, folders, tmp_path, damage):
    """Whatever is wrong at the end of the file, the tiles are re-cut, never misread."""
    path = service.resolve("photo").pyramid.path
    data = bytearray(path.read_bytes())
    index_offset, count, quality, magic = FOOTER.unpack(data[-FOOTER.size:])
    if damage == "magic":
        data[-1] ^= 0xFF
    elif damage == "index past the end":
        data[-FOOTER.size:] = FOOTER.pack(index_offset + 14, count, quality, magic)
    elif damage == "an entry past the index":
        data[index_offset + 6:index_offset + 14] = (index_offset + 1).to_bytes(8, "little")
    else:
        del data[-10:]
    assert read_edges(lambda offset, length: bytes(data[offset:offset + length]), len(data)) is None
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(bytes(data))
    tiles = StoredTiles()
    assert tiles.edge(damaged, 0, 11, 0, quality) is None
    assert tiles.jpeg(damaged, 0, 0, 0) == StoredTiles().jpeg(path, 0, 0, 0)  # interior still


def test_a_pyramid_without_spliceable_tiles_gets_no_appendix(tmp_path):
    """A TIFF of another kind (here deflate tiles) is left as it is."""
    path = tmp_path / "deflate.tif"
    textured(600, 400).tiffsave(str(path), tile=True, pyramid=True, compression="deflate")
    before = path.read_bytes()
    assert append_edge_tiles(path, 85) == 0
    assert path.read_bytes() == before


def test_through_http_an_edge_tile_is_a_stored_answer(folders, tmp_path):
    app = create_app({"images_dir": folders / "images", "cache_dir": tmp_path / "cache",
                      "response_cache": False})
    client = app.test_client()
    response = client.get("/iiif/2/photo/2816,1792,184,208/184,/0/default.jpg")
    assert response.status_code == 200
    assert response.headers["X-Beeldpost-Cache"] == STORED_TILE
    assert Image.open(io.BytesIO(response.data)).size == (184, 208)
    again = client.get("/iiif/2/photo/2816,1792,184,208/184,/0/default.jpg",
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
