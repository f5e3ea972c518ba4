"""Access tiers: who may see an item's full scan, as its record says, in the archive's
words (Dutch or English), and the rule of closure dates.

| `access:` | in Dutch | the full scan for | everyone else sees |
|---|---|---|---|
| `open` (the default) | `open` | everyone | (the full scan) |
| `capped` | `verkleind` | staff, the reading room | the image up to `max_size` |
| `clickthrough` | `voorwaarden` | whoever accepts the terms, staff, the reading room | the cap, or a "not public" image |
| `reading-room` | `studiezaal` | the reading room's networks, staff | the cap, or a "not public" image |
| `staff` | `medewerkers` | staff, signed in | a "not public" image |

`restricted_until: 2049-01-01` (or a year, `2049`: its first day) closes the item to
all but staff until that day, whatever its tier (the archive's *openbaarheidsbeperking*);
on that day its tier holds, with no edit. A record with `max_size` and no `access:` is
`capped`, as such records always were.

Who is asking (staff, the reading room, terms accepted) is decided above this layer;
here is only the vocabulary and `effective()`.
"""

from __future__ import annotations

import datetime
import enum
import re


class Tier(enum.Enum):
    OPEN = "open"
    CAPPED = "capped"
    CLICKTHROUGH = "clickthrough"
    READING_ROOM = "reading-room"
    STAFF = "staff"


DUTCH = {Tier.OPEN: "open", Tier.CAPPED: "verkleind", Tier.CLICKTHROUGH: "voorwaarden",
         Tier.READING_ROOM: "studiezaal", Tier.STAFF: "medewerkers"}

# Every name a tier is known by, folded (lower case, spaces and underscores as hyphens).
NAMES = {tier.value: tier for tier in Tier} | {name: tier for tier, name in DUTCH.items()} | {
    "staff-only": Tier.STAFF, "alleen-medewerkers": Tier.STAFF, "reading-room-only": Tier.READING_ROOM,
    "click-through": Tier.CLICKTHROUGH, "terms": Tier.CLICKTHROUGH}

ALLOWED = (", ".join(tier.value for tier in Tier) + " (in Dutch: "
           + ", ".join(DUTCH[tier] for tier in Tier) + ")")


def tier_named(name: str) -> Tier | None:
    """The tier a record or an export names, or None."""
    return NAMES.get(re.sub(r"[\s_]+", "-", name.strip().lower()))


def closed_until(value: datetime.date | int | str) -> datetime.date | None:
    """The day a closure ends: a date (2049-01-01), or a year (2049: its first day)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{4}", text):
        return datetime.date(int(text), 1, 1)
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def is_closed(restricted_until: datetime.date | None, today: datetime.date) -> bool:
    return restricted_until is not None and today < restricted_until


def effective(tier: Tier, restricted_until: datetime.date | None,
              today: datetime.date) -> Tier:
    """The tier in force today: staff only while a closure lasts."""
    return Tier.STAFF if is_closed(restricted_until, today) else tier


def public_face(tier: Tier, max_size: int | None) -> bool:
    """Whether the public sees anything of the image under this tier (in force today):
    the full scan (open), or the scan up to its cap; staff-only images, and those of
    the reading room or behind terms with no cap, show the public nothing."""
    if tier is Tier.OPEN or tier is Tier.CAPPED:
        return True
    return tier is not Tier.STAFF and max_size is not None


def today() -> datetime.date:
    """The archive's day (the server's local date: set TZ to the archive's time zone)."""
    return datetime.date.today()
