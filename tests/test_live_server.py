"""Hostile raw requests through gunicorn itself (raw paths reach the app unnormalised)."""

from __future__ import annotations

import http.client
import shutil

import pytest

from conftest import VALIDATOR_IDENTIFIER

HOSTILE_PATHS = [
    "/iiif/3/..%2F..%2F..%2Fetc%2Fpasswd/info.json",
    "/iiif/3/%2e%2e%2f%2e%2e%2fetc%2fpasswd/full/max/0/default.jpg",
    "/iiif/3/..%252F..%252Fetc%252Fpasswd/info.json",
    "/iiif/2/%00/info.json",
    "/iiif/3/a%2Fb/full/max/0/default.jpg",
    "/iiif/3/%C0%AE%C0%AE/info.json",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/^100000,100000/0/default.jpg",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/0,0,0,0/max/0/default.jpg",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/99999999999999999999,0,1,1/max/0/default.jpg",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/max/360.5/default.jpg",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/pct:1000/0/default.jpg",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/max/0/default.jpg.jpg",
    f"/iiif/3/{VALIDATOR_IDENTIFIER}/%F0%9F%98%80/max/0/default.jpg",
    "/iiif/3/" + "x" * 4000 + "/info.json",
]


@pytest.fixture(scope="module")
def server(live_server, validator_png):
    target = live_server.images / validator_png.name
    if not target.exists():
        shutil.copy(validator_png, target)
    return live_server


def raw_get(server, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.mark.live
@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_requests_get_client_errors(server, path):
    response = raw_get(server, path)
    assert 400 <= response.status < 500, (response.status, response.body)
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert response.body.strip()


@pytest.mark.live
def test_query_string_junk_is_ignored(server):
    plain = raw_get(server, f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/100,/0/default.jpg")
    junk = raw_get(server, f"/iiif/3/{VALIDATOR_IDENTIFIER}/full/100,/0/default.jpg?../../etc/passwd&x=%00")
    assert plain.status == junk.status == 200
    assert plain.body == junk.body


@pytest.mark.live
def test_server_keeps_answering_tiles(server):
    for path in HOSTILE_PATHS:
        raw_get(server, path)
    response = raw_get(server, f"/iiif/3/{VALIDATOR_IDENTIFIER}/0,0,256,256/256,/0/default.jpg")
    assert response.status == 200
    assert response.body.startswith(b"\xff\xd8")
