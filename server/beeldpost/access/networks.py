"""Where a request comes from, as far as it can be believed, and whether that is the
reading room.

The address is the peer's, the one that opened the connection. Only when the peer is
one of the trusted proxies (BEELDPOST_TRUSTED_PROXIES) is `X-Forwarded-For` read, from
the right: each proxy appends the address it was talked to from, so the first address
from the right that is not itself a trusted proxy is the client's. Anything to its
left was written by the client and proves nothing. A value that cannot be read makes
the address unknown, which is never the reading room. The same rule says whose
sign-on header (`REMOTE_USER`) is believed: a trusted proxy's, nobody else's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..settings import IpNetwork, parse_networks  # noqa: F401 -- settings parse them

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address(text: str | None) -> IpAddress | None:
    """An address as a header or a socket gives it (`[::1]:443` and `10.0.0.1:80` too,
    IPv4-mapped IPv6 as IPv4), or None."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):  # [v6]:port
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _within(found: IpAddress, networks: tuple[IpNetwork, ...]) -> bool:
    return any(found.version == network.version and found in network for network in networks)


@dataclass(frozen=True)
class Origins:
    """The proxies believed, and the reading room's networks."""

    trusted_proxies: tuple[IpNetwork, ...] = ()
    reading_room: tuple[IpNetwork, ...] = ()

    def trusted(self, peer: str | None) -> bool:
        found = address(peer)
        return found is not None and _within(found, self.trusted_proxies)

    def client(self, peer: str | None, forwarded_for: str | None) -> IpAddress | None:
        """The client's address: the peer's, or behind trusted proxies the first address
        of `X-Forwarded-For`, from the right, that is not a trusted proxy (None: unknown)."""
        found = address(peer)
        if found is None or not _within(found, self.trusted_proxies) or not forwarded_for:
            return found
        for entry in reversed(forwarded_for.split(",")):
            hop = address(entry)
            if hop is None:
                return None  # written by someone we cannot tell: believe nothing
            if not _within(hop, self.trusted_proxies):
                return hop
            found = hop
        return found  # every hop a proxy of ours: the leftmost is the client

    def in_reading_room(self, peer: str | None, forwarded_for: str | None) -> bool:
        client = self.client(peer, forwarded_for)
        return client is not None and _within(client, self.reading_room)

    def signed_on(self, peer: str | None, user: str | None) -> str | None:
        """The user a sign-on header names, when a trusted proxy set it; else None."""
        if not user or not user.strip() or not self.trusted(peer):
            return None
        return user.strip()
