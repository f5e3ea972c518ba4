"""Who is asking, and whether they may see an image's full scan under its access tier.

| tier (in force today) | the full scan for |
|---|---|
| open | everyone |
| capped | staff, the reading room |
| clickthrough | whoever accepted its terms in this session, staff, the reading room |
| reading-room | the reading room's networks, staff |
| staff (and closed until a date) | staff, signed in |

Everyone else gets the public face (image/resolved.py's View.PUBLIC). Every decision
for an image that is not open is written as one JSON line to the `beeldpost.decisions`
log, for the archive's own records.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field

from ..image.resolved import ImagePolicy

decision_log = logging.getLogger("beeldpost.decisions")


def install_log() -> None:
    """The decisions' JSON lines go to stderr, beside the requests' (http/request_log.py)."""
    if not decision_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        decision_log.addHandler(handler)
        decision_log.setLevel(logging.INFO)
        # (propagates too, for whoever configures logging: pytest, a host application)


@dataclass(frozen=True)
class Who:
    """What is known of whoever is asking."""

    address: str | None = None  # the client's, as far as it can be believed
    user: str | None = None  # a staff account signed in, or a name a trusted proxy gave
    reading_room: bool = False  # asking from the reading room's networks
    accepted: tuple[str, ...] = field(default=())  # images whose terms were accepted
    signed_on: bool = False  # `user` came from the proxy's sign-on, not a local account

    @property
    def is_staff(self) -> bool:
        return self.user is not None


ANONYMOUS = Who()


def may_see_full(policy: ImagePolicy, who: Who, identifier: str) -> bool:
    tier = policy.tier
    if tier == "open" or who.is_staff:
        return True
    if tier == "staff":
        return False
    if who.reading_room:
        return True  # capped, clickthrough and reading-room all open to the reading room
    return tier == "clickthrough" and identifier in who.accepted


def grants_anything(who: Who) -> bool:
    return who.is_staff or who.reading_room or bool(who.accepted)


def decide(policy: ImagePolicy, who: Who, identifier: str, route: str) -> bool:
    """Whether `who` sees the full scan (logged for an image that is not open)."""
    granted = may_see_full(policy, who, identifier)
    if not policy.is_open:
        decision_log.info(json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": "access",
            "image": identifier, "items": list(policy.items),
            "tier": policy.tier, "granted": granted,
            "who": who.user or ("reading room" if who.reading_room else "anonymous"),
            "sign_on": who.signed_on, "address": who.address, "route": route,
        }, ensure_ascii=False))
    return granted
