"""Sessions and access tokens: what a browser carries to show who it is.

A session is one signed value in a cookie: a random id, the staff account signed in
(or none), the images whose terms were accepted, and when it ends. An access token
(IIIF Authorization's, sent as `Authorization: Bearer …`) is bound to one session and
to the origin of the page that asked for it, and lives minutes. Both are signed with
HMAC-SHA256 (RFC 2104) under the server's secret (`BEELDPOST_SECRET`), so every server
of a cluster given the same secret reads them, and neither can be made or changed
without it. To the client both are opaque.

Signing out ends a session for every server: its id is written to the catalogue's
database (`ended_sessions`) until it would have ended anyway, and a session or a token
of an ended session is refused. Servers keep what they read of that list for
ENDED_SECONDS, so a sign-out holds everywhere within that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field, replace

from ..catalogue.journal import CatalogueDatabase
from ..storage.places import NotAtHand

SESSION_COOKIE = "beeldpost_session"
TOKEN_SECONDS = 600  # an access token's life (a viewer asks again when it ends)
MOST_ACCEPTED = 64  # images whose terms one session remembers
MOST_ACCEPTED_BYTES = 2000  # and at most this many characters of their names
ENDED_SECONDS = 2.0  # how long a server trusts its copy of the ended sessions


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and opens values under one secret, each for one purpose (a session cookie
    is never accepted as a token, nor the other way round)."""

    def __init__(self, secret: bytes | str):
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(self.secret) < 16:
            raise ValueError("the secret needs at least 16 bytes")

    def _mac(self, purpose: str, payload: str) -> str:
        return _b64(hmac.new(self.secret, f"{purpose}\0{payload}".encode("ascii"),
                             hashlib.sha256).digest())

    def sign(self, purpose: str, value: dict) -> str:
        payload = _b64(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(purpose, payload)}"

    def open(self, purpose: str, signed: str | None) -> dict | None:
        """The value, or None when it is not one this secret signed for `purpose`."""
        if not signed or len(signed) > 8192 or signed.count(".") != 1 or not signed.isascii():
            return None
        payload, mac = signed.split(".")
        try:
            if not hmac.compare_digest(mac, self._mac(purpose, payload)):
                return None
            value = json.loads(_unb64(payload))
        except (ValueError, UnicodeError):
            return None
        return value if isinstance(value, dict) else None

    def digest(self, purpose: str, text: str) -> str:
        """A keyed digest of `text` (a sign-in form's proof against cross-site posts)."""
        return self._mac(purpose, _b64(text.encode("utf-8")))


@dataclass(frozen=True)
class Session:
    id: str
    ends: float  # Unix time
    user: str | None = None  # the staff account signed in
    accepted: tuple[str, ...] = field(default=())  # images whose terms were accepted
    since: float = 0.0  # Unix time of the sign-in (an account changed later ends it)
    signed_on: bool = False  # `user` came from the proxy's single sign-on, not an account

    @classmethod
    def new(cls, hours: float) -> "Session":
        return cls(secrets.token_urlsafe(18), time.time() + hours * 3600)

    def signed_in(self, user: str, signed_on: bool = False) -> "Session":
        # A new id on signing in: a session id known before it is worth nothing after.
        return replace(self, id=secrets.token_urlsafe(18), user=user, since=time.time(),
                       signed_on=signed_on)

    def accepting(self, image: str) -> "Session":
        kept = tuple(name for name in self.accepted if name != image)
        accepted = (kept + (image,))[-MOST_ACCEPTED:]
        # A cookie stays well inside the 4096 bytes browsers keep: the oldest go first.
        while len(accepted) > 1 and sum(len(name) + 3 for name in accepted) > MOST_ACCEPTED_BYTES:
            accepted = accepted[1:]
        return replace(self, accepted=accepted)


@dataclass(frozen=True)
class Token:
    """An access token's content: whose session (and what it held when the token was
    made), for which origin, until when."""

    session: str
    origin: str
    ends: float
    user: str | None = None
    accepted: tuple[str, ...] = ()
    since: float = 0.0  # when its session signed in
    signed_on: bool = False  # its user came from the proxy's single sign-on


class Sessions:
    """Sessions and tokens of one secret; ended sessions in the catalogue's database."""

    def __init__(self, signer: Signer, database: CatalogueDatabase | None,
                 hours: float = 8.0):
        self.signer, self.database, self.hours = signer, database, hours
        self._ended: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- sessions

    def encode(self, session: Session) -> str:
        return self.signer.sign("session", {"id": session.id, "ends": round(session.ends),
                                            "user": session.user, "since": round(session.since),
                                            "accepted": list(session.accepted)})

    def decode(self, cookie: str | None, at_hand: bool = False) -> Session | None:
        """The session a cookie holds, or None: unsigned, changed, expired or ended
        (NotAtHand, with `at_hand`, when whether it ended must be asked of the database)."""
        value = self.signer.open("session", cookie)
        if value is None:
            return None
        try:
            session = Session(str(value["id"]), float(value["ends"]), value.get("user"),
                              tuple(str(name) for name in value.get("accepted") or ()),
                              float(value.get("since") or 0))
        except (KeyError, TypeError, ValueError):
            return None
        if session.ends <= time.time() or self.ended(session.id, at_hand):
            return None
        return session

    def new(self) -> Session:
        return Session.new(self.hours)

    # -------------------------------------------------------------- tokens

    def token(self, session: Session, origin: str) -> tuple[str, int]:
        """A token for this session and origin, and its life in seconds."""
        ends = min(session.ends, time.time() + TOKEN_SECONDS)
        signed = self.signer.sign("token", {"s": session.id, "o": origin, "e": round(ends),
                                            "u": session.user, "a": list(session.accepted),
                                            "t": round(session.since),
                                            "n": session.signed_on})
        return signed, max(1, round(ends - time.time()))

    def token_of(self, signed: str | None, at_hand: bool = False) -> Token | None:
        value = self.signer.open("token", signed)
        if value is None:
            return None
        try:
            token = Token(str(value["s"]), str(value["o"]), float(value["e"]), value.get("u"),
                          tuple(str(name) for name in value.get("a") or ()),
                          float(value.get("t") or 0), bool(value.get("n")))
        except (KeyError, TypeError, ValueError):
            return None
        if token.ends <= time.time() or self.ended(token.session, at_hand):
            return None
        return token

    # -------------------------------------------------------------- signing out

    def end(self, session: Session) -> None:
        """Sign out: this session, its cookie and its tokens are refused everywhere."""
        if self.database is not None:
            with self.database.writing() as db:
                db.execute("INSERT INTO ended_sessions (session, until) VALUES (?, ?) "
                           "ON CONFLICT (session) DO NOTHING", (session.id, session.ends))
                db.execute("DELETE FROM ended_sessions WHERE until < ?", (time.time(),))
        with self._lock:
            self._ended[session.id] = (time.monotonic(), True)

    def ended(self, session_id: str, at_hand: bool = False) -> bool:
        if self.database is None:
            return False
        now = time.monotonic()
        known = self._ended.get(session_id)
        if known is not None and (known[1] or now - known[0] < ENDED_SECONDS):
            return known[1]
        if at_hand:
            raise NotAtHand("whether a session ended must be asked of the database")
        with self.database.reading() as db:
            found = db.execute("SELECT 1 FROM ended_sessions WHERE session = ?",
                               (session_id,)).fetchone() is not None
        with self._lock:
            if len(self._ended) > 10_000:
                self._ended.clear()
            self._ended[session_id] = (now, found)
        return found
