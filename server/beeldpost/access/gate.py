"""The gate: from what a request shows (read by the HTTP layer) to who is asking, and
sign-in itself. One per app, made by the app factory and handed to the HTTP layers.

What a request may show: a session cookie (a staff sign-in, accepted terms), an access
token (`Authorization: Bearer`, IIIF Authorization's, bound to the origin of the page
that asked for it), the peer address with `X-Forwarded-For` (believed from trusted
proxies only: the reading room), and a trusted proxy's sign-on header (single sign-on).
Anything forged, expired, ended or for another origin counts as not shown: the answer
is the public face, never an error.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ..catalogue.journal import CatalogueDatabase
from ..errors import BeeldpostError
from ..settings import Settings
from .accounts import Accounts
from .decision import Who
from .networks import Origins
from .sessions import Session, Sessions, Signer
from .throttle import Throttle
from ..storage.places import NotAtHand

ACCOUNT_SECONDS = 2.0  # how long a server trusts what it read of an account


@dataclass(frozen=True)
class Asking:
    """What a request shows of who is asking, as the HTTP layer read it."""

    peer: str | None = None  # the address that opened the connection
    forwarded_for: str | None = None  # X-Forwarded-For
    sign_on: str | None = None  # the sign-on header's value
    cookie: str | None = None  # the session cookie's value
    bearer: str | None = None  # an access token
    origin: str | None = None  # the page's origin: its Origin header, else our own


class SignInRefused(Exception):
    """Sign-in failed. Always the same message, whatever failed."""

    MESSAGE = "The name or password is not right, or this account cannot sign in now."

    def __init__(self, retry_after: float = 0.0):
        super().__init__(self.MESSAGE)
        self.retry_after = retry_after


class Gate:
    def __init__(self, settings: Settings, database: CatalogueDatabase | None):
        self.origins = Origins(settings.trusted_proxies, settings.reading_room)
        self.settings = settings
        self.database = database
        self.sign_on_header = settings.sign_on_header
        self._accounts: Accounts | None = None
        self._sessions: Sessions | None = None
        self._changed: dict[str, tuple[float, float | None]] = {}  # name -> (when read, changed)

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:  # the secret is read (or made) when first needed
            self._sessions = Sessions(Signer(secret_of(self.settings)), self.database,
                                      self.settings.session_hours)
        return self._sessions

    @property
    def accounts(self) -> Accounts:
        if self._accounts is None:  # its decoy hash costs a tenth of a second: when needed
            self._accounts = Accounts(self.database)
        return self._accounts

    def client(self, asking: Asking) -> str | None:
        found = self.origins.client(asking.peer, asking.forwarded_for)
        return str(found) if found is not None else None

    def session(self, asking: Asking, at_hand: bool = False) -> Session | None:
        return self.sessions.decode(asking.cookie, at_hand)

    def who(self, asking: Asking, at_hand: bool = False) -> Who:
        """Who is asking, from everything the request shows that can be believed."""
        user = None
        accepted: tuple[str, ...] = ()
        signed_on = self.origins.signed_on(asking.peer, asking.sign_on)
        if asking.cookie:
            session = self.sessions.decode(asking.cookie, at_hand)
            if session is not None:
                accepted = session.accepted
                if session.user and self.account_holds(session.user, session.since, at_hand):
                    user = session.user
        if asking.bearer:
            token = self.sessions.token_of(asking.bearer, at_hand)
            if token is not None and asking.origin is not None and token.origin == asking.origin:
                if user is None and token.user and (token.signed_on or self.account_holds(
                        token.user, token.since, at_hand)):
                    user = token.user
                accepted = accepted + tuple(name for name in token.accepted
                                            if name not in accepted)
        reading_room = self.origins.in_reading_room(asking.peer, asking.forwarded_for)
        return Who(self.client(asking), signed_on or user, reading_room, accepted,
                   signed_on is not None)

    def account_holds(self, name: str, since: float, at_hand: bool = False) -> bool:
        """Whether a sign-in at `since` still counts: its account exists and has not been
        given a new password since (`beeldpost users remove` and `passwd` end sessions;
        every server sees it within ACCOUNT_SECONDS)."""
        now = time.monotonic()
        known = self._changed.get(name)
        if known is None or now - known[0] >= ACCOUNT_SECONDS:
            if at_hand:
                raise NotAtHand("the account must be looked up")
            if len(self._changed) > 10_000:
                self._changed.clear()
            known = self._changed[name] = (now, self.accounts.changed(name))
        changed = known[1]
        return changed is not None and since >= changed - 1  # (seconds are rounded)

    def sign_in(self, name: str, password: str, asking: Asking,
                session: Session | None) -> Session:
        """The session signed in as `name`, or SignInRefused (slowed after failures)."""
        throttle = Throttle(self.database)
        address = self.client(asking)
        wait = throttle.retry_after(name, address)
        if wait > 0:
            raise SignInRefused(wait)
        found = self.accounts.verify(name, password)
        if found is None:
            throttle.failed(name, address)
            raise SignInRefused()
        throttle.succeeded(name, address)
        return (session or self.sessions.new()).signed_in(found)


def secret_of(settings: Settings) -> str:
    """BEELDPOST_SECRET, or one made once for this server and kept beside its cache."""
    if settings.secret:
        return settings.secret
    path = Path(settings.local_cache_dir) / "secret"
    try:
        return _kept_secret(path)
    except OSError as error:
        raise Unavailable(f"the sign-in secret cannot be kept in {path} ({error.strerror}); "
                          "set BEELDPOST_SECRET") from None


class Unavailable(BeeldpostError):
    status = 503
    title = "Service Unavailable"


def _kept_secret(path: Path) -> str:
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(48)
    temporary = path.with_name(f".secret.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(made + "\n")
    try:
        os.link(temporary, path)  # the first process to make one wins; the others read it
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text("ascii").strip()
