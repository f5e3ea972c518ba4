"""The IIIF Authorization pages and staff sign-in (pages/sign_in.py), through the app:

- /auth/login (and /auth/1/login, /auth/2/login): a form whose proof is tied to a cookie
  of its own; only this site's own posts are taken; one answer whatever failed; slowed
  after failures; a session cookie that scripts cannot read.
- /auth/1/token and /auth/2/token: a page for a viewer's hidden iframe that posts the
  token to the origin that asked, and to it alone.
- /auth/2/probe/{image}: AuthProbeResult2 for the bearer of a token.
- /auth/{1,2}/terms/{image}: the terms, and accepting them for that image only.
- /auth/{1,2}/reading-room, /auth/logout.
"""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import pytest

from beeldpost.access.gate import ACCOUNT_SECONDS

from argon2 import PasswordHasher

from beeldpost import create_app
from beeldpost.access import accounts as accounts_module
from beeldpost.access import sessions as sessions_module
from beeldpost.access import throttle as throttle_module
from beeldpost.access.accounts import Accounts
from beeldpost.access.sessions import Session, Sessions, Signer

from support.presentation import make_jpeg, record_data, write_record

PASSWORD = "correct horse battery staple"
PORTAL, ELSEWHERE = "https://portal.example", "https://elders.example"
ROOM = "192.0.2.10"
SECRET = "een geheim van minstens tweeëndertig tekens lang"
TERMS_EN = "Our own terms: look, do not copy."
TERMS_NL = "Onze eigen voorwaarden: kijken, niet kopiëren."
RECORD_TERMS = {"nl": "Alleen voor eigen studie (kaartencollectie).",
                "en": "For your own study only (map collection)."}
ITEMS = {
    "verkleind": {"access": "capped", "max_size": 800},
    "voorwaarden": {"access": "clickthrough", "max_size": 800, "terms": RECORD_TERMS},
    "voorwaarden-2": {"access": "voorwaarden"},
    "medewerkers": {"access": "medewerkers"},
    "studiezaal": {"access": "studiezaal"},
}


def publish(images, manifests, items: dict) -> None:
    for item, fields in items.items():
        make_jpeg(images / f"{item}.jpg", 2400, 1600)
        write_record(manifests, item, record_data(item, **{"people": None, **fields}))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The records, scans and derivatives, made once: each test's app has a database
    of its own (its sign-in failures, ended sessions) on these."""
    root = tmp_path_factory.mktemp("published")
    images, manifests = root / "images", root / "manifests"
    images.mkdir()
    manifests.mkdir()
    publish(images, manifests, ITEMS)
    return images, manifests, root / "cache"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """Argon2id at test strength (the real parameters are tests/access/test_accounts.py's
    business): accounts made and checked here cost milliseconds, not a tenth of a second."""
    monkeypatch.setattr(accounts_module, "PasswordHasher",
                        lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def make_site(folders, database: dict, **settings):
    images, manifests, cache = folders
    app = create_app({"images_dir": images, "manifests_dir": manifests, "cache_dir": cache,
                      "journal_interval": 0, "secret": SECRET,
                      "reading_room": "192.0.2.0/24", "trusted_proxies": "10.0.0.0/24",
                      "terms_en": TERMS_EN, "terms_nl": TERMS_NL, **database, **settings})
    # (The Image API looks for new records before it answers; the auth pages do not.)
    assert app.test_client().get("/iiif/3/verkleind/info.json").status_code == 200
    Accounts(app.extensions["beeldpost.journal"].db).add("beheer", PASSWORD)
    return app


@pytest.fixture
def site(tmp_path, published):
    """The site on SQLite: what these tests see does not depend on the database."""
    return make_site(published, {"journal_file": tmp_path / "journal.sqlite3"})


@pytest.fixture
def site_db(tmp_path, published, catalogue_settings):
    """The site on each database in turn: for what the database keeps (failures, ends)."""
    return make_site(published, catalogue_settings or {
        "journal_file": tmp_path / "journal.sqlite3"})


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand."""
    now = [time.time()]
    monkeypatch.setattr(throttle_module, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def proof_of(answer) -> str:
    found = re.search(r'name="proof" value="([^"]+)"', answer.get_data(as_text=True))
    assert found, answer.get_data(as_text=True)
    return found.group(1)


def sign_in(client, name="beheer", password=PASSWORD, path="/auth/login", headers=None,
            **options):
    proof = proof_of(client.get(path))
    return client.post(path, data={"proof": proof, "name": name, "password": password},
                       headers=headers or {}, **options)


def set_cookies(answer) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in answer.headers.getlist("Set-Cookie")}


def attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")][1:]
    return {part.split("=", 1)[0].lower(): (part.split("=", 1)[1] if "=" in part else "")
            for part in parts}


def posted_message(answer) -> tuple[dict, str]:
    page = answer.get_data(as_text=True)
    found = re.search(r"<script>window\.parent\.postMessage\((\{.*\}), (\"[^\"]*\")\);</script>",
                      page)
    assert found, page
    return json.loads(found.group(1)), json.loads(found.group(2))


def token_for(client, origin=PORTAL) -> str:
    message, target = posted_message(
        client.get("/auth/1/token", query_string={"messageId": "1", "origin": origin}))
    assert target == origin
    return message["accessToken"]


def probe(app, image: str, token: str | None = None, origin: str | None = PORTAL, **options):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    return app.test_client(use_cookies=False).get(f"/auth/2/probe/{image}", headers=headers,
                                                  **options)


# --------------------------------------------------------------------------- the form

def test_the_sign_in_form(site):
    client = site.test_client()
    for path in ("/auth/login", "/auth/1/login", "/auth/2/login"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.mimetype == "text/html", path
        page = answer.get_data(as_text=True)
        assert '<form method="post">' in page
        assert 'name="name"' in page and 'type="password"' in page
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"  # not framed: clickjacking
    first = site.test_client().get("/auth/login")
    form_cookie = set_cookies(first)["beeldpost_form"]
    assert attributes(form_cookie)["path"] == "/auth/"
    assert "httponly" in attributes(form_cookie)
    assert attributes(form_cookie)["samesite"] == "Strict"
    # The proof stays the same for the same browser, and differs from another's.
    assert proof_of(client.get("/auth/login")) == proof_of(client.get("/auth/1/login"))
    assert proof_of(first) != proof_of(client.get("/auth/login"))
    assert "beeldpost_form" not in set_cookies(client.get("/auth/login"))
    dutch = site.test_client().get("/auth/login?lang=nl").get_data(as_text=True)
    assert "Wachtwoord" in dutch and 'lang="nl"' in dutch
    dutch = site.test_client().get("/auth/login", headers={"Accept-Language": "nl,en;q=0.5"})
    assert "Wachtwoord" in dutch.get_data(as_text=True)


def test_a_wrong_password_and_an_unknown_name_are_told_apart_by_nothing(site_db):
    client = site_db.test_client()
    answers = {}
    for name, password in (("beheer", PASSWORD + "!"), ("niemand", PASSWORD),
                           ("Te kort; DROP TABLE accounts", PASSWORD), ("beheer", "")):
        answer = sign_in(client, name, password)
        assert answer.status_code == 401, name
        assert "beeldpost_session" not in set_cookies(answer)
        assert "Retry-After" not in answer.headers
        assert answer.headers["Cache-Control"] == "no-store"
        body = answer.get_data(as_text=True)
        assert "The name or password is not right" in body
        assert f'value="{name}"' in body  # the name typed, shown again
        answers[(name, password)] = body.replace(f'value="{name}"', 'value="NAME"')
    assert len(set(answers.values())) == 1, answers
    dutch = sign_in(client, "niemand", PASSWORD, path="/auth/login?lang=nl")
    assert "De naam of het wachtwoord klopt niet" in dutch.get_data(as_text=True)


def test_the_name_is_shown_again_escaped(site):
    answer = sign_in(site.test_client(), '"><script>alert(1)</script>', PASSWORD)
    assert answer.status_code == 401
    assert "<script>alert(1)" not in answer.get_data(as_text=True)


def test_a_sign_in_sets_a_session_cookie_scripts_cannot_read(site_db):
    client = site_db.test_client()
    answer = sign_in(client, " Beheer ", PASSWORD, path="/auth/1/login")
    assert answer.status_code == 200
    assert "signed in as beheer" in answer.get_data(as_text=True)
    cookie = set_cookies(answer)["beeldpost_session"]
    seen = attributes(cookie)
    assert "httponly" in seen and seen["path"] == "/" and seen["samesite"] == "Lax"
    assert "secure" not in seen  # plain HTTP: development on one's own machine
    assert 8 * 3600 - 10 <= int(seen["max-age"]) <= 8 * 3600
    session = site_db.extensions["beeldpost.gate"].sessions.decode(
        client.get_cookie("beeldpost_session").value)
    assert session.user == "beheer"
    # Signed in: the form page says so.
    assert "signed in as beheer" in client.get("/auth/login").get_data(as_text=True)


def test_over_https_the_session_cookie_is_secure_and_goes_with_cross_site_requests(tmp_path,
                                                                                 published):
    app = make_site(published, {"journal_file": tmp_path / "journal.sqlite3"},
                    public_base_url="https://beeld.example")
    client = app.test_client()
    form = client.get("/auth/login")
    assert "secure" in attributes(set_cookies(form)["beeldpost_form"])
    answer = sign_in(client, headers={"Origin": "https://beeld.example"})
    assert answer.status_code == 200
    seen = attributes(set_cookies(answer)["beeldpost_session"])
    assert "secure" in seen and "httponly" in seen and seen["samesite"] == "None"
    # This site's own origin is what the public URL says, not the request's host.
    refused = sign_in(app.test_client(), headers={"Origin": "http://localhost"})
    assert refused.status_code == 400


REFUSED_POSTS = {
    "no proof": ({"name": "beheer", "password": PASSWORD}, {}),
    "a wrong proof": ({"proof": "x" * 43, "name": "beheer", "password": PASSWORD}, {}),
    "an empty proof": ({"proof": "", "name": "beheer", "password": PASSWORD}, {}),
    "another site's Origin": (None, {"Origin": ELSEWHERE}),
    "a look-alike Origin": (None, {"Origin": "http://localhost.elders.example"}),
    "Sec-Fetch-Site cross-site": (None, {"Sec-Fetch-Site": "cross-site"}),
    "Sec-Fetch-Site same-site": (None, {"Sec-Fetch-Site": "same-site"}),
}


def test_a_post_not_from_this_sites_own_form_is_refused(site):
    for case, (data, headers) in REFUSED_POSTS.items():
        client = site.test_client()
        proof = proof_of(client.get("/auth/login"))
        answer = client.post("/auth/login", headers=headers, data=data or {
            "proof": proof, "name": "beheer", "password": PASSWORD})
        assert answer.status_code == 400, case
        assert "beeldpost_session" not in set_cookies(answer)
        assert client.get_cookie("beeldpost_session") is None
        assert "The form has expired" in answer.get_data(as_text=True)
        proof_of(answer)  # a fresh form to try again with
    # Refused posts are no failed sign-ins: nothing is slowed, the proper post signs in.
    answer = sign_in(client)
    assert answer.status_code == 200 and "Retry-After" not in answer.headers


def test_a_proof_from_another_browser_is_no_proof(site):
    mine, theirs = site.test_client(), site.test_client()
    proof_of(mine.get("/auth/login"))
    their_proof = proof_of(theirs.get("/auth/login"))
    answer = mine.post("/auth/login", data={"proof": their_proof, "name": "beheer",
                                            "password": PASSWORD})
    assert answer.status_code == 400 and "beeldpost_session" not in set_cookies(answer)
    # Nor with no form cookie at all (a post from another site's page).
    bare = site.test_client(use_cookies=False)
    answer = bare.post("/auth/login", data={"proof": their_proof, "name": "beheer",
                                            "password": PASSWORD})
    assert answer.status_code == 400 and "beeldpost_session" not in set_cookies(answer)


def test_this_sites_own_origin_and_a_typed_address_are_taken(site):
    assert sign_in(site.test_client(), headers={"Origin": "http://localhost"}).status_code == 200
    assert sign_in(site.test_client(), headers={"Sec-Fetch-Site": "none"}).status_code == 200
    assert sign_in(site.test_client(),
                   headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_failures_slow_the_next_try(site_db, clock):
    client = site_db.test_client()
    for _ in range(5):
        answer = sign_in(client, "beheer", "not the password")
        assert answer.status_code == 401 and "Retry-After" not in answer.headers
    slowed = sign_in(client, "beheer", "not the password")
    assert slowed.status_code == 401 and slowed.headers["Retry-After"] == "1"
    assert "The name or password is not right" in slowed.get_data(as_text=True)
    # While slowed, even the right password is refused, with the same answer.
    right = sign_in(client, "beheer", PASSWORD)
    assert right.status_code == 401 and right.headers["Retry-After"] == "1"
    assert "beeldpost_session" not in set_cookies(right)
    # Per address: another name from here waits too; per name: from elsewhere too.
    assert "Retry-After" in sign_in(client, "archivaris", "whatever it is").headers
    elsewhere = sign_in(site_db.test_client(), "beheer", PASSWORD,
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 401 and "Retry-After" in elsewhere.headers
    # Once the wait is over, the right password signs in.
    clock[0] += 1.5
    assert sign_in(client, "beheer", PASSWORD).status_code == 200


def test_the_wait_grows_with_each_failure(site_db, clock):
    client = site_db.test_client()
    for _ in range(5):
        sign_in(client, "beheer", "not the password")
    for expected in ("1", "2", "4"):
        assert sign_in(client, "beheer", "still wrong").headers["Retry-After"] == expected
        clock[0] += int(expected) + 0.1
        assert sign_in(client, "beheer", "still wrong").status_code == 401  # counted
    assert sign_in(client, "beheer", "nope").headers["Retry-After"] == "8"


# --------------------------------------------------------------------------- tokens

def test_the_1_0_token_page_posts_to_the_origin_that_asked_only(site):
    client = site.test_client()
    sign_in(client)
    answer = client.get("/auth/1/token", query_string={"messageId": "m-1", "origin": PORTAL})
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    message, target = posted_message(answer)
    assert target == PORTAL
    assert message["messageId"] == "m-1" and 0 < message["expiresIn"] <= 600
    assert "error" not in message
    token = site.extensions["beeldpost.gate"].sessions.token_of(message["accessToken"])
    assert token.origin == PORTAL and token.user == "beheer"
    # A viewer anywhere frames it.
    assert "X-Frame-Options" not in answer.headers
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert answer.headers["Cache-Control"] == "no-store"
    # A page of the token's own origin posts to that origin only.
    assert posted_message(client.get("/auth/1/token", query_string={
        "messageId": "2", "origin": "http://localhost:8080"}))[1] == "http://localhost:8080"


def test_the_1_0_token_page_says_missing_credentials_to_whoever_is_not_signed_in(site):
    answer = site.test_client().get("/auth/1/token",
                                    query_string={"messageId": "m-2", "origin": PORTAL})
    assert answer.status_code == 200
    message, target = posted_message(answer)
    assert target == PORTAL
    assert message["error"] == "missingCredentials" and message["messageId"] == "m-2"
    assert "accessToken" not in message
    # Asked directly (no messageId): JSON.
    direct = site.test_client().get("/auth/1/token")
    assert direct.status_code == 401 and direct.get_json()["error"] == "missingCredentials"


def test_the_1_0_token_service_as_json_for_a_signed_in_browser(site):
    client = site.test_client()
    sign_in(client)
    direct = client.get("/auth/1/token")
    assert direct.status_code == 200 and direct.mimetype == "application/json"
    assert direct.headers["Cache-Control"] == "no-store"
    token = site.extensions["beeldpost.gate"].sessions.token_of(direct.get_json()["accessToken"])
    assert token.origin == "http://localhost" and token.user == "beheer"


BAD_ORIGINS = ["", "*", "null", "portal.example", "https://portal.example/",
               "https://portal.example/pad", "javascript:alert(1)",
               'https://a.example", "*"); alert(1); ("', "https://a.example</script>",
               "ftp://portal.example", "https://user@portal.example"]


def test_a_token_page_without_a_proper_origin_posts_nothing(site):
    client = site.test_client()
    sign_in(client)
    for origin in BAD_ORIGINS:
        for path in ("/auth/1/token", "/auth/2/token"):
            answer = client.get(path, query_string={"messageId": "m", "origin": origin})
            assert answer.status_code == 400, (path, origin)
            assert answer.mimetype == "application/json"
            assert b"accessToken" not in answer.data and b"postMessage" not in answer.data
    missing = client.get("/auth/1/token", query_string={"messageId": "m"})
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalidRequest"


def test_the_message_id_cannot_break_out_of_the_script(site):
    answer = site.test_client().get("/auth/1/token", query_string={
        "messageId": "</script><script>alert(1)</script>", "origin": PORTAL})
    page = answer.get_data(as_text=True)
    assert page.count("<script>") == 1 and page.count("</script>") == 1
    message, _ = posted_message(answer)
    assert message["messageId"] == "</script><script>alert(1)</script>"


def test_the_2_0_token_service(site):
    client = site.test_client()
    error = client.get("/auth/2/token", query_string={"messageId": "a", "origin": PORTAL})
    message, target = posted_message(error)
    assert target == PORTAL and "X-Frame-Options" not in error.headers
    assert message["type"] == "AuthAccessTokenError2" and message["profile"] == "missingAspect"
    assert message["messageId"] == "a" and "accessToken" not in message
    assert message["@context"] == "http://iiif.io/api/auth/2/context.json"
    sign_in(client)
    answer = client.get("/auth/2/token", query_string={"messageId": "b", "origin": PORTAL})
    message, target = posted_message(answer)
    assert target == PORTAL
    assert message["type"] == "AuthAccessToken2" and message["messageId"] == "b"
    assert 0 < message["expiresIn"] <= 600
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors *"
    for query in ({"origin": PORTAL}, {"messageId": "c"}, {}):
        invalid = client.get("/auth/2/token", query_string=query)
        assert invalid.status_code == 400
        assert invalid.get_json()["profile"] == "invalidRequest"


def test_the_reading_room_and_a_trusted_sign_on_get_tokens_without_a_cookie(site):
    bare = site.test_client(use_cookies=False)
    room = bare.get("/auth/2/token", query_string={"messageId": "r", "origin": PORTAL},
                    environ_base={"REMOTE_ADDR": ROOM})
    message, _ = posted_message(room)
    assert message["type"] == "AuthAccessToken2"
    assert probe(site, "studiezaal", message["accessToken"],
                 environ_base={"REMOTE_ADDR": ROOM}).get_json()["status"] == 200
    # The token itself holds no reading room: from outside it opens nothing.
    assert probe(site, "studiezaal", message["accessToken"]).get_json()["status"] == 401
    signed_on = bare.get("/auth/1/token", query_string={"messageId": "s", "origin": PORTAL},
                         headers={"Remote-User": "j.jansen"},
                         environ_base={"REMOTE_ADDR": "10.0.0.5"})
    message, _ = posted_message(signed_on)
    assert probe(site, "medewerkers", message["accessToken"]).get_json()["status"] == 200
    forged = bare.get("/auth/1/token", query_string={"messageId": "s", "origin": PORTAL},
                      headers={"Remote-User": "j.jansen"})
    assert posted_message(forged)[0]["error"] == "missingCredentials"


# --------------------------------------------------------------------------- the probe

def test_the_probe_tells_the_public_what_they_see_instead(site):
    answer = probe(site, "verkleind")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    result = answer.get_json()
    assert result["@context"] == "http://iiif.io/api/auth/2/context.json"
    assert result["type"] == "AuthProbeResult2" and result["status"] == 401
    assert result["substitute"] == [{"id": "http://localhost/iiif/3/verkleind",
                                     "type": "ImageService3", "profile": "level2"}]
    assert set(result["heading"]) == {"nl", "en"} and set(result["note"]) == {"nl", "en"}
    assert "reduced" in result["note"]["en"][0]
    assert "location" not in result
    assert answer.headers["Cache-Control"] == "no-store"
    assert {"Authorization", "Origin", "Cookie"} <= {
        name.strip() for name in answer.headers["Vary"].split(",")}
    # The substitute is what the public sees.
    face = site.test_client().get("/iiif/3/verkleind/info.json").get_json()
    assert (face["width"], face["height"]) == (800, 533)


@pytest.mark.parametrize("image, note", [("medewerkers", "Only the archive's staff"),
                                         ("studiezaal", "Only the archive's staff"),
                                         ("voorwaarden-2", "Accept the terms")])
def test_the_probe_offers_no_substitute_where_the_public_sees_nothing(site, image, note):
    result = probe(site, image).get_json()
    assert result["status"] == 401 and "substitute" not in result
    assert result["note"]["en"][0].startswith(note)
    assert site.test_client().get(f"/iiif/3/{image}/info.json").status_code == 401


def test_the_probe_says_200_to_a_token_from_its_own_origin_only(site):
    client = site.test_client()
    sign_in(client)
    token = token_for(client, PORTAL)
    for image in ("verkleind", "medewerkers", "voorwaarden-2"):
        result = probe(site, image, token).get_json()
        assert result["status"] == 200, image
        assert result["location"] == {"id": f"http://localhost/iiif/3/{image}~full",
                                      "type": "ImageService3"}
        assert "substitute" not in result and "note" not in result
    for origin in (ELSEWHERE, "http://portal.example", None):
        assert probe(site, "medewerkers", token, origin).get_json()["status"] == 401, origin


def test_the_probe_refuses_forged_expired_and_ended_tokens(site_db):
    client = site_db.test_client()
    sign_in(client)
    token = token_for(client, PORTAL)
    payload, mac = token.split(".")
    flipped = mac[:5] + ("A" if mac[5] != "A" else "B") + mac[6:]
    foreign, _ = Sessions(Signer("een ander geheim, ook lang genoeg hoor"), None).token(
        Session.new(8).signed_in("beheer"), PORTAL)
    signer = site_db.extensions["beeldpost.gate"].sessions.signer
    expired = signer.sign("token", {"s": "abc", "o": PORTAL, "e": round(time.time()) - 1,
                                    "u": "beheer", "a": []})
    as_cookie = site_db.extensions["beeldpost.gate"].sessions.encode(
        Session.new(8).signed_in("beheer"))
    for bad in (f"{payload}.{flipped}", foreign, expired, as_cookie, payload, "x"):
        assert probe(site_db, "medewerkers", bad).get_json()["status"] == 401, bad
    assert probe(site_db, "medewerkers", token).get_json()["status"] == 200
    # Signing out ends the session and the tokens it gave.
    assert client.get("/auth/2/logout").status_code == 200
    assert probe(site_db, "medewerkers", token).get_json()["status"] == 401


def test_the_probe_of_an_unknown_image_is_404(site):
    assert probe(site, "bestaat-niet").status_code == 404
    assert probe(site, "verkleind~full").status_code == 404


UNKNOWN_PATHS = ["/auth/1/external", "/auth/2/external", "/auth/3/login", "/auth/0/token",
                 "/auth/3/token", "/auth/1/probe/verkleind", "/auth/3/terms/voorwaarden",
                 "/auth/2/kiosk", "/auth/1/login/extra", "/auth/1/terms/bestaat-niet",
                 "/auth/2/terms/bestaat-niet", "/auth/2/probe/"]


def test_unknown_auth_paths_are_404(site):
    for path in UNKNOWN_PATHS:
        assert site.test_client().get(path).status_code == 404, path


# --------------------------------------------------------------------------- terms

def test_the_terms_page_shows_the_records_terms_or_the_servers(site):
    client = site.test_client()
    for flow in (1, 2):
        english = client.get(f"/auth/{flow}/terms/voorwaarden")
        assert english.status_code == 200 and english.headers["Cache-Control"] == "no-store"
        assert RECORD_TERMS["en"] in english.get_data(as_text=True)
        assert TERMS_EN not in english.get_data(as_text=True)
        proof_of(english)
        dutch = client.get(f"/auth/{flow}/terms/voorwaarden?lang=nl").get_data(as_text=True)
        assert RECORD_TERMS["nl"] in dutch
        server = client.get(f"/auth/{flow}/terms/voorwaarden-2").get_data(as_text=True)
        assert TERMS_EN in server and RECORD_TERMS["en"] not in server
        server_nl = client.get(f"/auth/{flow}/terms/voorwaarden-2",
                               headers={"Accept-Language": "nl"}).get_data(as_text=True)
        assert TERMS_NL in server_nl


def accept(client, image: str, flow: int = 1):
    proof = proof_of(client.get(f"/auth/{flow}/terms/{image}"))
    return client.post(f"/auth/{flow}/terms/{image}", data={"proof": proof})


def test_accepting_the_terms_opens_that_image_only(site):
    client = site.test_client()
    assert client.get("/iiif/3/voorwaarden~full/info.json").status_code == 401
    answer = accept(client, "voorwaarden")
    assert answer.status_code == 200
    assert "You have accepted the terms" in answer.get_data(as_text=True)
    seen = attributes(set_cookies(answer)["beeldpost_session"])
    assert "httponly" in seen and seen["samesite"] == "Lax"
    assert client.get("/iiif/3/voorwaarden~full/info.json").status_code == 200
    full = client.get("/iiif/3/voorwaarden~full/full/max/0/default.jpg")
    assert full.status_code == 200
    for other in ("voorwaarden-2", "verkleind", "medewerkers", "studiezaal"):
        assert client.get(f"/iiif/3/{other}~full/info.json").status_code == 401, other
    # A token made now carries what was accepted, for that image only.
    token = token_for(client, PORTAL)
    assert probe(site, "voorwaarden", token).get_json()["status"] == 200
    assert probe(site, "voorwaarden-2", token).get_json()["status"] == 401
    # Accepting the other's terms too: both.
    assert accept(client, "voorwaarden-2", flow=2).status_code == 200
    assert client.get("/iiif/3/voorwaarden~full/info.json").status_code == 200
    assert client.get("/iiif/3/voorwaarden-2~full/info.json").status_code == 200


def test_accepting_terms_opens_nothing_that_is_not_behind_terms(site):
    client = site.test_client()
    for image in ("medewerkers", "studiezaal", "verkleind"):
        assert accept(client, image).status_code == 200
        assert client.get(f"/iiif/3/{image}~full/info.json").status_code == 401, image
        assert client.get(f"/iiif/3/{image}~full/full/max/0/default.jpg").status_code == 401


def test_accepting_terms_needs_this_sites_own_form(site):
    client = site.test_client()
    proof = proof_of(client.get("/auth/1/terms/voorwaarden"))
    for data, headers in (({}, {}), ({"proof": "nope"}, {}),
                          ({"proof": proof}, {"Origin": ELSEWHERE}),
                          ({"proof": proof}, {"Sec-Fetch-Site": "cross-site"})):
        answer = client.post("/auth/1/terms/voorwaarden", data=data, headers=headers)
        assert answer.status_code == 400
        assert "beeldpost_session" not in set_cookies(answer)
    assert client.get("/iiif/3/voorwaarden~full/info.json").status_code == 401


def test_accepting_terms_keeps_a_staff_sign_in(site):
    client = site.test_client()
    sign_in(client)
    assert accept(client, "voorwaarden").status_code == 200
    assert client.get("/iiif/3/medewerkers~full/info.json").status_code == 200
    assert "signed in as beheer" in client.get("/auth/login").get_data(as_text=True)


# --------------------------------------------------------------------------- reading room, logout

def test_the_reading_room_page_says_whether_one_is_in_it(site):
    for flow in (1, 2):
        inside = site.test_client().get(f"/auth/{flow}/reading-room",
                                        environ_base={"REMOTE_ADDR": ROOM})
        assert "You are in the reading room" in inside.get_data(as_text=True)
        outside = site.test_client().get(f"/auth/{flow}/reading-room")
        assert "You are not in the reading room" in outside.get_data(as_text=True)
        claimed = site.test_client().get(f"/auth/{flow}/reading-room",
                                         headers={"X-Forwarded-For": ROOM})
        assert "You are not in the reading room" in claimed.get_data(as_text=True)
        proxied = site.test_client().get(f"/auth/{flow}/reading-room",
                                         headers={"X-Forwarded-For": ROOM},
                                         environ_base={"REMOTE_ADDR": "10.0.0.5"})
        assert "You are in the reading room" in proxied.get_data(as_text=True)
    # Opened by a viewer (?origin=), it closes itself.
    assert "window.close()" in site.test_client().get(
        f"/auth/1/reading-room?origin={PORTAL}").get_data(as_text=True)
    assert "window.close()" not in site.test_client().get(
        "/auth/1/reading-room").get_data(as_text=True)


def test_signing_out_ends_the_session_for_good(site_db):
    for method, path in (("get", "/auth/logout"), ("post", "/auth/logout"),
                         ("get", "/auth/1/logout"), ("post", "/auth/2/logout")):
        client = site_db.test_client()
        sign_in(client)
        cookie = client.get_cookie("beeldpost_session").value
        answer = getattr(client, method)(path)
        assert answer.status_code == 200, path
        assert "You are signed out" in answer.get_data(as_text=True)
        removed = attributes(set_cookies(answer)["beeldpost_session"])
        assert removed["max-age"] == "0" and removed["path"] == "/"
        # The old cookie, kept and sent again, is worth nothing.
        replay = site_db.test_client(use_cookies=False)
        headers = {"Cookie": f"beeldpost_session={cookie}"}
        assert replay.get("/iiif/3/medewerkers~full/info.json",
                          headers=headers).status_code == 401, path
        assert "Sign in" in replay.get("/auth/login", headers=headers).get_data(as_text=True)
        assert posted_message(replay.get("/auth/1/token", query_string={
            "messageId": "x", "origin": PORTAL}, headers=headers))[0]["error"] == (
            "missingCredentials")
        # Signing out with no session is no error.
        assert site_db.test_client().get(path).status_code == 200


def test_signing_out_holds_for_every_server_on_the_database(tmp_path, published,
                                                             catalogue_settings, monkeypatch):
    database = catalogue_settings or {"journal_file": tmp_path / "journal.sqlite3"}
    first = make_site(published, database)
    second = create_app({"images_dir": published[0], "manifests_dir": published[1],
                         "cache_dir": tmp_path / "second", "journal_interval": 0,
                         "secret": SECRET, **database})
    later = [0.0]  # the servers' monotonic clock, moved on by hand
    monotonic = time.monotonic
    monkeypatch.setattr(sessions_module, "time", SimpleNamespace(
        time=time.time, monotonic=lambda: monotonic() + later[0]))
    client = first.test_client()
    sign_in(client)
    cookie = client.get_cookie("beeldpost_session").value
    headers = {"Cookie": f"beeldpost_session={cookie}"}
    path = "/iiif/3/medewerkers~full/info.json"
    other = second.test_client(use_cookies=False)
    assert other.get(path, headers=headers).status_code == 200  # the same secret
    client.post("/auth/logout")
    later[0] += sessions_module.ENDED_SECONDS + 0.1  # what the second read is trusted so long
    assert other.get(path, headers=headers).status_code == 401
    # A third server, never asked before, knows at once.
    third = create_app({"images_dir": published[0], "manifests_dir": published[1],
                        "cache_dir": tmp_path / "third", "journal_interval": 0,
                        "secret": SECRET, **database})
    assert third.test_client(use_cookies=False).get(path, headers=headers).status_code == 401


# --------------------------------------------------------------------------- garbage

def test_garbage_in_the_form_is_refused_not_an_error(site):
    client = site.test_client()
    for name, password in (("x" * 100_000, "y" * 100_000), ("be\x00heer", PASSWORD),
                           ("beheer", "\x00" * 20), ("ÿþ", "é" * 30)):
        assert sign_in(client, name, password).status_code == 401
    assert client.post("/auth/login", data=b"\xff\xfe\x00garbage",
                       content_type="application/x-www-form-urlencoded").status_code == 400
    assert client.post("/auth/login", data={"proof": ["a", "b"],
                                            "name": "beheer"}).status_code == 400


def test_a_proof_with_letters_beyond_ascii_is_refused_not_an_error(site):
    client = site.test_client()
    proof = proof_of(client.get("/auth/login"))
    answer = client.post("/auth/login", data={"proof": "é" + proof[1:], "name": "beheer",
                                              "password": PASSWORD})
    assert answer.status_code == 400


@pytest.mark.parametrize("environ", [
    {"HTTP_COOKIE": "beeldpost_session=abc.\u00c3\u00a9"},
    {"HTTP_COOKIE": "beeldpost_session=abc.\u00e9"},
    {"HTTP_AUTHORIZATION": "Bearer abc.\u00e9", "HTTP_ORIGIN": PORTAL},
], ids=["non-ASCII signature in the cookie", "cookie not UTF-8", "non-ASCII token"])
def test_garbage_cookies_and_tokens_on_the_auth_pages_are_no_error(site, environ):
    client = site.test_client(use_cookies=False)
    for path in ("/auth/login", "/auth/1/token", "/auth/2/probe/verkleind",
                 "/auth/1/terms/voorwaarden", "/auth/logout", "/auth/1/reading-room"):
        answer = client.get(path, environ_overrides=environ)
        assert answer.status_code < 500, path


# --------------------------------------------------------------------------- found while testing

def test_removing_an_account_ends_its_sessions(site):
    client = site.test_client()
    sign_in(client)
    assert client.get("/iiif/3/medewerkers~full/info.json").status_code == 200
    Accounts(site.extensions["beeldpost.journal"].db).remove("beheer")
    time.sleep(ACCOUNT_SECONDS + 0.1)  # what a server read of an account, it keeps this long
    assert client.get("/iiif/3/medewerkers~full/info.json").status_code == 401


def test_the_auth_pages_see_a_newly_published_item(tmp_path):
    images, manifests = tmp_path / "images", tmp_path / "manifests"
    images.mkdir()
    manifests.mkdir()
    publish(images, manifests, {"verkleind": ITEMS["verkleind"]})
    site = make_site((images, manifests, tmp_path / "cache"), {})
    publish(images, manifests, {"nieuw-voorwaarden": {"access": "clickthrough"},
                                "nieuw-medewerkers": {"access": "staff"}})
    assert site.test_client().get("/auth/1/terms/nieuw-voorwaarden").status_code == 200
    answer = probe(site, "nieuw-medewerkers")
    assert answer.status_code == 200 and answer.get_json()["status"] == 401
