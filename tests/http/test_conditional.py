"""Conditional GET (beeldpost/http/conditional.py): If-None-Match compared weakly, as RFC 9110 says.

nginx with `gzip on` turns our strong ETags into weak ones, so browsers and CDNs behind it
revalidate with `If-None-Match: W/"…"`. Every kind of answer must still give its 304: an
image, info.json (fast path, both versions), a manifest and a page (Flask), plain and gzipped.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from beeldpost import create_app
from beeldpost.http.conditional import current_tag

from support.live import LiveServer
from support.paths import REPO
from support.presentation import MANIFESTS, PHOTO

WHEN = datetime(2020, 5, 1, 12, 0, tzinfo=timezone.utc)


def environ(**headers: str) -> dict:
    return {f"HTTP_{name.upper()}": value for name, value in headers.items()}


# ---------------------------------------------------------------- the rule itself

@pytest.mark.parametrize("header, held", [
    ('"abc"', "abc"),                       # strong, as sent
    ('W/"abc"', "abc"),                     # weakened by a proxy
    ('w/"abc"', "abc"),                     # lower-case weak prefix
    ('"old", W/"abc", "older"', "abc"),     # a list, ours in the middle
    ('"old","abc"', "abc"),                 # a list without spaces
    ("*", "abc"),                           # any current representation
    ('W/"abc-gz"', "abc-gz"),               # the gzipped twin, weakened
    ('"abc-gz", "abc"', "abc"),             # both held: the selected one wins
    ('"old"', None),
    ('W/"ab"', None),                       # a prefix is not a match
    ('"abc-gzip"', None),
    ("", None),
])
def test_if_none_match_is_compared_weakly(header, held):
    assert current_tag(environ(if_none_match=header), ("abc", "abc-gz")) == held


def test_no_conditional_headers_means_send_the_body():
    assert current_tag({}, ("abc",), WHEN) is None


def test_if_modified_since_counts_only_without_if_none_match():
    later = "Sat, 02 May 2020 00:00:00 GMT"
    earlier = "Thu, 30 Apr 2020 00:00:00 GMT"
    assert current_tag(environ(if_modified_since=later), ("abc",), WHEN) == "abc"
    assert current_tag(environ(if_modified_since="Fri, 01 May 2020 12:00:00 GMT"), ("abc",), WHEN) == "abc"
    assert current_tag(environ(if_modified_since=earlier), ("abc",), WHEN) is None
    assert current_tag(environ(if_modified_since="not a date"), ("abc",), WHEN) is None
    # An If-None-Match that does not match wins over a date that would.
    assert current_tag(environ(if_modified_since=later, if_none_match='"old"'), ("abc",), WHEN) is None
    assert current_tag(environ(if_modified_since=earlier, if_none_match='W/"abc"'), ("abc",), WHEN) == "abc"


def test_if_match_is_not_a_reason_for_a_304():
    """Werkzeug's environ helper would answer 304 to a failing If-Match; we ignore it."""
    assert current_tag(environ(if_match='"other"'), ("abc",)) is None


# ---------------------------------------------------------------- every kind of answer

@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app({"images_dir": REPO / "images", "manifests_dir": MANIFESTS,
                      "cache_dir": tmp_path_factory.mktemp("conditional-cache"),
                      "viewers_dir": tmp_path_factory.mktemp("no-viewers")})
    return app.test_client()


ANSWERS = {
    "tile": f"/iiif/3/{PHOTO}/0,0,256,256/256,/0/default.jpg",
    "render": f"/iiif/2/{PHOTO}/full/!300,300/0/default.png",
    "info.json 3": f"/iiif/3/{PHOTO}/info.json",
    "info.json 2": f"/iiif/2/{PHOTO}/info.json",
    "manifest": f"/iiif/manifests/{PHOTO}",
    "collection": "/iiif/collection",
    "item page": f"/items/{PHOTO}?lang=en",
    "home page": "/?lang=nl",
}
DOCUMENTS = [name for name in ANSWERS if name not in ("tile", "render")]


def revalidate(client, path: str, if_none_match: str, gzip: bool):
    headers = {"If-None-Match": if_none_match}
    if gzip:
        headers["Accept-Encoding"] = "gzip"
    return client.get(path, headers=headers)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", ANSWERS)
def test_a_current_etag_gets_a_304_strong_weak_or_in_a_list(client, name, gzip):
    path = ANSWERS[name]
    first = client.get(path, headers={"Accept-Encoding": "gzip"} if gzip else {})
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"'), "our own ETags are strong"
    if gzip and name in DOCUMENTS:
        assert first.headers["Content-Encoding"] == "gzip" and etag.endswith('-gz"')
    for header in (etag, f"W/{etag}", f'"stale", W/{etag}', "*"):
        again = revalidate(client, path, header, gzip)
        assert again.status_code == 304, (header, again.status_code)
        assert again.data == b""
        assert again.headers["ETag"] == etag  # the representation the client holds
        assert again.headers["Access-Control-Allow-Origin"] == "*"
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    changed = revalidate(client, path, 'W/"stale", "older"', gzip)
    assert changed.status_code == 200 and changed.data == first.data


@pytest.mark.parametrize("name", DOCUMENTS)
def test_either_twin_of_a_document_is_current(client, name):
    """A client may hold the plain copy and now accept gzip, or the other way round
    (a proxy that decompresses): the 304 names the twin it holds."""
    path = ANSWERS[name]
    plain = client.get(path).headers["ETag"]
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"}).headers["ETag"]
    assert plain != zipped
    held_plain = revalidate(client, path, f"W/{plain}", gzip=True)
    assert held_plain.status_code == 304 and held_plain.headers["ETag"] == plain
    held_zipped = revalidate(client, path, f"W/{zipped}", gzip=False)
    assert held_zipped.status_code == 304 and held_zipped.headers["ETag"] == zipped
    assert "Accept-Encoding" in held_plain.headers["Vary"]


@pytest.mark.parametrize("name", ["tile", "info.json 3", "manifest", "item page"])
def test_head_revalidates_like_get(client, name):
    path = ANSWERS[name]
    etag = client.get(path).headers["ETag"]
    answer = client.head(path, headers={"If-None-Match": f"W/{etag}"})
    assert answer.status_code == 304 and answer.data == b""


# ---------------------------------------------------------------- through gunicorn

@pytest.mark.live
def test_weak_revalidation_through_the_production_server(tmp_path_factory):
    """The uvicorn worker answers 304s on its event loop (asgi.py) by the same rule."""
    import shutil
    import urllib.error
    import urllib.request

    root = tmp_path_factory.mktemp("conditional-live")
    shutil.copytree(MANIFESTS, root / "manifests", ignore=shutil.ignore_patterns("sources"))
    server = LiveServer(root, REPO / "images")
    try:
        for path in (ANSWERS["tile"], ANSWERS["info.json 3"], ANSWERS["manifest"], ANSWERS["item page"]):
            for gzip in (False, True):
                headers = {"Accept-Encoding": "gzip"} if gzip else {}
                with urllib.request.urlopen(urllib.request.Request(server.url + path, headers=headers),
                                            timeout=120) as first:
                    etag = first.headers["ETag"]
                request = urllib.request.Request(server.url + path,
                                                 headers={**headers, "If-None-Match": f"W/{etag}"})
                with pytest.raises(urllib.error.HTTPError) as answer:
                    urllib.request.urlopen(request, timeout=30)
                assert answer.value.code == 304, (path, gzip)
                assert answer.value.headers["ETag"] == etag
    finally:
        server.stop()
