"""Sessions and access tokens (access/sessions.py): signed with HMAC-SHA256 under the
server's secret, so that nobody without it makes or changes one; each for its own
purpose; tokens bound to an origin and living minutes; a session ended by signing out
is refused by every server sharing the catalogue's database, within ENDED_SECONDS."""

from __future__ import annotations

import base64
import json
import time
from types import SimpleNamespace

import pytest

from beeldpost.access import sessions as sessions_module
from beeldpost.access.decision import Who
from beeldpost.access.gate import Asking, Gate
from beeldpost.access.sessions import (
    ENDED_SECONDS,
    MOST_ACCEPTED,
    TOKEN_SECONDS,
    Session,
    Sessions,
    Signer,
)
from beeldpost.catalogue.journal import CatalogueDatabase
from beeldpost.settings import Settings
from beeldpost.storage.places import NotAtHand

from support.postgres import BACKENDS, database_for

SECRET = "een geheim van minstens tweeëndertig tekens lang"
OTHER_SECRET = "een ander geheim, ook lang genoeg voor een sleutel"
PORTAL = "https://portal.example"


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path) -> CatalogueDatabase:
    return CatalogueDatabase(database_for(request, request.param, tmp_path))


@pytest.fixture
def clock(monkeypatch):
    """The sessions module's clock, moved by hand: [wall time, monotonic time]."""
    now = [time.time(), 1000.0]
    monkeypatch.setattr(sessions_module, "time",
                        SimpleNamespace(time=lambda: now[0], monotonic=lambda: now[1]))
    return now


def staff_session(hours: float = 8.0) -> Session:
    return Session.new(hours).signed_in("beheer").accepting("kaart-1")


def unpadded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --------------------------------------------------------------------------- signing

def test_a_signed_value_opens_under_its_secret_and_purpose_only():
    signer = Signer(SECRET)
    signed = signer.sign("session", {"id": "abc", "ends": 2_000_000_000, "accepted": ["é"]})
    assert signer.open("session", signed) == {"id": "abc", "ends": 2_000_000_000,
                                              "accepted": ["é"]}
    assert Signer(SECRET.encode("utf-8")).open("session", signed) is not None  # bytes too
    assert Signer(OTHER_SECRET).open("session", signed) is None
    assert signer.open("token", signed) is None
    assert signer.open("form", signed) is None


def test_a_secret_must_be_long_enough():
    with pytest.raises(ValueError):
        Signer("kort")
    with pytest.raises(ValueError):
        Signer(b"15 bytes secret")
    Signer(b"sixteen bytes!!!")


def test_any_change_to_a_signed_value_is_refused():
    signer = Signer(SECRET)
    signed = signer.sign("session", {"id": "abc", "ends": 2_000_000_000, "user": None})
    payload, mac = signed.split(".")
    # Every single character changed, in the payload and in the signature.
    for position in range(len(signed)):
        if signed[position] == ".":
            continue
        for replacement in "A_-0":
            if replacement != signed[position]:
                changed = signed[:position] + replacement + signed[position + 1:]
                assert signer.open("session", changed) is None, position
    # A payload of one's own choosing, with any signature there is.
    forged = unpadded(json.dumps({"id": "abc", "ends": 2_000_000_000,
                                  "user": "beheer"}).encode())
    assert signer.open("session", f"{forged}.{mac}") is None
    other = Signer(OTHER_SECRET).sign("session", {"id": "abc", "ends": 2_000_000_000,
                                                  "user": "beheer"})
    assert signer.open("session", other) is None
    assert signer.open("session", f"{forged}.{other.split('.')[1]}") is None
    # Truncated, padded, doubled, empty.
    for broken in (payload, f"{payload}.", f".{mac}", f"{payload}.{mac[:-1]}",
                   f"{payload}.{mac}=", f"{signed}.{mac}", f"{payload}={mac}", "", ".", None,
                   f"{payload}.{mac}".upper(), " " + signed):
        assert signer.open("session", broken) is None, broken


def test_a_signature_over_a_value_that_is_not_an_object_opens_to_nothing():
    signer = Signer(SECRET)
    for value in ([1, 2], "text", 3, None):
        payload = unpadded(json.dumps(value).encode())
        assert signer.open("session", f"{payload}.{signer._mac('session', payload)}") is None
    payload = unpadded(b"\xff\xfe not json")
    assert signer.open("session", f"{payload}.{signer._mac('session', payload)}") is None


def test_oversized_values_are_refused_before_any_work():
    signer = Signer(SECRET)
    signed = signer.sign("session", {"id": "x" * 7000})
    assert len(signed) > 8192 and signer.open("session", signed) is None
    assert signer.open("session", signer.sign("session", {"id": "x" * 5000})) is not None


def test_the_form_proof_digest_is_keyed_and_purposeful():
    signer = Signer(SECRET)
    proof = signer.digest("form", "willekeurig")
    assert proof == Signer(SECRET).digest("form", "willekeurig")
    assert proof != Signer(OTHER_SECRET).digest("form", "willekeurig")
    assert proof != signer.digest("form", "willekeurig!")
    assert proof != signer.digest("session", "willekeurig")
    assert signer.digest("form", "ëé") != signer.digest("form", "ee")


# --------------------------------------------------------------------------- sessions

def test_a_session_survives_its_cookie():
    sessions = Sessions(Signer(SECRET), None, hours=8)
    session = sessions.new()
    assert len(session.id) >= 24 and session.user is None and session.accepted == ()
    assert 8 * 3600 - 5 < session.ends - time.time() <= 8 * 3600
    signed_in = session.signed_in("beheer").accepting("kaart-1").accepting("brief-ë")
    read = sessions.decode(sessions.encode(signed_in))
    assert (read.id, read.user, read.accepted) == (signed_in.id, "beheer", ("kaart-1", "brief-ë"))
    assert abs(read.ends - signed_in.ends) <= 0.5
    # A server of the cluster with the same secret reads it; one with another does not.
    assert Sessions(Signer(SECRET), None).decode(sessions.encode(signed_in)) == read
    assert Sessions(Signer(OTHER_SECRET), None).decode(sessions.encode(signed_in)) is None
    assert sessions.new().id != session.id


def test_signing_in_gives_a_new_id_and_keeps_what_was_accepted():
    session = Session.new(8).accepting("kaart-1")
    signed_in = session.signed_in("beheer")
    assert signed_in.id != session.id
    assert signed_in.user == "beheer" and signed_in.accepted == ("kaart-1",)
    assert signed_in.ends == session.ends


def test_accepted_terms_are_kept_once_each_newest_last_and_only_so_many():
    session = Session.new(8)
    for number in range(MOST_ACCEPTED + 10):
        session = session.accepting(f"kaart-{number}")
    assert len(session.accepted) == MOST_ACCEPTED
    assert session.accepted[0] == "kaart-10"
    assert session.accepted[-1] == f"kaart-{MOST_ACCEPTED + 9}"
    again = session.accepting("kaart-20")
    assert again.accepted.count("kaart-20") == 1 and again.accepted[-1] == "kaart-20"
    assert len(again.accepted) == MOST_ACCEPTED and again.id == session.id


def test_an_expired_session_is_refused(clock):
    sessions = Sessions(Signer(SECRET), None, hours=1)
    cookie = sessions.encode(sessions.new())
    clock[0] += 3600 - 10
    assert sessions.decode(cookie) is not None
    clock[0] += 20
    assert sessions.decode(cookie) is None
    # Its end is signed: moving it on makes a cookie nobody signed.
    payload, mac = cookie.split(".")
    value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    value["ends"] += 3600
    assert sessions.decode(f"{unpadded(json.dumps(value).encode())}.{mac}") is None


def test_values_signed_with_the_right_key_but_the_wrong_shape_are_refused():
    signer = Signer(SECRET)
    sessions = Sessions(signer, None)
    for value in ({"ends": 2_000_000_000}, {"id": "x"}, {"id": "x", "ends": "morgen"},
                  {"id": "x", "ends": [1]}, {"id": "x", "ends": 2_000_000_000, "accepted": 5}):
        assert sessions.decode(signer.sign("session", value)) is None, value
    for value in ({"o": PORTAL, "e": 2_000_000_000}, {"s": "x", "e": 2_000_000_000},
                  {"s": "x", "o": PORTAL}, {"s": "x", "o": PORTAL, "e": "straks"}):
        assert sessions.token_of(signer.sign("token", value)) is None, value


# --------------------------------------------------------------------------- tokens

def test_a_token_holds_its_session_and_origin_and_is_no_cookie():
    sessions = Sessions(Signer(SECRET), None)
    session = staff_session()
    token, lives = sessions.token(session, PORTAL)
    assert TOKEN_SECONDS - 2 <= lives <= TOKEN_SECONDS
    read = sessions.token_of(token)
    assert (read.session, read.origin, read.user, read.accepted) == (
        session.id, PORTAL, "beheer", ("kaart-1",))
    # Purposes are not interchangeable.
    assert sessions.decode(token) is None
    assert sessions.token_of(sessions.encode(session)) is None
    assert Sessions(Signer(OTHER_SECRET), None).token_of(token) is None


def test_a_token_lives_minutes_and_never_past_its_session(clock):
    sessions = Sessions(Signer(SECRET), None)
    token, lives = sessions.token(staff_session(), PORTAL)
    assert lives == TOKEN_SECONDS
    clock[0] += TOKEN_SECONDS - 5
    assert sessions.token_of(token) is not None
    clock[0] += 10
    assert sessions.token_of(token) is None
    short = Session.new(8)
    short = Session(short.id, clock[0] + 100, "beheer")
    token, lives = sessions.token(short, PORTAL)
    assert 99 <= lives <= 100
    clock[0] += 101
    assert sessions.token_of(token) is None


def test_a_token_counts_for_the_origin_it_was_made_for_only(tmp_path):
    settings = Settings.of(secret=SECRET, cache_dir=tmp_path / "cache")
    gate = Gate(settings, CatalogueDatabase(tmp_path / "journal.sqlite3"))
    gate.database.prepare()
    gate.accounts.add("beheer", "een lang genoeg wachtwoord")
    token, _ = gate.sessions.token(staff_session(), PORTAL)
    seen = gate.who(Asking(peer="198.51.100.7", bearer=token, origin=PORTAL))
    assert seen.is_staff and seen.user == "beheer" and seen.accepted == ("kaart-1",)
    for origin in ("https://elders.example", "http://portal.example", PORTAL + ":443",
                   PORTAL + "/", "null", None):
        seen = gate.who(Asking(peer="198.51.100.7", bearer=token, origin=origin))
        assert seen == Who(address="198.51.100.7"), origin
    # A token's signature under another secret, or a cookie as a token: nobody.
    foreign, _ = Sessions(Signer(OTHER_SECRET), None).token(staff_session(), PORTAL)
    assert not gate.who(Asking(bearer=foreign, origin=PORTAL)).is_staff
    cookie = gate.sessions.encode(staff_session())
    assert not gate.who(Asking(bearer=cookie, origin=PORTAL)).is_staff
    assert gate.who(Asking(cookie=cookie)).is_staff
    assert not gate.who(Asking(cookie=token)).is_staff


# --------------------------------------------------------------------------- ending

def test_an_ended_session_is_refused_by_every_server_within_ended_seconds(database, clock):
    first = Sessions(Signer(SECRET), database)
    second = Sessions(Signer(SECRET), CatalogueDatabase(database.database))  # another server
    session = staff_session()
    cookie = first.encode(session)
    token, _ = first.token(session, PORTAL)
    assert second.decode(cookie) == first.decode(cookie) is not None  # the second remembers
    assert second.token_of(token) is not None
    first.end(session)
    assert first.decode(cookie) is None and first.token_of(token) is None  # at once, here
    third = Sessions(Signer(SECRET), database)
    assert third.decode(cookie) is None and third.token_of(token) is None  # never asked before
    clock[1] += ENDED_SECONDS + 0.01  # what the second read is trusted no longer
    assert second.decode(cookie) is None
    assert second.token_of(token) is None
    # Ending it again is no error; another session is untouched.
    first.end(session)
    other = staff_session()
    assert second.decode(second.encode(other)) is not None


def test_whether_a_session_ended_is_asked_of_the_database_only_when_not_known(database, clock):
    sessions = Sessions(Signer(SECRET), database)
    session = staff_session()
    cookie = sessions.encode(session)
    with pytest.raises(NotAtHand):
        sessions.decode(cookie, at_hand=True)
    assert sessions.decode(cookie) is not None
    assert sessions.decode(cookie, at_hand=True) is not None  # known for a moment
    clock[1] += ENDED_SECONDS + 1
    with pytest.raises(NotAtHand):
        sessions.decode(cookie, at_hand=True)
    sessions.end(session)
    clock[1] += 3600
    assert sessions.decode(cookie, at_hand=True) is None  # an end is known for good
    # Garbage never gets as far as the database.
    assert sessions.decode("garbage", at_hand=True) is None


def test_ended_sessions_are_forgotten_once_they_would_have_ended_anyway(database, clock):
    sessions = Sessions(Signer(SECRET), database)
    early = Session("vroeg", clock[0] + 60, "beheer")
    late = Session("laat", clock[0] + 7200, "beheer")
    sessions.end(early)
    sessions.end(late)
    clock[0] += 120
    sessions.end(Session("nog-een", clock[0] + 60, "beheer"))
    with database.reading() as db:
        kept = sorted(row[0] for row in db.execute("SELECT session FROM ended_sessions"))
    assert kept == ["laat", "nog-een"]
