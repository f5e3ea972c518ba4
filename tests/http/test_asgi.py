"""The worker's ASGI face answers as the WSGI app does, and tiles at hand never wait
for a thread."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest
from a2wsgi.wsgi import build_environ
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client
from werkzeug.wrappers import Response

from beeldpost import create_app
from beeldpost.image import response_cache
from beeldpost.http.asgi import AsgiFront, lane_environ
from beeldpost.image.response_cache import KeptFile

from support.validator import VALIDATOR_IDENTIFIER
from support.requests import HEADER_VARIANTS, IMAGE_REQUESTS, INFO_REQUESTS, make_folders

V = VALIDATOR_IDENTIFIER


@pytest.fixture(scope="module")
def folders(tmp_path_factory, validator_png):
    return make_folders(tmp_path_factory, validator_png)


class CountingExecutor(ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


def front_and_wsgi(folders, **overrides):
    images, records, cache = folders
    settings = {"images_dir": images, "manifests_dir": records, "cache_dir": cache,
                "response_cache": False, **overrides}
    front = AsgiFront(create_app(settings), threads=4)
    counting = CountingExecutor(max_workers=4)
    front.executor = front._wsgi.executor = counting
    return front, Client(create_app(settings), Response)


def call(front: AsgiFront, target: str, method: str = "GET", headers: dict | None = None,
         body: bytes = b"", sink: list | None = None):
    """One request through the ASGI app as uvicorn makes it: status, headers, body."""
    raw_path, _, query = target.partition("?")
    fields = {"host": "localhost", **{name.lower(): value for name, value in (headers or {}).items()}}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": unquote(raw_path), "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"), "root_path": "",
        "server": ("localhost", 80), "client": ("127.0.0.1", 40000),
        "headers": [(name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in fields.items()],
    }
    messages: list[dict] = [] if sink is None else sink

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        messages.append(message)

    asyncio.run(front(scope, receive, send))
    start = messages[0]
    assert start["type"] == "http.response.start"
    data = b"".join(m.get("body", b"") for m in messages[1:])
    names = sorted((name.decode("latin-1"), value.decode("latin-1"))
                   for name, value in start["headers"])
    return start["status"], names, data


def wsgi_answer(client, target, method="GET", headers=None):
    response = client.open(target, method=method, headers=headers or {})
    names = sorted((name.lower(), value) for name, value in response.headers.items())
    return response.status_code, names, response.get_data()


@pytest.mark.parametrize("path", IMAGE_REQUESTS + INFO_REQUESTS)
@pytest.mark.parametrize("headers", HEADER_VARIANTS[:6], ids=lambda h: ",".join(h) or "plain")
def test_same_answer_as_the_wsgi_app(folders, path, headers):
    front, wsgi = front_and_wsgi(folders)
    expected = wsgi_answer(wsgi, path, headers=headers)
    assert call(front, path, headers=headers) == expected
    # Asked again, with the image open in this worker: answered on the loop or not,
    # the answer is the same.
    assert call(front, path, headers=headers) == expected
    assert call(front, path, "HEAD", headers) == wsgi_answer(wsgi, path, "HEAD", headers)


def test_stored_tiles_and_info_are_answered_on_the_loop(folders):
    front, _ = front_and_wsgi(folders)
    tile = f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg"
    info = f"/iiif/3/{V}/info.json"
    call(front, info)  # first sight: hash, derivative and pyramid are made on a thread
    assert front.executor.submitted == 1
    for _ in range(5):
        assert call(front, tile)[0] == 200
        assert call(front, info)[0] == 200
    assert front.executor.submitted == 1
    status, headers, _ = call(front, f"/iiif/3/{V}/full/377,/0/default.png")  # a render
    assert status == 200 and ("x-beeldpost-cache", "off") in headers
    assert front.executor.submitted == 2


def test_a_request_left_to_a_thread_keeps_no_reference_cycle(folders):
    """What the loop could not answer at hand (a render here; a stored tile to fetch from
    a bucket alike) goes on with its NotAtHand but not its traceback, which held the
    frames that hold the exchange: a cycle that kept every such request's state until the
    garbage collector ran (47 young collections per 1000 cold tiles, hot_path.py)."""
    import gc

    front, _ = front_and_wsgi(folders)
    call(front, f"/iiif/3/{V}/info.json")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": f"/iiif/3/{V}/full/377,/0/default.png",
        "raw_path": f"/iiif/3/{V}/full/377,/0/default.png".encode(), "query_string": b"",
        "root_path": "", "server": ("localhost", 80), "client": ("127.0.0.1", 40000),
        "headers": [(b"host", b"localhost")],
    }
    gc.collect()
    gc.disable()
    try:
        exchange = front.answer_at_hand(scope)
        assert exchange.missing is not None and exchange.missing.__traceback__ is None
        del exchange
        assert gc.collect() == 0  # all of it freed by reference counts alone
    finally:
        gc.enable()


def test_edge_tiles_and_small_re_cuts_are_answered_on_the_loop(folders):
    """A deep-zoom level's edge tile is kept cut by the pyramid: stored bytes, at hand. A
    re-cut of a stored tile or two is cheaper to do on the loop than to hand to a thread.
    Anything larger goes to a thread."""
    front, wsgi = front_and_wsgi(folders)
    call(front, f"/iiif/3/{V}/info.json")
    submitted = front.executor.submitted
    for path, origin in ((f"/iiif/3/{V}/768,0,232,256/232,/0/default.jpg", "stored-tile"),
                         (f"/iiif/3/{V}/0,768,256,232/256,/0/default.jpg", "stored-tile"),
                         (f"/iiif/2/{V}/768,768,232,232/232,/0/default.jpg", "stored-tile"),
                         (f"/iiif/3/{V}/768,0,232,200/232,/0/default.jpg", "off"),  # part of one
                         (f"/iiif/2/{V}/700,0,100,256/100,/0/default.jpg", "off")):  # of two
        answer = call(front, path)
        assert answer[0] == 200 and ("x-beeldpost-cache", origin) in answer[1], path
        assert answer == wsgi_answer(wsgi, path)
    assert front.executor.submitted == submitted
    assert call(front, f"/iiif/3/{V}/full/600,/0/default.jpg")[0] == 200
    assert front.executor.submitted == submitted + 1


def test_cached_renders_are_answered_on_the_loop(folders):
    front, _ = front_and_wsgi(folders, response_cache=True)
    thumbnail = f"/iiif/3/{V}/full/91,/0/default.jpg"
    first = call(front, thumbnail)
    submitted = front.executor.submitted
    again = call(front, thumbnail)
    assert dict(first[1])["x-beeldpost-cache"] == "miss"
    assert dict(again[1])["x-beeldpost-cache"] == "hit"
    assert again[2] == first[2] and dict(again[1])["etag"] == dict(first[1])["etag"]
    assert front.executor.submitted == submitted


def test_everything_else_reaches_the_flask_app(folders):
    front, wsgi = front_and_wsgi(folders)
    for method, target in [("GET", "/iiif/collection"), ("GET", f"/iiif/3/{V}"),
                           ("OPTIONS", f"/iiif/3/{V}/info.json"),
                           ("POST", f"/iiif/3/{V}/info.json"), ("GET", "/no/such/page")]:
        assert call(front, target, method) == wsgi_answer(wsgi, target, method), target


def test_escaped_slashes_stay_escaped(folders):
    """The raw path reaches the app, so `a%2Fb` is one (unknown) identifier, not two segments."""
    front, wsgi = front_and_wsgi(folders)
    for target in ("/iiif/3/a%2Fb/info.json", "/iiif/3/a%2Fb/full/max/0/default.jpg",
                   "/iiif/3/een%20foto/info.json", "/iiif/3/..%2F..%2Fetc%2Fpasswd/info.json"):
        status, _, body = call(front, target)
        assert (status, body) == wsgi_answer(wsgi, target)[::2], target


def test_large_cached_answers_are_sent_in_chunks(folders, monkeypatch):
    monkeypatch.setattr(response_cache, "IN_MEMORY_BYTES", 1000)
    monkeypatch.setattr(KeptFile, "CHUNK", 4096)
    front, _ = front_and_wsgi(folders, response_cache=True)
    path = f"/iiif/3/{V}/full/max/0/default.png"
    status, headers, rendered = call(front, path)
    assert status == 200 and dict(headers)["x-beeldpost-cache"] == "miss"
    messages = []
    status, headers, streamed = call(front, path, sink=messages)
    assert dict(headers)["x-beeldpost-cache"] == "hit"
    assert streamed == rendered and dict(headers)["content-length"] == str(len(rendered))
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert len(bodies) > 3 and all(len(m["body"]) <= 4096 for m in bodies)
    assert bodies[-1].get("more_body", False) is False
    assert call(front, path, "HEAD")[2] == b""


def test_a_refused_heavy_request_is_answered_a_moment_later(folders, monkeypatch):
    """A client that ignores Retry-After and asks again at once cannot spin on refusals:
    the event loop keeps the 503 back (admission.REFUSAL_HOLD_SECONDS), holding no thread."""
    import beeldpost.http.asgi as asgi_module
    from beeldpost.image.admission import REFUSAL_HOLD_SECONDS

    held = []
    real_sleep = asyncio.sleep

    async def sleep(seconds, *args, **kwargs):
        held.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asgi_module.asyncio, "sleep", sleep)
    front, _ = front_and_wsgi(folders, heavy_pixels=200_000, heavy_slots=1, heavy_queue=0)
    path = f"/iiif/3/{V}/full/max/0/default.jpg"
    with front.image_api.images.admission.heavy():  # another request renders meanwhile
        status, headers, body = call(front, path)
    assert status == 503 and dict(headers)["retry-after"] and b"Try again" in body
    assert held == [REFUSAL_HOLD_SECONDS]
    held.clear()
    status, _, _ = call(front, path)  # admitted: answered at once
    assert status == 200 and held == []


_header_names = st.sampled_from([b"host", b"accept", b"accept-encoding", b"cookie",
                                 b"authorization", b"content-length", b"content-type",
                                 b"x-forwarded-for", b"if-none-match", b"origin",
                                 b"user-agent", b"x-a-b-c"])


@settings(max_examples=400, deadline=None)
@given(path=st.text(min_size=1, max_size=40).map(lambda text: "/" + text),
       root=st.sampled_from(["", "/beeldpost", "/iiif"]),
       query=st.binary(max_size=20).map(lambda raw: raw.decode("latin1").encode("ascii", "ignore")),
       headers=st.lists(st.tuples(_header_names, st.binary(max_size=30)), max_size=8),
       client=st.one_of(st.none(), st.tuples(st.sampled_from(["127.0.0.1", "::1"]),
                                             st.integers(1, 65535))),
       server=st.one_of(st.none(), st.tuples(st.just("127.0.0.1"), st.integers(1, 65535))),
       method=st.sampled_from(["GET", "HEAD"]), version=st.sampled_from(["1.0", "1.1"]))
def test_the_lanes_environ_is_a2wsgis(path, root, query, headers, client, server, method,
                                      version):
    """The environ the event loop makes for the Image API is the one a2wsgi makes for
    the app on a thread, key for key: a request reads the same either way."""
    scope = {"type": "http", "http_version": version, "method": method, "scheme": "http",
             "root_path": root, "path": root + path, "raw_path": (root + path).encode(),
             "query_string": query, "headers": headers}
    if client is not None:
        scope["client"] = client
    if server is not None:
        scope["server"] = server
    assert lane_environ(scope) == build_environ(scope, None)
