"""The worker's protocol: its fast lane answers byte for byte as the ASGI path does, and
leaves to the ASGI path whatever it cannot answer the same way."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from beeldpost import create_app
from beeldpost.http import protocol as protocol_module
from beeldpost.http.asgi import AsgiFront
from beeldpost.http.gunicorn_worker import BeeldpostWorker
from beeldpost.http.image_api import ImageApi
from beeldpost.http.protocol import BoundedHttpToolsProtocol, WorkerProtocol

from support.requests import HEADER_VARIANTS, IMAGE_REQUESTS, INFO_REQUESTS, make_folders
from support.validator import VALIDATOR_IDENTIFIER

V = VALIDATOR_IDENTIFIER
TILE = f"/iiif/3/{V}/0,0,256,256/256,/0/default.jpg"
INFO = f"/iiif/3/{V}/info.json"


@pytest.fixture(scope="module")
def folders(tmp_path_factory, validator_png):
    return make_folders(tmp_path_factory, validator_png)


class Transport(asyncio.Transport):
    """What the protocol writes, kept; the peer as a socket would report it."""

    def __init__(self, peer: str = "127.0.0.1"):
        super().__init__()
        self.data = bytearray()
        self.closed = False
        self.peer = peer

    def write(self, data) -> None:
        self.data += data

    def get_extra_info(self, name, default=None):
        return {"peername": (self.peer, 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def set_write_buffer_limits(self, high=None, low=None) -> None: ...
    def get_write_buffer_size(self) -> int:
        return 0
    def can_write_eof(self) -> bool:
        return True
    def write_eof(self) -> None: ...


class Server:
    """The app behind one protocol class, as BeeldpostWorker configures uvicorn."""

    def __init__(self, folders, protocol_class, **overrides):
        images, records, cache = folders
        app = create_app({"images_dir": images, "manifests_dir": records, "cache_dir": cache,
                          "response_cache": False, **overrides})
        self.front = AsgiFront(app, threads=4)
        kwargs = {**BeeldpostWorker.CONFIG_KWARGS, "http": protocol_class}
        self.config = uvicorn.Config(self.front, **kwargs, access_log=False)
        self.config.load()
        self.protocol_class = protocol_class

    def exchange(self, raw: bytes, answers: int = 1, peer: str = "127.0.0.1",
                 loop: asyncio.AbstractEventLoop | None = None) -> tuple[bytes, bool, int]:
        """The bytes written back for `raw` (one or more requests), whether the connection
        was closed, and how many ASGI tasks the protocol started."""
        async def run():
            state = ServerState()
            protocol = self.protocol_class(config=self.config, server_state=state,
                                           app_state={}, _loop=asyncio.get_running_loop())
            transport = Transport(peer)
            protocol.connection_made(transport)
            started = []
            real_start = protocol._start_asgi_task
            protocol._start_asgi_task = lambda *a: (started.append(1), real_start(*a))
            protocol.data_received(raw)
            for _ in range(2000):
                if transport.data.count(b"HTTP/1.1 ") >= answers and not protocol.tasks:
                    break
                await asyncio.sleep(0.005)
            closed = transport.closed
            protocol.connection_lost(None)
            return bytes(transport.data), closed, len(started)
        return asyncio.run(run())


def request(target: str, method: str = "GET", headers: dict | None = None,
            version: str = "1.1") -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: localhost"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answers(data: bytes) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """The answers in what was written: status, headers without `date`, body."""
    found = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        headers = sorted((name.lower(), value) for name, _, value in
                         (field.partition(": ") for field in fields) if name.lower() != "date")
        length = int(dict(headers).get("content-length", 0))
        has_body = not status_line.endswith(" 304 Not Modified") and length
        body, data = (data[:length], data[length:]) if has_body else (b"", data)
        found.append((int(status_line.split()[1]), headers, body))
    return found


@pytest.fixture(scope="module")
def servers(folders):
    return Server(folders, WorkerProtocol), Server(folders, BoundedHttpToolsProtocol)


@pytest.mark.parametrize("path", IMAGE_REQUESTS + INFO_REQUESTS)
@pytest.mark.parametrize("headers", HEADER_VARIANTS, ids=lambda h: ",".join(h) or "plain")
def test_the_lane_answers_as_the_asgi_path(servers, path, headers):
    lane, asgi = servers
    for method in ("GET", "HEAD", "GET"):  # the last with the image open in the worker
        raw = request(path, method, headers)
        fast = answers(lane.exchange(raw)[0])
        slow = answers(asgi.exchange(raw)[0])
        assert len(fast) == len(slow) == 1
        assert fast == slow, (method, path, headers)


def test_stored_tiles_and_info_json_start_no_task(servers):
    lane, asgi = servers
    for target in (INFO, TILE):
        lane.exchange(request(target))  # opened in this worker
        data, closed, tasks = lane.exchange(request(target))
        assert (answers(data)[0][0], closed, tasks) == (200, False, 0)
        assert asgi.exchange(request(target))[2] == 1
    # A render needs a thread: the lane hands it on, begun, to the ASGI path.
    data, _, tasks = lane.exchange(request(f"/iiif/3/{V}/full/377,/0/default.png"))
    assert (answers(data)[0][0], tasks) == (200, 1)


def test_pipelined_answers_keep_their_order(servers):
    """A tile at hand behind a render still being made waits for it: answers go out in
    the order they were asked."""
    lane, asgi = servers
    lane.exchange(request(TILE))
    targets = [f"/iiif/3/{V}/full/83,/0/default.jpg", TILE, INFO,
               f"/iiif/3/{V}/full/85,/0/default.jpg", TILE]
    raw = b"".join(request(target) for target in targets)
    fast = answers(lane.exchange(raw, answers=len(targets))[0])
    slow = answers(asgi.exchange(raw, answers=len(targets))[0])
    assert [status for status, _, _ in fast] == [200] * len(targets)
    assert fast == slow
    kinds = [dict(headers)["content-type"] for _, headers, _ in fast]
    assert kinds[:2] == ["image/jpeg"] * 2 and "json" in kinds[2]
    assert fast[1][2] == fast[4][2] != fast[0][2]


@pytest.mark.parametrize("raw", [
    request(TILE, version="1.0"),
    request(TILE, headers={"Connection": "close"}),
])
def test_connections_that_end_go_the_ordinary_way(servers, raw):
    lane, asgi = servers
    lane.exchange(request(TILE))
    data, closed, tasks = lane.exchange(raw)
    assert closed and tasks == 1
    assert answers(data) == answers(asgi.exchange(raw)[0])


def test_a_request_with_a_body_goes_the_ordinary_way(servers):
    lane, asgi = servers
    raw = request(TILE, headers={"Content-Length": "5"}) + b"hello"
    data, _, tasks = lane.exchange(raw)
    assert tasks == 1 and answers(data) == answers(asgi.exchange(raw)[0])


def test_a_line_break_in_a_header_value_is_never_written(servers, monkeypatch):
    """uvicorn refuses a header value with a control character in it (it writes nothing
    and ends the connection); the lane hands such an answer to it rather than write it."""
    lane, asgi = servers
    lane.exchange(request(TILE))
    real = ImageApi.respond

    # In every answer the Image API gives, at hand or on a thread: the same on both
    # servers however warm each is (a policy read more than POLICY_SECONDS ago, as on a
    # loaded machine, sends a request to a thread).
    def injected(self, exchange, at_hand=False):
        status, headers, body = real(self, exchange, at_hand)
        return status, [*headers, ("X-Note", "a\r\nSet-Cookie: evil=1")], body

    monkeypatch.setattr(ImageApi, "respond", injected)
    data, _, tasks = lane.exchange(request(TILE), answers=0)
    assert tasks == 1 and data == asgi.exchange(request(TILE), answers=0)[0] == b""


def test_the_log_and_the_client_behind_a_trusted_proxy(servers, caplog):
    """Behind nginx (a peer gunicorn trusts: forwarded_allow_ips), the client the log
    names is the one X-Forwarded-For gives, on the lane as on the ASGI path."""
    lane, asgi = servers
    logger = logging.getLogger("beeldpost.access")
    logger.addHandler(caplog.handler)
    try:
        raw = request(TILE, headers={"X-Forwarded-For": "192.0.2.7",
                                     "X-Forwarded-Proto": "https", "User-Agent": "Mirador"})
        lane.exchange(raw)
        caplog.clear()
        lane.exchange(raw)
        asgi.exchange(raw)
        lane.exchange(raw, peer="198.51.100.1")  # not a trusted proxy: its own address
    finally:
        logger.removeHandler(caplog.handler)
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "beeldpost.access"]
    assert [line["remote"] for line in lines] == ["192.0.2.7", "192.0.2.7", "198.51.100.1"]
    assert {line["agent"] for line in lines} == {"Mirador"}
    assert {line["route"] for line in lines} == {"iiif3.image"}


def test_the_lane_is_uvicorns_protocol_and_takes_the_image_api():
    # That the worker serves through it: tests/http/test_gunicorn_worker.py.
    assert issubclass(WorkerProtocol, HttpToolsProtocol)
    assert protocol_module.LANE_PREFIXES == (b"/iiif/3/", b"/iiif/2/")
