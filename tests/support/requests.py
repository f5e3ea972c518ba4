"""Image API requests of every kind, and the headers clients send with them.

Used by the tests that hold one answer to another: HEAD to GET, the ASGI front to
the WSGI app, at hand to on a thread.
"""

from __future__ import annotations

from .pictures import RECORD, textured
from .validator import VALIDATOR_IDENTIFIER

V = VALIDATOR_IDENTIFIER


def make_folders(tmp_path_factory, validator_png):
    """Images (a plain one, a rights-capped one, one with a space) and their records."""
    root = tmp_path_factory.mktemp("fast")
    images, records = root / "images", root / "manifests"
    images.mkdir()
    records.mkdir()
    textured(1200, 800).jpegsave(str(images / "capped.jpg"), Q=90)
    (images / validator_png.name).write_bytes(validator_png.read_bytes())
    (images / "een foto.png").write_bytes(validator_png.read_bytes())
    (records / "capped.yaml").write_text(RECORD.format(extra="max_size: 600"))
    return images, records, root / "cache"


IMAGE_REQUESTS = [
    f"/iiif/3/{V}/full/max/0/default.jpg",
    f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg",  # one stored tile, served as stored
    f"/iiif/2/{V}/0,0,512,512/256,/0/default.png",
    f"/iiif/3/{V}/square/!100,80/90/gray.webp",
    f"/iiif/2/{V}/pct:10,10,50,50/pct:20/!45/bitonal.gif",
    "/iiif/3/capped/full/max/0/default.jpg",  # rights-capped: 600 px public image
    "/iiif/3/capped/0,0,256,256/256,/0/default.jpg",
    "/iiif/2/capped/full/full/0/color.jpg",
    "/iiif/3/een%20foto/full/64,/0/default.jpg",  # escaped identifier
    # errors: bad grammar, unknown image, unsupported format, beyond the cap, bad UTF-8
    f"/iiif/3/{V}/full/full/0/default.jpg",
    f"/iiif/3/{V}/0,0,0,0/max/0/default.jpg",
    "/iiif/3/nothing-here/full/max/0/default.jpg",
    f"/iiif/3/{V}/full/max/0/default.jp2",
    "/iiif/3/capped/full/^1200,/0/default.jpg",
    "/iiif/3/%ff%fe/full/max/0/default.jpg",
    f"/iiif/2/{V}/full/full/0/default.jpg?junk=1&x",
]

INFO_REQUESTS = [f"/iiif/3/{V}/info.json", f"/iiif/2/{V}/info.json", "/iiif/3/capped/info.json",
                 "/iiif/2/capped/info.json", "/iiif/3/een%20foto/info.json",
                 "/iiif/3/nothing-here/info.json"]

HEADER_VARIANTS = [
    {},
    {"Accept": "application/ld+json"},
    {"Accept-Encoding": "gzip, deflate"},
    {"Accept-Encoding": "gzip;q=0"},
    {"Host": "archief.example.nl:80"},
    {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
    {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    {"If-None-Match": "*"},
    {"If-None-Match": 'W/"weak", "nope"'},
]
