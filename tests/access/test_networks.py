"""Where a request comes from (access/networks.py): X-Forwarded-For and the sign-on header
are believed from trusted proxies only, read from the right; whatever a client writes
itself never puts it in the reading room."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beeldpost.access.networks import Origins, address, parse_networks

ORIGINS = Origins(parse_networks("127.0.0.1, 10.0.0.0/24, fd00::/64"),
                  parse_networks("192.0.2.0/24, 2001:db8::/32"))
ROOM, OUTSIDE, PROXY = "192.0.2.10", "198.51.100.7", "10.0.0.5"


@pytest.mark.parametrize("peer, forwarded, client", [
    (ROOM, None, ROOM),                              # straight from the reading room
    (OUTSIDE, ROOM, OUTSIDE),                        # a client's own header: ignored
    (PROXY, ROOM, ROOM),                             # through our nginx
    (PROXY, f"{ROOM}, {PROXY}", ROOM),               # through two of ours
    (PROXY, f"{ROOM}, {OUTSIDE}", OUTSIDE),          # a forged first hop, then the client
    ("127.0.0.1", f"{ROOM}, {OUTSIDE}, {PROXY}", OUTSIDE),
    (PROXY, "10.0.0.8, 10.0.0.9", "10.0.0.8"),       # every hop ours: the leftmost
    (PROXY, "zomaar, 10.0.0.9", None),               # unreadable past our own hops: unknown
    (PROXY, f"{ROOM}, nonsense", None),              # unreadable: unknown
    ("[::ffff:192.0.2.10]:443", None, ROOM),          # IPv4-mapped, with a port
    ("fd00::1", "2001:db8::5", "2001:db8::5"),
    (None, ROOM, None),
])
def test_the_client_is_read_from_the_right_behind_trusted_proxies(peer, forwarded, client):
    found = ORIGINS.client(peer, forwarded)
    assert found == (ipaddress.ip_address(client) if client else None)


@pytest.mark.parametrize("peer, forwarded, inside", [
    (ROOM, None, True), (OUTSIDE, ROOM, False), (PROXY, ROOM, True), (PROXY, OUTSIDE, False),
    (PROXY, f"{ROOM}, nonsense", False), ("fd00::1", "2001:db8::5", True),
    (PROXY, None, False),  # the proxy itself is not the reading room
])
def test_the_reading_room(peer, forwarded, inside):
    assert ORIGINS.in_reading_room(peer, forwarded) is inside


@given(st.lists(st.one_of(st.ip_addresses().map(str), st.text(max_size=20)), max_size=6))
def test_nothing_a_client_writes_puts_it_in_the_reading_room(written):
    """From outside, directly or through our proxy, whatever X-Forwarded-For it sends."""
    header = ", ".join(written)
    assert not ORIGINS.in_reading_room(OUTSIDE, header)
    assert not ORIGINS.in_reading_room(PROXY, f"{header}, {OUTSIDE}" if header else OUTSIDE)


def test_a_sign_on_header_is_believed_from_trusted_proxies_only():
    assert ORIGINS.signed_on(PROXY, "archivaris@batavialand.nl") == "archivaris@batavialand.nl"
    assert ORIGINS.signed_on(OUTSIDE, "archivaris@batavialand.nl") is None
    assert ORIGINS.signed_on(ROOM, "beheer") is None
    assert ORIGINS.signed_on(PROXY, "  ") is None
    assert Origins().signed_on("127.0.0.1", "beheer") is None  # none trusted: none believed


def test_addresses_as_sockets_and_headers_give_them():
    assert address("10.0.0.1:8080") == ipaddress.ip_address("10.0.0.1")
    assert address("[2001:db8::1]:443") == ipaddress.ip_address("2001:db8::1")
    assert address("2001:db8::1") == ipaddress.ip_address("2001:db8::1")
    assert address("unix:/run/x") is None and address("") is None and address("[::1") is None


def test_networks_are_read_as_an_archivist_writes_them_and_a_bad_one_is_named():
    assert parse_networks("192.0.2.0/24 2001:db8::/32, 198.51.100.7") == tuple(
        ipaddress.ip_network(text) for text in ("192.0.2.0/24", "2001:db8::/32",
                                                "198.51.100.7/32"))
    assert parse_networks("") == parse_networks(None) == ()
    with pytest.raises(ValueError) as refused:
        parse_networks("192.0.2.0/24, studiezaal")
    assert "'studiezaal' is not an address or a network" in str(refused.value)
