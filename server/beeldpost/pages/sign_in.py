"""The IIIF Authorization pages (1.0 and 2.0) and staff sign-in.

    /auth/login                 staff sign-in; as /auth/1/login the 1.0 `login` cookie
                                service, as /auth/2/login the 2.0 `active` access service
    /auth/{1,2}/terms/{image}   accept an image's terms (1.0 `clickthrough`, 2.0 `active`)
    /auth/{1,2}/reading-room    the reading room (1.0 and 2.0 `kiosk`: no form, closes itself)
    /auth/logout, /auth/{1,2}/logout   sign out: ends the session on every server
    /auth/1/token               1.0 access token: JSON, or with ?messageId=&origin= a page
                                for a hidden iframe that posts it to that origin only
    /auth/2/token               2.0 access token (AuthAccessToken2), a page for a hidden iframe
    /auth/2/probe/{image}       2.0 probe: AuthProbeResult2 for the bearer of a token

Access pages opened by a viewer (with `?origin=`) close themselves when done, as both
specs ask. The forms carry a proof tied to a cookie of their own (against posts from
other sites) and are only accepted from this site's own origin. A failed sign-in says
one thing whatever failed; repeated failures slow the next try (access/throttle.py).
"""

from __future__ import annotations

import json
import re
import secrets
import time

from flask import Blueprint, Response, current_app, render_template, request

from ..access.decision import decide
from ..access.gate import Gate, SignInRefused
from ..access.services import AUTH2_CONTEXT, probe_result
from ..access.sessions import SESSION_COOKIE, Session
from ..catalogue.store import Catalogue
from ..errors import BadRequest, NotFound
from ..http.asking import asking_of, is_secure, own_origin
from ..http.image_api import FULL_SUFFIX
from ..http.responses import base_url, json_body
from ..image.info import VERSION_3, service_url
from ..image.service import ImageService

FORM_COOKIE = "beeldpost_form"
# Pages a viewer loads in a hidden iframe on its own site.
FRAMEABLE = {"sign_in.token1", "sign_in.token2"}
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
LANGUAGES = ("nl", "en")

WORDS = {
    "nl": {"sign_in": "Inloggen", "name": "Naam", "password": "Wachtwoord",
           "signed_in": "U bent ingelogd als {name}.", "signed_out": "U bent uitgelogd.",
           "close": "U kunt dit venster sluiten.", "accept": "Accepteren",
           "accepted": "U hebt de voorwaarden geaccepteerd.", "terms": "Voorwaarden voor gebruik",
           "reading_room": "Studiezaal", "in_room": "U bent in de studiezaal: u ziet de volledige scans.",
           "not_in_room": "U bent niet in de studiezaal.", "staff": "Medewerkers",
           "expired": "Het formulier is verlopen; laad de pagina opnieuw."},
    "en": {"sign_in": "Sign in", "name": "Name", "password": "Password",
           "signed_in": "You are signed in as {name}.", "signed_out": "You are signed out.",
           "close": "You may close this window.", "accept": "Accept",
           "accepted": "You have accepted the terms.", "terms": "Terms of use",
           "reading_room": "Reading room", "in_room": "You are in the reading room: you see the full scans.",
           "not_in_room": "You are not in the reading room.", "staff": "Staff",
           "expired": "The form has expired; reload the page."},
}
FAILED = {"nl": "De naam of het wachtwoord klopt niet, of dit account kan nu niet inloggen.",
          "en": SignInRefused.MESSAGE}


def _gate() -> Gate:
    return current_app.extensions["beeldpost.gate"]


def _language() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or "en"


def _asking():
    gate = _gate()
    return asking_of(request.environ, base_url(), gate.sign_on_header)


def _session_cookie(response: Response, session: Session | None) -> None:
    secure = is_secure(base_url())
    if session is None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True,
                               samesite="None" if secure else "Lax")
        return
    response.set_cookie(SESSION_COOKIE, _gate().sessions.encode(session),
                        max_age=max(1, int(session.ends - time.time())),
                        path="/", secure=secure, httponly=True,
                        samesite="None" if secure else "Lax")


def _page(template: str, status: int = 200, **values) -> Response:
    language = _language()
    response = Response(render_template(template, lang=language, w=WORDS[language],
                                        origin=request.values.get("origin", ""), **values),
                        status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_proof(response_cookie: dict) -> str:
    """The proof a form carries: a keyed digest of its own cookie's random value."""
    value = request.cookies.get(FORM_COOKIE)
    if not value or len(value) > 100 or not value.isascii():
        value = secrets.token_urlsafe(24)
        response_cookie["value"] = value
    return _gate().sessions.signer.digest("form", value)


def _with_form_cookie(response: Response, made: dict) -> Response:
    if "value" in made:
        response.set_cookie(FORM_COOKIE, made["value"], path="/auth/", httponly=True,
                            secure=is_secure(base_url()), samesite="Strict")
    return response


def _form_is_ours() -> bool:
    """A post from a form this site served, in this browser: the proof matches the
    form's cookie, and the browser says the post came from this site."""
    value = request.cookies.get(FORM_COOKIE)
    proof = request.form.get("proof", "")
    if not value or not proof.isascii() or not value.isascii() or not secrets.compare_digest(
            proof, _gate().sessions.signer.digest("form", value)):
        return False
    sent_from = request.headers.get("Origin")
    if sent_from and sent_from != "null" and sent_from != own_origin(base_url()):
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("sign_in", __name__)

    @blueprint.route("/auth/login", methods=["GET", "POST"])
    @blueprint.route("/auth/<any('1','2'):flow>/login", methods=["GET", "POST"])
    def login(flow: str | None = None) -> Response:
        gate = _gate()
        asking = _asking()
        session = gate.session(asking)
        made: dict = {}
        if request.method == "POST":
            if not _form_is_ours():
                return _with_form_cookie(_page("auth/sign_in.html", 400, proof=_form_proof(made),
                                               message=WORDS[_language()]["expired"]), made)
            try:
                signed_in = gate.sign_in(request.form.get("name", ""),
                                         request.form.get("password", ""), asking, session)
            except SignInRefused as refused:
                response = _page("auth/sign_in.html", 401, proof=_form_proof(made),
                                 message=FAILED[_language()],
                                 name=request.form.get("name", "")[:100])
                if refused.retry_after:
                    response.headers["Retry-After"] = str(max(1, round(refused.retry_after)))
                return _with_form_cookie(response, made)
            response = _page("auth/signed_in.html", user=signed_in.user)
            _session_cookie(response, signed_in)
            return response
        who = gate.who(asking)
        if who.user is not None:
            return _page("auth/signed_in.html", user=who.user)
        return _with_form_cookie(_page("auth/sign_in.html", proof=_form_proof(made)), made)

    @blueprint.route("/auth/<any('1','2'):flow>/terms/<path:identifier>", methods=["GET", "POST"])
    def terms(flow: str, identifier: str) -> Response:
        current_app.extensions["beeldpost.catalogue"].current()
        images: ImageService = current_app.extensions["beeldpost.images"]
        policy = images.policy(identifier)
        if not policy.items:
            raise NotFound(f"no item shows an image {identifier!r}.")
        made: dict = {}
        if request.method == "POST":
            if not _form_is_ours():
                raise BadRequest("the form has expired or was not sent from this site; reload it.")
            gate = _gate()
            session = gate.session(_asking()) or gate.sessions.new()
            response = _page("auth/terms_accepted.html")
            _session_cookie(response, session.accepting(identifier))
            return response
        text = _terms_text(policy.items, _language())
        return _with_form_cookie(_page("auth/terms.html", proof=_form_proof(made), text=text,
                                       identifier=identifier), made)

    @blueprint.route("/auth/<any('1','2'):flow>/reading-room")
    def reading_room(flow: str) -> Response:
        return _page("auth/reading_room.html", inside=_gate().who(_asking()).reading_room)

    @blueprint.route("/auth/logout", methods=["GET", "POST"])
    @blueprint.route("/auth/<any('1','2'):flow>/logout", methods=["GET", "POST"])
    def logout(flow: str | None = None) -> Response:
        gate = _gate()
        session = gate.session(_asking())
        if session is not None:
            gate.sessions.end(session)
        response = _page("auth/signed_out.html")
        _session_cookie(response, None)
        return response

    @blueprint.route("/auth/1/token")
    def token1() -> Response:
        message_id = request.args.get("messageId")
        origin = request.args.get("origin")
        if message_id is None:  # asked directly (not by a viewer's iframe): JSON
            found = _token(origin or own_origin(base_url()))
            if isinstance(found, dict):
                return _json(found)
            return _json({"error": found[0], "description": found[1]}, 401)
        if not origin or not ORIGIN.match(origin):
            return _json({"error": "invalidRequest", "messageId": message_id,
                          "description": "the token service needs ?origin= (scheme://host) "
                                         "with ?messageId="}, 400)
        found = _token(origin)
        message = (dict(found, messageId=message_id) if isinstance(found, dict) else
                   {"error": found[0], "description": found[1], "messageId": message_id})
        return _posting(message, origin)

    @blueprint.route("/auth/2/token")
    def token2() -> Response:
        message_id = request.args.get("messageId")
        origin = request.args.get("origin")
        if not message_id or not origin or not ORIGIN.match(origin):
            return _json({"@context": AUTH2_CONTEXT, "type": "AuthAccessTokenError2",
                          "profile": "invalidRequest",
                          "note": {"en": ["the token service needs ?messageId= and ?origin="]}},
                         400)
        found = _token(origin)
        if isinstance(found, dict):
            message = {"@context": AUTH2_CONTEXT, "type": "AuthAccessToken2",
                       "accessToken": found["accessToken"], "expiresIn": found["expiresIn"],
                       "messageId": message_id}
        else:
            message = {"@context": AUTH2_CONTEXT, "type": "AuthAccessTokenError2",
                       "profile": {"missingCredentials": "missingAspect"}.get(found[0], found[0]),
                       "heading": {"en": ["No access"], "nl": ["Geen toegang"]},
                       "note": {"en": [found[1]]}, "messageId": message_id}
        return _posting(message, origin)

    @blueprint.route("/auth/2/probe/<path:identifier>")
    def probe(identifier: str) -> Response:
        current_app.extensions["beeldpost.catalogue"].current()
        images: ImageService = current_app.extensions["beeldpost.images"]
        images.source(identifier)  # 404 for an unknown image (nothing opened or built)
        policy = images.policy(identifier)
        gate = _gate()
        who = gate.who(_asking())
        granted = decide(policy, who, identifier, "auth.probe")
        substitute = service_url(base_url(), VERSION_3, identifier) if policy.public else None
        result = probe_result(granted, policy.tier, policy.public, substitute)
        if granted:
            result["location"] = {"id": service_url(base_url(), VERSION_3,
                                                    identifier + FULL_SUFFIX),
                                  "type": "ImageService3"}
        response = _json(result)
        response.headers["Vary"] = "Authorization, Origin, Cookie"
        return response

    return blueprint


def _terms_text(items: tuple[str, ...], language: str) -> str:
    catalogue: Catalogue = current_app.extensions["beeldpost.catalogue"]
    settings = current_app.config["BEELDPOST"]
    for item in items:
        try:
            record = catalogue.record(item)
        except Exception:  # noqa: BLE001 -- a broken record: the server's terms
            continue
        if record.terms is not None:
            return record.terms[language]
    return settings.terms_nl if language == "nl" else settings.terms_en


def _token(origin: str) -> dict | tuple[str, str]:
    """An access token for whoever asks, bound to `origin`; or (error, description)."""
    gate = _gate()
    asking = _asking()
    session = gate.session(asking)
    who = gate.who(asking)
    if session is None:
        if who.user is None and not who.reading_room:
            return ("missingCredentials", "not signed in, no terms accepted and not in "
                                          "the reading room: only the public face is shown")
        session = gate.sessions.new()  # single sign-on, or the reading room: no cookie needed
        if who.user is not None:
            session = session.signed_in(who.user, signed_on=who.signed_on)
    token, expires_in = gate.sessions.token(session, origin)
    return {"accessToken": token, "expiresIn": expires_in}


def _json(value: dict, status: int = 200) -> Response:
    response = Response(json_body(value), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _posting(message: dict, origin: str) -> Response:
    """A page for a hidden iframe that posts `message` to its parent at `origin` alone.
    It may be framed by any site (the origin it posts to is the one that asked)."""
    script = json.dumps(message).replace("<", "\\u003c")
    target = json.dumps(origin).replace("<", "\\u003c")
    body = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>token</title></head>"
            f"<body><script>window.parent.postMessage({script}, {target});</script>"
            "</body></html>")
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "frame-ancestors *"
    return response

