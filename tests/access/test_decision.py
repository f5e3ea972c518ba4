"""Who may see an image's full scan under its access tier (access/decision.py), over every
tier and every kind of asker, and the JSON line each decision for an image that is not
open leaves on the `beeldpost.decisions` log.

| tier | the full scan for |
|---|---|
| open | everyone |
| capped | staff, the reading room |
| clickthrough | whoever accepted its terms in this session, staff, the reading room |
| reading-room | the reading room's networks, staff |
| staff (and closed) | staff, signed in |
"""

from __future__ import annotations

import json
import logging

import pytest

from beeldpost.access.decision import ANONYMOUS, Who, decide, grants_anything, may_see_full
from beeldpost.image.resolved import ImagePolicy

IMAGE = "kaart-ë-1"
OUTSIDE, ROOM = "198.51.100.7", "192.0.2.10"

POLICIES = {  # as catalogue/lookups.py makes them, one per tier (closed: staff)
    "open": ImagePolicy(),
    "capped": ImagePolicy(max_size=800, tier="capped", items=("kaart",)),
    "clickthrough": ImagePolicy(public=False, tier="clickthrough", items=("kaart",)),
    "clickthrough, capped": ImagePolicy(max_size=800, tier="clickthrough", items=("kaart",)),
    "reading-room": ImagePolicy(public=False, tier="reading-room", items=("kaart",)),
    "reading-room, capped": ImagePolicy(max_size=1200, tier="reading-room", items=("kaart",)),
    "staff": ImagePolicy(public=False, tier="staff", items=("kaart", "atlas")),
}

WHO = {
    "anonymous": Who(address=OUTSIDE),
    "nobody known": ANONYMOUS,
    "staff": Who(address=OUTSIDE, user="beheer"),
    "staff by sign-on": Who(address=OUTSIDE, user="j.jansen", signed_on=True),
    "staff in the reading room": Who(address=ROOM, user="beheer", reading_room=True),
    "reading room": Who(address=ROOM, reading_room=True),
    "accepted its terms": Who(address=OUTSIDE, accepted=("brief-2", IMAGE)),
    "accepted other terms": Who(address=OUTSIDE, accepted=("brief-2", "kaart-ë-10", "kaart")),
    "accepted, in the reading room": Who(address=ROOM, reading_room=True, accepted=(IMAGE,)),
}

EVERYONE = set(WHO)
STAFF = {"staff", "staff by sign-on", "staff in the reading room"}
THE_ROOM = {"reading room", "accepted, in the reading room"}
GRANTED = {
    "open": EVERYONE,
    "capped": STAFF | THE_ROOM,
    "clickthrough": STAFF | THE_ROOM | {"accepted its terms"},
    "clickthrough, capped": STAFF | THE_ROOM | {"accepted its terms"},
    "reading-room": STAFF | THE_ROOM,
    "reading-room, capped": STAFF | THE_ROOM,
    "staff": STAFF,
}

TABLE = [(tier, who) for tier in POLICIES for who in WHO]


@pytest.mark.parametrize("tier, who", TABLE, ids=[f"{tier}-{who}" for tier, who in TABLE])
def test_who_sees_the_full_scan(tier, who):
    expected = who in GRANTED[tier]
    assert may_see_full(POLICIES[tier], WHO[who], IMAGE) is expected
    assert decide(POLICIES[tier], WHO[who], IMAGE, "test") is expected


@pytest.mark.parametrize("tier, who", TABLE, ids=[f"{tier}-{who}" for tier, who in TABLE])
def test_each_decision_on_an_image_that_is_not_open_is_one_json_line(tier, who, caplog):
    caplog.set_level(logging.INFO, logger="beeldpost.decisions")
    decide(POLICIES[tier], WHO[who], IMAGE, "iiif3.info")
    records = [record for record in caplog.records if record.name == "beeldpost.decisions"]
    if tier == "open":
        assert records == []
        return
    assert len(records) == 1 and records[0].levelno == logging.INFO
    message = records[0].getMessage()
    assert "\n" not in message and IMAGE in message  # one line, the name as it is
    line = json.loads(message)
    assert line.pop("time")  # when, to the second, with its zone
    asker = WHO[who]
    assert line == {
        "event": "access", "image": IMAGE, "items": list(POLICIES[tier].items),
        "tier": POLICIES[tier].tier, "granted": who in GRANTED[tier],
        "who": asker.user or ("reading room" if asker.reading_room else "anonymous"),
        "sign_on": asker.signed_on, "address": asker.address, "route": "iiif3.info",
    }


def test_the_log_line_of_a_staff_sign_on(caplog):
    caplog.set_level(logging.INFO, logger="beeldpost.decisions")
    decide(POLICIES["staff"], WHO["staff by sign-on"], IMAGE, "auth.probe")
    decide(POLICIES["reading-room"], WHO["accepted its terms"], IMAGE, "iiif2.image")
    first, second = (json.loads(record.getMessage()) for record in caplog.records)
    assert (first["who"], first["sign_on"], first["granted"], first["route"]) == (
        "j.jansen", True, True, "auth.probe")
    assert first["items"] == ["kaart", "atlas"]
    assert (second["who"], second["sign_on"], second["granted"]) == ("anonymous", False, False)


def test_nothing_is_logged_below_info(caplog):
    caplog.set_level(logging.WARNING, logger="beeldpost.decisions")
    decide(POLICIES["staff"], WHO["anonymous"], IMAGE, "iiif3.info")
    assert [record for record in caplog.records if record.name == "beeldpost.decisions"] == []


def test_accepted_terms_are_of_one_image_exactly():
    policy = POLICIES["clickthrough"]
    for accepted in ((IMAGE.upper(),), (IMAGE + " ",), (IMAGE[:-1],), ("kaart",), ()):
        assert not may_see_full(policy, Who(accepted=accepted), IMAGE), accepted
    assert may_see_full(policy, Who(accepted=(IMAGE,)), IMAGE)


def test_an_open_image_needs_nobody():
    assert may_see_full(ImagePolicy(tier="open", public=True), ANONYMOUS, IMAGE)
    # A policy that is not open is never decided as open, even with a public face.
    assert not may_see_full(ImagePolicy(max_size=800, tier="capped"), ANONYMOUS, IMAGE)


@pytest.mark.parametrize("who, anything", [
    ("anonymous", False), ("nobody known", False), ("staff", True), ("staff by sign-on", True),
    ("reading room", True), ("accepted its terms", True), ("accepted other terms", True),
])
def test_grants_anything(who, anything):
    assert grants_anything(WHO[who]) is anything


def test_staff_is_whoever_is_named():
    assert Who(user="beheer").is_staff and Who(user="j.jansen", signed_on=True).is_staff
    assert not Who().is_staff and not Who(reading_room=True).is_staff
    assert not Who(accepted=("x",)).is_staff
