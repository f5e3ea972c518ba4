"""The Image API by who asks (issue 22): an image that is not open has its public face at
the URLs it always had, the same for everyone and kept by shared caches, and its full
version at `{identifier}~full`, whose answers depend on who asks and are private.

Who asks is shown by a session cookie (a staff sign-in, accepted terms), an access
token bound to an origin, the reading room's networks (X-Forwarded-For believed from
trusted proxies only) and a trusted proxy's sign-on header. Whoever may not see the
full scan gets, at `~full`, a 401 info.json with the whole description and the ways
in, and only those image requests that show no more than the public face.

One archive per module (per database): eight items, one per tier and shape, each a
2400×1600 scan; a staff member signed in through the form, a browser that accepted
one image's terms, a token obtained through the IIIF token page."""

from __future__ import annotations

import io
import json
import logging
import random
import re
from dataclasses import dataclass

import pytest
from PIL import Image

from beeldpost import create_app
from beeldpost.access.accounts import Accounts

from support.presentation import make_jpeg, record_data, write_record

WIDTH, HEIGHT = 2400, 1600
PASSWORD = "correct horse battery staple"
PORTAL, ELSEWHERE = "https://portal.example", "https://elders.example"
ROOM_NETWORK, ROOM = "192.0.2.0/24", "192.0.2.10"
PROXY_NETWORK, PROXY = "10.0.0.0/24", "10.0.0.5"
OUTSIDE = "198.51.100.7"

# item → its record's access fields
ITEMS = {
    "open-stuk": {},
    "verkleind": {"access": "verkleind", "max_size": 800},
    "voorwaarden": {"access": "clickthrough", "max_size": 800},
    "voorwaarden-dicht": {"access": "voorwaarden"},
    "studiezaal": {"access": "studiezaal"},
    "studiezaal-verkleind": {"access": "reading-room", "max_size": 1200},
    "medewerkers": {"access": "staff"},
    "gesloten": {"access": "capped", "max_size": 800, "restricted_until": "2049-01-01"},
    # only for the response cache's tests: nobody else asks for them
    "cache-proef": {"access": "capped", "max_size": 800},
    "cache-proef-2": {"access": "capped", "max_size": 800},
    "cache-proef-3": {"access": "capped", "max_size": 800},
}
TIERS = ["open-stuk", "verkleind", "voorwaarden", "voorwaarden-dicht", "studiezaal",
         "studiezaal-verkleind", "medewerkers", "gesloten"]
# What everyone sees at the public URL: (width, height), or None for a 401.
PUBLIC_FACE = {"open-stuk": (2400, 1600), "verkleind": (800, 533), "voorwaarden": (800, 533),
               "voorwaarden-dicht": None, "studiezaal": None,
               "studiezaal-verkleind": (1200, 800), "medewerkers": None, "gesloten": None}
EXPECTED_TIER = {"open-stuk": "open", "verkleind": "capped", "voorwaarden": "clickthrough",
                 "voorwaarden-dicht": "clickthrough", "studiezaal": "reading-room",
                 "studiezaal-verkleind": "reading-room", "medewerkers": "staff",
                 "gesloten": "staff"}
EVERYTHING = set(TIERS)
IN_THE_ROOM = {"open-stuk", "verkleind", "voorwaarden", "voorwaarden-dicht", "studiezaal",
               "studiezaal-verkleind"}
NOBODY = {"open-stuk"}
# Who asks → the items whose full scan they see.
GRANTED = {
    "anonymous": NOBODY,
    "staff (cookie)": EVERYTHING,
    "staff token, right origin": EVERYTHING,
    "staff token, other origin": NOBODY,
    "staff token, no origin": NOBODY,
    "sign-on from a trusted proxy": EVERYTHING,
    "sign-on from anyone else": NOBODY,
    "sign-on from the reading room itself": IN_THE_ROOM,
    "reading room": IN_THE_ROOM,
    "reading room through the proxy": IN_THE_ROOM,
    "reading room claimed by the client": NOBODY,
    "reading room written left of the client": NOBODY,
    "accepted the terms of voorwaarden": {"open-stuk", "voorwaarden"},
    "accepted, in the reading room": IN_THE_ROOM,
}
# … and whose pixels: an access token counts for info.json (and the 2.0 probe) only,
# never for an image request (another site's script could send one it was given).
PIXELS = {who: (NOBODY if who.startswith("staff token") else granted)
          for who, granted in GRANTED.items()}


@dataclass
class Archive:
    app: object
    staff: str  # the session cookie's value after signing in
    accepted: str  # after accepting the terms of `voorwaarden`
    token: str  # a staff access token for PORTAL

    def ask(self, path: str, who: str = "anonymous", headers: dict | None = None,
            environ: dict | None = None, follow_redirects: bool = False):
        extra_headers, remote = self.shown_by(who)
        client = self.app.test_client(use_cookies=False)
        return client.get(path, headers={**extra_headers, **(headers or {})},
                          environ_base={"REMOTE_ADDR": remote},
                          environ_overrides=environ or {}, follow_redirects=follow_redirects)

    def shown_by(self, who: str) -> tuple[dict, str]:
        staff_cookie = {"Cookie": f"beeldpost_session={self.staff}"}
        bearer = {"Authorization": f"Bearer {self.token}"}
        return {
            "anonymous": ({}, OUTSIDE),
            "staff (cookie)": (staff_cookie, OUTSIDE),
            "staff token, right origin": ({**bearer, "Origin": PORTAL}, OUTSIDE),
            "staff token, other origin": ({**bearer, "Origin": ELSEWHERE}, OUTSIDE),
            "staff token, no origin": (bearer, OUTSIDE),
            "sign-on from a trusted proxy": ({"Remote-User": "j.jansen"}, PROXY),
            "sign-on from anyone else": ({"Remote-User": "j.jansen"}, OUTSIDE),
            "sign-on from the reading room itself": ({"Remote-User": "j.jansen"}, ROOM),
            "reading room": ({}, ROOM),
            "reading room through the proxy": ({"X-Forwarded-For": ROOM}, PROXY),
            "reading room claimed by the client": ({"X-Forwarded-For": ROOM}, "127.0.0.1"),
            "reading room written left of the client": (
                {"X-Forwarded-For": f"{ROOM}, {OUTSIDE}"}, PROXY),
            "accepted the terms of voorwaarden": (
                {"Cookie": f"beeldpost_session={self.accepted}"}, OUTSIDE),
            "accepted, in the reading room": (
                {"Cookie": f"beeldpost_session={self.accepted}"}, ROOM),
        }[who]


def proof_of(page: str) -> str:
    return re.search(r'name="proof" value="([^"]+)"', page).group(1)


def posted_message(page: str) -> tuple[dict, str]:
    found = re.search(r"window\.parent\.postMessage\((\{.*\}), (\"[^\"]*\")\);", page)
    return json.loads(found.group(1)), json.loads(found.group(2))


def made_archive(root, items: dict, database: dict) -> Archive:
    images, manifests = root / "images", root / "manifests"
    images.mkdir()
    manifests.mkdir()
    for item, fields in items.items():
        make_jpeg(images / f"{item}.jpg", WIDTH, HEIGHT)
        write_record(manifests, item, record_data(item, **{"people": None, **fields}))
    app = create_app({"images_dir": images, "manifests_dir": manifests,
                      "cache_dir": root / "cache", "journal_interval": 0,
                      "reading_room": ROOM_NETWORK, "trusted_proxies": PROXY_NETWORK,
                      **database})
    Accounts(app.extensions["beeldpost.journal"].db).add("beheer", PASSWORD)
    # (The Image API looks for new records first; the auth pages do not, so ask it once.)
    warming = app.test_client().get(f"/iiif/3/{next(iter(items))}~full/info.json")
    assert warming.get_json()["width"] == WIDTH
    # Staff sign in through the form, as a browser does.
    browser = app.test_client()
    proof = proof_of(browser.get("/auth/login").get_data(as_text=True))
    signed_in = browser.post("/auth/login", data={"proof": proof, "name": "beheer",
                                                  "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
    staff = browser.get_cookie("beeldpost_session").value
    # A viewer on the portal asks the token page (in a hidden iframe) for a token.
    page = browser.get(f"/auth/1/token?messageId=1&origin={PORTAL}").get_data(as_text=True)
    message, target = posted_message(page)
    assert target == PORTAL
    # Another browser accepts the terms of one clickthrough image.
    reader = app.test_client()
    proof = proof_of(reader.get("/auth/1/terms/voorwaarden").get_data(as_text=True))
    assert reader.post("/auth/1/terms/voorwaarden", data={"proof": proof}).status_code == 200
    accepted = reader.get_cookie("beeldpost_session").value
    return Archive(app, staff, accepted, message["accessToken"])


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    """The archive on SQLite: what is decided here does not depend on the database
    (test_the_same_on_both_databases runs the gist on each)."""
    return made_archive(tmp_path_factory.mktemp("access"), ITEMS, {})


def size_of(answer) -> tuple[int, int]:
    assert answer.data[:2] in (b"\xff\xd8", b"\x89P"), answer.data[:200]
    return Image.open(io.BytesIO(answer.data)).size


def assert_private(answer) -> None:
    control = answer.headers["Cache-Control"]
    assert control.startswith("private"), control
    assert "public" not in control and "s-maxage" not in control, control
    vary = {name.strip() for name in answer.headers.get("Vary", "").split(",")}
    assert {"Cookie", "Authorization", "Origin"} <= vary, answer.headers.get("Vary")


def assert_sent_to_the_public_face(answer, item: str) -> None:
    """2.1's tiered access (Authorization 1.0, as UV 4.4 follows it): whoever may not see
    the full version is sent to the public face's info.json."""
    assert answer.status_code == 302, (answer.status_code, answer.data[:200])
    assert answer.headers["Location"] == f"http://localhost/iiif/2/{item}/info.json"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Cookie" in answer.headers["Vary"]


def assert_refused(answer) -> None:
    assert answer.status_code == 401, (answer.status_code, answer.data[:200])
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert not answer.data.startswith(b"\xff\xd8")


# --------------------------------------------------------------------------- by who asks

WHO_AND_TIER = [(who, item) for who in GRANTED for item in TIERS]


@pytest.mark.parametrize("who, item", WHO_AND_TIER,
                         ids=[f"{who}-{item}" for who, item in WHO_AND_TIER])
def test_the_full_version_by_who_asks(archive, who, item):
    granted = item in GRANTED[who]
    for version in (3, 2):
        info = archive.ask(f"/iiif/{version}/{item}~full/info.json", who)
        if version == 2 and not granted and PUBLIC_FACE[item] is not None:
            assert_sent_to_the_public_face(info, item)
            info = archive.ask(f"/iiif/{version}/{item}~full/info.json", who,
                               follow_redirects=True)
            assert info.get_json()["@id"].endswith(f"/iiif/2/{item}")
            assert (info.get_json()["width"], info.get_json()["height"]) == PUBLIC_FACE[item]
            assert_refused(archive.ask(f"/iiif/2/{item}~full/full/full/0/default.jpg", who))
            continue
        assert info.status_code == (200 if granted else 401), (version, info.status_code)
        document = info.get_json()  # the whole description, either way
        assert (document["width"], document["height"]) == (WIDTH, HEIGHT)
        assert (document.get("id") or document.get("@id")).endswith(f"/iiif/{version}/{item}~full")
        assert_private(info)
        full = archive.ask(f"/iiif/{version}/{item}~full/full/"
                           f"{'max' if version == 3 else 'full'}/0/default.jpg", who)
        if item in PIXELS[who]:
            assert full.status_code == 200
            assert size_of(full) == (WIDTH, HEIGHT)
            assert_private(full)
        else:
            assert_refused(full)


@pytest.mark.parametrize("who", list(GRANTED))
def test_the_public_face_is_the_same_for_everyone(archive, who):
    for item in TIERS:
        face = PUBLIC_FACE[item]
        for version, size in ((3, "max"), (2, "full")):
            info = archive.ask(f"/iiif/{version}/{item}/info.json", who)
            image = archive.ask(f"/iiif/{version}/{item}/full/{size}/0/default.jpg", who)
            if face is None:
                assert_refused(info)
                assert_refused(image)
                continue
            assert info.status_code == 200 and image.status_code == 200, (item, version)
            assert (info.get_json()["width"], info.get_json()["height"]) == face
            assert size_of(image) == face
            for answer in (info, image):
                control = answer.headers["Cache-Control"]
                assert control.startswith("public") and "s-maxage=" in control, control
                assert "Cookie" not in answer.headers.get("Vary", "")


# --------------------------------------------------------------------------- the ways in

def profiles(document: dict) -> tuple[list[str], list[str]]:
    """The 1.0 cookie services' profiles and the 2.0 access services' profiles."""
    services = document.get("service") or []
    auth1 = [service["profile"].rsplit("/", 1)[-1] for service in services
             if service.get("@type") == "AuthCookieService1"]
    probes = [service for service in services if service.get("type") == "AuthProbeService2"]
    auth2 = [access["profile"] for probe in probes for access in probe["service"]]
    return auth1, auth2


# item → (1.0 outside, 1.0 in the reading room): one way that asks something of the
# visitor (the terms, else staff sign-in), after the reading room's own from there.
WAYS_IN = {
    "verkleind": (["login"], ["kiosk", "login"]),
    "voorwaarden": (["clickthrough"], ["kiosk", "clickthrough"]),
    "voorwaarden-dicht": (["clickthrough"], ["kiosk", "clickthrough"]),
    "studiezaal": (["login"], ["kiosk", "login"]),
    "studiezaal-verkleind": (["login"], ["kiosk", "login"]),
    "medewerkers": (["login"], ["login"]),
    "gesloten": (["login"], ["login"]),
}
AUTH2_PROFILE = {"login": "active", "clickthrough": "active", "kiosk": "kiosk"}


@pytest.mark.parametrize("item", list(WAYS_IN))
def test_the_full_versions_info_lists_the_ways_in_for_its_tier(archive, item):
    base = "http://localhost"
    for who, ways in (("anonymous", WAYS_IN[item][0]), ("reading room", WAYS_IN[item][1]),
                      ("reading room through the proxy", WAYS_IN[item][1]),
                      ("reading room claimed by the client", WAYS_IN[item][0])):
        document = archive.ask(f"/iiif/3/{item}~full/info.json", who).get_json()
        auth1, auth2 = profiles(document)
        assert auth1 == ways, who
        assert auth2 == [AUTH2_PROFILE[way] for way in ways], who
        for service in document["service"]:
            if service.get("@type") == "AuthCookieService1":
                assert service["@context"] == "http://iiif.io/api/auth/1/context.json"
                inside = {inner["@type"]: inner["@id"] for inner in service["service"]}
                assert inside == {"AuthTokenService1": f"{base}/auth/1/token",
                                  "AuthLogoutService1": f"{base}/auth/1/logout"}
                assert service["@id"].startswith(f"{base}/auth/1/")
            elif service.get("type") == "AuthProbeService2":
                assert service["id"] == f"{base}/auth/2/probe/{item}"
                for access in service["service"]:
                    assert access["type"] == "AuthAccessService2"
                    assert {inner["type"] for inner in access["service"]} == {
                        "AuthAccessTokenService2", "AuthLogoutService2"}
        if "clickthrough" in ways:
            terms = next(service for service in document["service"]
                         if service.get("profile", "").endswith("/clickthrough"))
            assert terms["@id"] == f"{base}/auth/1/terms/{item}"
        # 2.1: the 1.0 services alone, the same ways in; to whoever is sent to the
        # public face, that face's (the same for everyone: no reading room's own).
        answer2 = archive.ask(f"/iiif/2/{item}~full/info.json", who)
        if answer2.status_code == 302:
            document2 = archive.ask(answer2.headers["Location"].removeprefix(base)).get_json()
            assert profiles(document2) == (WAYS_IN[item][0], [])
        else:
            assert profiles(answer2.get_json()) == (ways, [])


def test_an_open_image_and_public_faces_list_no_auth_services(archive):
    for path in ("/iiif/3/open-stuk~full/info.json", "/iiif/3/open-stuk/info.json",
                 "/iiif/2/open-stuk/info.json", "/iiif/3/verkleind/info.json",
                 "/iiif/3/studiezaal-verkleind/info.json"):
        answer = archive.ask(path, "reading room")
        assert answer.status_code == 200
        assert profiles(answer.get_json()) == ([], []), path
    # 2.1's public face of an image that is not open is tiered access's degraded
    # description: it lists the 1.0 way in (never the reading room's own: it is public).
    for who in ("anonymous", "reading room"):
        answer = archive.ask("/iiif/2/verkleind/info.json", who)
        assert profiles(answer.get_json()) == (["login"], [])
        assert answer.headers["Cache-Control"].startswith("public")


# --------------------------------------------------------------------------- the public at ~full

# (path below /iiif/{version}/{id}~full/, status) for a 2400×1600 scan capped at 800 (×3).
CAPPED_REQUESTS = [
    (3, "0,0,1024,1024/256,/0/default.jpg", 200, (256, 256)),  # a tile at scale factor 4
    (3, "2048,1024,352,576/88,/0/default.jpg", 200, (88, 144)),  # an edge tile at 4
    (3, "0,0,768,768/256,/0/default.jpg", 200, (256, 256)),  # scale factor 3: the cap's own
    (3, "full/800,/0/default.jpg", 200, (800, 533)),
    (3, "full/!400,400/0/default.jpg", 200, (400, 267)),
    (3, "full/pct:25/0/default.jpg", 200, (600, 400)),
    (3, "pct:0,0,50,50/400,/0/gray.jpg", 200, (400, 267)),
    (3, "0,0,256,256/256,/0/default.jpg", 401, None),  # scale factor 1
    (3, "0,0,512,512/256,/0/default.jpg", 401, None),  # scale factor 2
    (3, "1024,512,256,256/256,/90/default.jpg", 401, None),
    (3, "full/max/0/default.jpg", 401, None),
    (3, "full/801,/0/default.jpg", 401, None),
    (3, "full/pct:50/0/default.jpg", 401, None),
    (3, "pct:10,10,50,50/max/0/default.png", 401, None),
    (3, "full/^3000,/0/default.jpg", 401, None),
    (3, "full/^max/0/default.jpg", 401, None),
    (3, "0,0,256,256/^512,/0/default.jpg", 401, None),
    (3, "square/max/0/default.jpg", 401, None),
    (2, "0,0,1024,1024/256,/0/default.jpg", 200, (256, 256)),
    (2, "full/!400,400/0/default.jpg", 200, (400, 267)),
    (2, "0,0,256,256/256,/0/default.jpg", 401, None),
    (2, "full/full/0/default.jpg", 401, None),
    (2, "full/pct:50/0/default.jpg", 401, None),
    (2, "pct:10,10,50,50/full/0/default.jpg", 401, None),
]


@pytest.mark.parametrize("item", ["verkleind", "voorwaarden"])
@pytest.mark.parametrize("version, path, status, size", CAPPED_REQUESTS,
                         ids=[f"{v}:{p}" for v, p, _, _ in CAPPED_REQUESTS])
def test_the_public_gets_at_full_what_shows_no_more_than_the_cap(archive, item, version,
                                                                   path, status, size):
    answer = archive.ask(f"/iiif/{version}/{item}~full/{path}")
    if status == 401:
        assert_refused(answer)
        return
    assert answer.status_code == 200, answer.data[:200]
    assert size_of(answer) == size
    assert_private(answer)
    # Staff get the very same answer for the very same URL.
    assert archive.ask(f"/iiif/{version}/{item}~full/{path}", "staff (cookie)").data == answer.data


def test_a_reading_room_image_capped_at_half_allows_scale_factor_two_not_one(archive):
    tile2 = archive.ask("/iiif/3/studiezaal-verkleind~full/0,0,512,512/256,/0/default.jpg")
    assert tile2.status_code == 200 and size_of(tile2) == (256, 256)
    assert_refused(archive.ask("/iiif/3/studiezaal-verkleind~full/0,0,256,256/256,/0/default.jpg"))
    assert_refused(archive.ask("/iiif/3/studiezaal-verkleind~full/full/max/0/default.jpg"))


@pytest.mark.parametrize("item", ["voorwaarden-dicht", "studiezaal", "medewerkers", "gesloten"])
@pytest.mark.parametrize("version, path, status, size", CAPPED_REQUESTS,
                         ids=[f"{v}:{p}" for v, p, _, _ in CAPPED_REQUESTS])
def test_with_no_public_face_the_public_gets_nothing_at_full(archive, item, version, path,
                                                              status, size):
    assert_refused(archive.ask(f"/iiif/{version}/{item}~full/{path}"))
    assert_refused(archive.ask(f"/iiif/{version}/{item}~full/full/!64,64/0/default.jpg"))


STAFF_REQUESTS = [
    (3, "0,0,256,256/256,/0/default.jpg", (256, 256)),
    (3, "full/max/0/default.jpg", (2400, 1600)),
    (3, "pct:10,10,50,50/max/0/default.png", (1200, 800)),
    (3, "full/^3000,/0/default.jpg", (3000, 2000)),
    (3, "0,0,256,256/^512,/0/default.jpg", (512, 512)),
    (2, "0,0,256,256/256,/0/default.jpg", (256, 256)),
    (2, "full/full/0/default.jpg", (2400, 1600)),
    (2, "full/pct:50/0/default.jpg", (1200, 800)),
]


@pytest.mark.parametrize("who", ["staff (cookie)", "sign-on from a trusted proxy"])
def test_staff_see_every_detail_of_every_tier(archive, who):
    for item in TIERS:
        for version, path, size in STAFF_REQUESTS:
            answer = archive.ask(f"/iiif/{version}/{item}~full/{path}", who)
            assert answer.status_code == 200, (item, path, answer.data[:200])
            assert size_of(answer) == size, (item, path)
            assert_private(answer)


def test_the_reading_room_sees_its_tiers_in_full_but_not_staff_only_images(archive):
    for item in TIERS:
        answer = archive.ask(f"/iiif/3/{item}~full/0,0,256,256/256,/0/default.jpg",
                             "reading room")
        if item in ("medewerkers", "gesloten"):
            assert_refused(answer)
        else:
            assert answer.status_code == 200 and size_of(answer) == (256, 256), item


# --------------------------------------------------------------------------- tokens

def test_a_token_opens_info_json_and_the_probe_but_never_pixels(archive):
    bearer = {"Authorization": f"Bearer {archive.token}", "Origin": PORTAL}
    assert archive.ask("/iiif/3/medewerkers~full/info.json", headers=bearer).status_code == 200
    assert archive.ask("/iiif/2/medewerkers~full/info.json", headers=bearer).status_code == 200
    probe = archive.ask("/auth/2/probe/medewerkers", headers=bearer)
    assert probe.get_json()["status"] == 200
    for path in ("0,0,256,256/256,/0/default.jpg", "full/max/0/default.jpg",
                 "full/64,/0/default.jpg"):
        assert_refused(archive.ask(f"/iiif/3/medewerkers~full/{path}", headers=bearer))
    # Within the cap, a capped image's tiles are the public's anyway.
    assert archive.ask("/iiif/3/verkleind~full/0,0,1024,1024/256,/0/default.jpg",
                       headers=bearer).status_code == 200
    assert_refused(archive.ask("/iiif/3/verkleind~full/0,0,256,256/256,/0/default.jpg",
                               headers=bearer))


def test_a_token_counts_only_from_the_origin_it_was_made_for(archive):
    path = "/iiif/3/medewerkers~full/info.json"
    bearer = {"Authorization": f"Bearer {archive.token}"}
    assert archive.ask(path, headers={**bearer, "Origin": PORTAL}).status_code == 200
    def refused(headers: dict) -> None:
        answer = archive.ask(path, headers=headers)
        assert answer.status_code == 401 and answer.get_json()["width"] == WIDTH

    for origin in (ELSEWHERE, "https://portal.example.evil.example", "http://portal.example",
                   "null"):
        refused({**bearer, "Origin": origin})
    refused(bearer)  # no Origin: this site's own
    # Not a cookie, and a cookie is not a token.
    refused({"Cookie": f"beeldpost_session={archive.token}"})
    refused({"Authorization": f"Bearer {archive.staff}", "Origin": PORTAL})
    # Another scheme with the token is no token.
    refused({"Authorization": f"Basic {archive.token}", "Origin": PORTAL})


def test_a_token_from_the_2_0_token_service_opens_the_full_version_too(archive):
    browser = archive.app.test_client()
    browser.set_cookie("beeldpost_session", archive.staff)
    page = browser.get(f"/auth/2/token?messageId=m-7&origin={ELSEWHERE}").get_data(as_text=True)
    message, target = posted_message(page)
    assert target == ELSEWHERE and message["type"] == "AuthAccessToken2"
    path = "/iiif/3/gesloten~full/info.json"
    headers = {"Authorization": f"Bearer {message['accessToken']}"}
    assert archive.ask(path, headers={**headers, "Origin": ELSEWHERE}).status_code == 200
    assert archive.ask(path, headers={**headers, "Origin": PORTAL}).status_code == 401


# --------------------------------------------------------------------------- proxies

def test_x_forwarded_for_is_believed_from_trusted_proxies_only(archive):
    path = "/iiif/3/studiezaal~full/info.json"
    cases = [
        (ROOM, None, 200),
        (PROXY, ROOM, 200),
        (PROXY, f"{ROOM}, 10.0.0.9", 200),  # through two of ours
        ("127.0.0.1", ROOM, 401),  # a client's own header
        (OUTSIDE, ROOM, 401),
        (PROXY, f"{ROOM}, {OUTSIDE}", 401),  # a forged first hop
        (PROXY, f"{ROOM}, not-an-address", 401),
        (PROXY, OUTSIDE, 401),
        (ROOM, OUTSIDE, 200),  # the reading room's own machine, whatever it writes
    ]
    for remote, forwarded, status in cases:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        answer = archive.app.test_client(use_cookies=False).get(
            path, headers=headers, environ_base={"REMOTE_ADDR": remote})
        assert answer.status_code == status, (remote, forwarded)


def test_the_sign_on_header_makes_staff_only_from_a_trusted_proxy(archive):
    path = "/iiif/3/medewerkers~full/full/max/0/default.jpg"
    for remote, status in ((PROXY, 200), ("127.0.0.1", 401), (OUTSIDE, 401), (ROOM, 401)):
        answer = archive.app.test_client(use_cookies=False).get(
            path, headers={"Remote-User": "p.pietersen"}, environ_base={"REMOTE_ADDR": remote})
        assert answer.status_code == status, remote
    # An empty name names nobody.
    for name in ("", "   "):
        answer = archive.app.test_client(use_cookies=False).get(
            path, headers={"Remote-User": name}, environ_base={"REMOTE_ADDR": PROXY})
        assert answer.status_code == 401, repr(name)
    # Another header of that kind is not the sign-on header.
    answer = archive.app.test_client(use_cookies=False).get(
        path, headers={"X-Remote-User": "p.pietersen", "X-Forwarded-User": "p.pietersen"},
        environ_base={"REMOTE_ADDR": PROXY})
    assert answer.status_code == 401


# --------------------------------------------------------------------------- caches

def test_the_response_cache_never_hands_the_full_scan_to_the_public_url(archive):
    for version, size in ((3, "max"), (2, "full")):
        full = archive.ask(f"/iiif/{version}/cache-proef~full/full/{size}/0/default.jpg",
                           "staff (cookie)")
        assert full.status_code == 200 and size_of(full) == (WIDTH, HEIGHT)
        again = archive.ask(f"/iiif/{version}/cache-proef~full/full/{size}/0/default.jpg",
                            "staff (cookie)")
        assert again.headers["X-Beeldpost-Cache"] == "hit"  # it is kept
        public = archive.ask(f"/iiif/{version}/cache-proef/full/{size}/0/default.jpg")
        assert public.status_code == 200 and size_of(public) == (800, 533), version
        assert public.headers["ETag"] != full.headers["ETag"]
        # Revalidating the full answer's tag at the public URL gets the public face.
        revalidated = archive.ask(f"/iiif/{version}/cache-proef/full/{size}/0/default.jpg",
                                  headers={"If-None-Match": full.headers["ETag"]})
        assert revalidated.status_code == 200 and size_of(revalidated) == (800, 533)
        # The same for staff at the public URL: the public face is the same for everyone.
        staff_public = archive.ask(f"/iiif/{version}/cache-proef/full/{size}/0/default.jpg",
                                   "staff (cookie)")
        assert size_of(staff_public) == (800, 533)


def test_the_public_face_kept_first_is_never_the_full_versions_answer(archive):
    public = archive.ask("/iiif/3/cache-proef-2/full/max/0/default.jpg")
    assert size_of(public) == (800, 533)
    tile = archive.ask("/iiif/3/cache-proef-2/0,0,256,256/256,/0/default.jpg")
    assert tile.status_code == 200
    full = archive.ask("/iiif/3/cache-proef-2~full/full/max/0/default.jpg", "staff (cookie)")
    assert size_of(full) == (WIDTH, HEIGHT)
    full_tile = archive.ask("/iiif/3/cache-proef-2~full/0,0,256,256/256,/0/default.jpg",
                            "staff (cookie)")
    assert full_tile.status_code == 200 and full_tile.data != tile.data
    # … and the anonymous still get no scale-factor-1 tile of the full version.
    assert_refused(archive.ask("/iiif/3/cache-proef-2~full/0,0,256,256/256,/0/default.jpg"))


def test_the_kept_info_json_of_the_full_version_is_not_the_public_ones(archive):
    for version in (3, 2):
        full = archive.ask(f"/iiif/{version}/cache-proef-3~full/info.json", "staff (cookie)")
        assert full.status_code == 200 and full.get_json()["width"] == WIDTH
        public = archive.ask(f"/iiif/{version}/cache-proef-3/info.json", "staff (cookie)")
        assert public.get_json()["width"] == 800
        assert profiles(public.get_json()) == ((["login"] if version == 2 else []), [])
        assert public.headers["ETag"] != full.headers["ETag"]
        # A tag of the staff's 200 is no 304 to whoever may not see the full scan.
        refused = archive.ask(f"/iiif/{version}/cache-proef-3~full/info.json",
                              headers={"If-None-Match": full.headers["ETag"]})
        if version == 2:
            assert_sent_to_the_public_face(refused, "cache-proef-3")
        else:
            assert refused.status_code == 401 and refused.get_json()["width"] == WIDTH


FULL_PATHS = ["info.json", "0,0,256,256/256,/0/default.jpg", "0,0,1024,1024/256,/0/default.jpg",
              "full/max/0/default.jpg", "full/!300,300/0/default.png"]


@pytest.mark.parametrize("who", ["staff (cookie)", "staff token, right origin",
                                 "sign-on from a trusted proxy", "reading room",
                                 "accepted the terms of voorwaarden", "anonymous"])
def test_every_answer_of_a_full_version_is_private(archive, who):
    seen = revalidated = 0
    for item in TIERS:
        for version in (3, 2):
            for path in FULL_PATHS:
                if version == 2:
                    path = path.replace("/max/", "/full/")
                answer = archive.ask(f"/iiif/{version}/{item}~full/{path}", who)
                if answer.status_code == 401 and path != "info.json":
                    assert answer.headers["Cache-Control"] == "no-store"
                    continue
                if answer.status_code == 302:  # 2.1's tiered access
                    assert_sent_to_the_public_face(answer, item)
                    continue
                seen += answer.status_code == 200
                assert_private(answer)
                tag = answer.headers["ETag"]
                again = archive.ask(f"/iiif/{version}/{item}~full/{path}", who,
                                    headers={"If-None-Match": tag})
                if again.status_code == 304:
                    revalidated += 1
                    assert_private(again)
                else:
                    assert again.status_code == answer.status_code == 401
    assert seen > 0 and revalidated > 0


# --------------------------------------------------------------------------- the decisions log

def test_each_request_for_a_full_version_is_decided_and_logged_once(archive, caplog):
    caplog.set_level(logging.INFO, logger="beeldpost.decisions")
    archive.ask("/iiif/3/verkleind~full/info.json")
    archive.ask("/iiif/2/medewerkers~full/0,0,256,256/256,/0/default.jpg", "staff (cookie)")
    archive.ask("/iiif/3/studiezaal~full/info.json", "reading room through the proxy")
    archive.ask("/iiif/3/gesloten~full/info.json", "sign-on from a trusted proxy")
    archive.ask("/iiif/3/open-stuk~full/info.json")  # open: nothing to log
    archive.ask("/iiif/3/verkleind/info.json")  # the public face: no decision
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "beeldpost.decisions"]
    assert [(line["image"], line["route"], line["granted"], line["who"]) for line in lines] == [
        ("verkleind", "iiif3.info", False, "anonymous"),
        ("medewerkers", "iiif2.image", True, "beheer"),
        ("studiezaal", "iiif3.info", True, "reading room"),
        ("gesloten", "iiif3.info", True, "j.jansen"),
    ]
    assert lines[0]["address"] == OUTSIDE and lines[2]["address"] == ROOM
    assert lines[3]["sign_on"] is True and lines[1]["sign_on"] is False
    assert lines[0]["tier"] == "capped" and lines[0]["items"] == ["verkleind"]


@pytest.mark.parametrize("item", TIERS)
def test_the_tier_is_what_the_record_says(archive, item, caplog):
    caplog.set_level(logging.INFO, logger="beeldpost.decisions")
    archive.ask(f"/iiif/3/{item}~full/info.json")
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "beeldpost.decisions"]
    if item == "open-stuk":
        assert lines == []
    else:
        assert [line["tier"] for line in lines] == [EXPECTED_TIER[item]]


# --------------------------------------------------------------------------- garbage

_random = random.Random(22)
RANDOM = _random.randbytes(200).decode("latin-1")
VALID_LOOKING = "eyJpZCI6IngiLCJlbmRzIjo5OTk5OTk5OTk5LCJ1c2VyIjoiYmVoZWVyIn0"  # {"id":"x",…}

GARBAGE = [
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + "A" * 100_000}, id="huge token"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + "A.B" * 3000}, id="many dots"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + VALID_LOOKING + ".c2lnbmF0dXJl"},
                 id="forged token"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + VALID_LOOKING + "."}, id="no signature"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer ."}, id="a dot"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer"}, id="bearer alone"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer     "}, id="bearer and spaces"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer %%%.%%%"}, id="not base64"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + RANDOM.replace(".", "")},
                 id="random bytes token"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + RANDOM.replace(".", "") + "." + RANDOM},
                 id="random bytes both sides of a dot"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer \u00e9t\u00e9.\u00e9t\u00e9"},
                 id="non-ASCII token"),
    pytest.param({"HTTP_AUTHORIZATION": "Bearer " + VALID_LOOKING + ".\u00e9"},
                 id="non-ASCII signature"),
    pytest.param({"HTTP_COOKIE": "beeldpost_session=" + "A" * 100_000}, id="huge cookie"),
    pytest.param({"HTTP_COOKIE": "beeldpost_session=" + VALID_LOOKING + ".c2ln"},
                 id="forged cookie"),
    pytest.param({"HTTP_COOKIE": 'beeldpost_session="quoted.value"; other=1'},
                 id="quoted cookie"),
    pytest.param({"HTTP_COOKIE": "beeldpost_session=a; beeldpost_session=b.c"},
                 id="cookie twice"),
    pytest.param({"HTTP_COOKIE": "beeldpost_session=" + VALID_LOOKING + ".\u00c3\u00a9"},
                 id="cookie with a UTF-8 non-ASCII signature"),
    pytest.param({"HTTP_COOKIE": "beeldpost_session=abc.\u00e9"},
                 id="cookie with a byte that is not UTF-8"),
    pytest.param({"HTTP_COOKIE": "elders=\u00ff\u00fe; beeldpost_session=x.y"},
                 id="another cookie not UTF-8"),
    pytest.param({"HTTP_COOKIE": "beeldpost_session=" + RANDOM.replace(";", "")},
                 id="random bytes cookie"),
    pytest.param({"HTTP_ORIGIN": RANDOM, "HTTP_AUTHORIZATION": "Bearer x.y"},
                 id="random bytes origin"),
    pytest.param({"HTTP_X_FORWARDED_FOR": RANDOM, "REMOTE_ADDR": PROXY}, id="random forwarded"),
    pytest.param({"HTTP_REMOTE_USER": RANDOM, "REMOTE_ADDR": OUTSIDE}, id="random sign-on"),
    pytest.param({"REMOTE_ADDR": RANDOM}, id="random peer"),
]


@pytest.mark.parametrize("environ", GARBAGE)
def test_garbage_credentials_are_no_credentials_never_an_error(archive, environ):
    for path in ("/iiif/3/verkleind~full/info.json", "/iiif/2/medewerkers~full/info.json",
                 "/iiif/3/verkleind~full/0,0,1024,1024/256,/0/default.jpg",
                 "/iiif/3/verkleind~full/full/max/0/default.jpg",
                 "/iiif/3/studiezaal~full/full/max/0/default.jpg",
                 "/auth/2/probe/verkleind"):
        expected = archive.ask(path)
        answer = archive.ask(path, environ=environ)
        assert answer.status_code == expected.status_code, (path, answer.data[:300])
        if path.startswith("/auth/2/probe/"):
            assert answer.get_json()["status"] == 401


# --------------------------------------------------------------------------- both databases

def test_the_same_on_both_databases(tmp_path, catalogue_settings):
    """Accounts, ended sessions and tiers live in the catalogue's database: the gist of
    the above on SQLite and on PostgreSQL."""
    items = {name: ITEMS[name] for name in ("verkleind", "voorwaarden", "medewerkers")}
    archive = made_archive(tmp_path, items, catalogue_settings)
    expected = {"anonymous": {}, "staff (cookie)": set(items),
                "staff token, right origin": {}, "staff token, other origin": {},
                "reading room": {"verkleind", "voorwaarden"},
                "accepted the terms of voorwaarden": {"voorwaarden"},
                "sign-on from a trusted proxy": set(items)}
    for who, granted in expected.items():
        for item in items:
            answer = archive.ask(f"/iiif/3/{item}~full/full/max/0/default.jpg", who)
            assert answer.status_code == (200 if item in granted else 401), (who, item)
        assert archive.ask("/iiif/3/verkleind/full/max/0/default.jpg", who).status_code == 200
    # Signing out ends the session and its token.
    browser = archive.app.test_client()
    browser.set_cookie("beeldpost_session", archive.staff)
    assert browser.post("/auth/logout").status_code == 200
    assert_refused(archive.ask("/iiif/3/medewerkers~full/full/max/0/default.jpg",
                               "staff (cookie)"))
    token = archive.ask("/iiif/3/medewerkers~full/info.json", "staff token, right origin")
    assert token.status_code == 401
