"""The IIIF Authorization services of an image's full version, as JSON: Authorization
Flow 1.0 (what Mirador 4 and UV 4.4 speak) and 2.0 (the final spec, for the viewers
that follow), side by side in its `info.json` and in the manifest.

1.0: a cookie service per way in (`login` for staff, `clickthrough` for terms, `kiosk`
in the reading room, listed only to the reading room, where it opens by itself), each
with the token and logout services inside; texts are plain strings, as 1.0 has them.
2.0: one probe service, with an `active` access service (sign-in, or terms) or a
`kiosk` one, each with its token and logout services; texts are language maps.
Every URL hangs below the base URL given: the pages are http/auth_pages.py's.
"""

from __future__ import annotations

from urllib.parse import quote

AUTH1_CONTEXT = "http://iiif.io/api/auth/1/context.json"
AUTH2_CONTEXT = "http://iiif.io/api/auth/2/context.json"
AUTH1 = "http://iiif.io/api/auth/1/"
PROBE_PROFILE = "https://iiif.io/api/auth/2.0/#probe-service"


def paths(identifier: str, flow: int) -> dict[str, str]:
    """Where each service of a flow (1 or 2) is, below the base URL: the same pages,
    at a URL of each flow's own, since a 1.0 and a 2.0 service are different resources."""
    escaped = quote(identifier, safe="")
    return {"login": f"/auth/{flow}/login", "terms": f"/auth/{flow}/terms/{escaped}",
            "kiosk": f"/auth/{flow}/reading-room", "logout": f"/auth/{flow}/logout",
            "token": f"/auth/{flow}/token", "probe": f"/auth/2/probe/{escaped}"}


# (nl, en) texts of each way in.
LOGIN = {
    "label": ("Inloggen als medewerker", "Sign in as staff"),
    "header": ("Deze afbeelding is niet openbaar", "This image is not public"),
    "description": ("Medewerkers van het archief zien de volledige scan na het inloggen.",
                    "The archive's staff see the full scan once signed in."),
    "capped": ("Iedereen ziet deze foto verkleind; medewerkers en de studiezaal zien de "
               "volledige scan.", "Everyone sees this photo reduced; staff and the reading "
               "room see the full scan."),
    "confirm": ("Inloggen", "Sign in"),
    "failure_header": ("Inloggen is niet gelukt", "Sign-in failed"),
    "failure": ("U ziet wat openbaar is.", "You see what is public."),
}
TERMS = {
    "label": ("Voorwaarden accepteren", "Accept the terms"),
    "header": ("Voorwaarden voor gebruik", "Terms of use"),
    "description": ("Accepteer de gebruiksvoorwaarden om de volledige scan te zien.",
                    "Accept the terms of use to see the full scan."),
    "confirm": ("Accepteren", "Accept"),
}
KIOSK = {
    "label": ("Studiezaal", "Reading room"),
    "header": ("Studiezaal", "Reading room"),
    "description": ("In de studiezaal ziet u de volledige scan.",
                    "In the reading room you see the full scan."),
}
LOGOUT = ("Uitloggen", "Sign out")
PROBE = {
    "heading": ("Deze afbeelding is niet openbaar", "This image is not public"),
    "capped": ("U ziet een verkleinde versie. Medewerkers en de studiezaal zien de "
               "volledige scan.", "You see a reduced version. Staff and the reading room "
               "see the full scan."),
    "withheld": ("Alleen medewerkers van het archief zien deze afbeelding.",
                 "Only the archive's staff see this image."),
    "terms": ("Accepteer de gebruiksvoorwaarden om de volledige scan te zien.",
              "Accept the terms of use to see the full scan."),
}


def language_map(texts: tuple[str, str]) -> dict[str, list[str]]:
    return {"nl": [texts[0]], "en": [texts[1]]}


def _plain(texts: tuple[str, str]) -> str:
    return f"{texts[1]} / {texts[0]}"


def ways_in(tier: str, reading_room: bool) -> list[str]:
    """The ways to the full scan offered for this tier, in the order a client tries them:
    one that asks something of the visitor (the terms, or else staff sign-in), after the
    reading room's own where the request comes from there. Only one: Mirador 4 moves on
    to the next interactive service as soon as the first one's window closes, before
    it asks for the token, so with two it never gets one. (Staff signed in see an item
    behind terms in full all the same: their cookie counts for every tier.)"""
    ways = []
    if reading_room and tier in ("capped", "clickthrough", "reading-room"):
        ways.append("kiosk")
    ways.append("terms" if tier == "clickthrough" else "login")
    return ways


def auth1_services(base: str, identifier: str, tier: str, public_face: bool,
                   reading_room: bool) -> list[dict]:
    at = {name: base + path for name, path in paths(identifier, 1).items()}
    inside = [{"@id": at["token"], "@type": "AuthTokenService1", "profile": AUTH1 + "token"},
              {"@id": at["logout"], "@type": "AuthLogoutService1", "profile": AUTH1 + "logout",
               "label": _plain(LOGOUT)}]
    services = []
    for way in ways_in(tier, reading_room):
        if way == "kiosk":
            service = {"@id": at["kiosk"], "profile": AUTH1 + "kiosk",
                       "label": _plain(KIOSK["label"]), "header": _plain(KIOSK["header"]),
                       "description": _plain(KIOSK["description"])}
        elif way == "terms":
            service = {"@id": at["terms"], "profile": AUTH1 + "clickthrough",
                       "label": _plain(TERMS["label"]), "header": _plain(TERMS["header"]),
                       "description": _plain(TERMS["description"]),
                       "confirmLabel": _plain(TERMS["confirm"])}
        else:
            service = {"@id": at["login"], "profile": AUTH1 + "login",
                       "label": _plain(LOGIN["label"]), "header": _plain(LOGIN["header"]),
                       "description": _plain(LOGIN["capped" if public_face else "description"]),
                       "confirmLabel": _plain(LOGIN["confirm"]),
                       "failureHeader": _plain(LOGIN["failure_header"]),
                       "failureDescription": _plain(LOGIN["failure"])}
        services.append({"@context": AUTH1_CONTEXT, "@type": "AuthCookieService1",
                         **service, "service": inside})
    return services


def auth2_service(base: str, identifier: str, tier: str, reading_room: bool) -> dict:
    at = {name: base + path for name, path in paths(identifier, 2).items()}
    inside = [{"id": at["token"], "type": "AuthAccessTokenService2"},
              {"id": at["logout"], "type": "AuthLogoutService2",
               "label": language_map(LOGOUT)}]
    access = []
    for way in ways_in(tier, reading_room):
        if way == "kiosk":
            access.append({"id": at["kiosk"], "type": "AuthAccessService2", "profile": "kiosk",
                           "label": language_map(KIOSK["label"]), "service": inside})
        elif way == "terms":
            access.append({"id": at["terms"], "type": "AuthAccessService2", "profile": "active",
                           "label": language_map(TERMS["label"]),
                           "heading": language_map(TERMS["header"]),
                           "note": language_map(TERMS["description"]),
                           "confirmLabel": language_map(TERMS["confirm"]), "service": inside})
        else:
            access.append({"id": at["login"], "type": "AuthAccessService2", "profile": "active",
                           "label": language_map(LOGIN["label"]),
                           "heading": language_map(LOGIN["header"]),
                           "note": language_map(LOGIN["description"]),
                           "confirmLabel": language_map(LOGIN["confirm"]), "service": inside})
    # `profile` is not 2.0's (a probe has none; 2.0 clients ignore it): Mirador 4.0.0, a 1.0
    # client, reads one off every service beside an image service's auth services
    # (getProfile().match), and without it stops before fetching the info.json.
    return {"id": at["probe"], "type": "AuthProbeService2", "profile": PROBE_PROFILE,
            "service": access}


def probe_result(granted: bool, tier: str, public_face: bool,
                 substitute: str | None) -> dict:
    """An AuthProbeResult2: 200 when the full version may be seen; else 401, with the
    public face as `substitute` (an ImageService3) when there is one, and why."""
    result: dict = {"@context": AUTH2_CONTEXT, "type": "AuthProbeResult2",
                    "status": 200 if granted else 401}
    if not granted:
        if public_face and substitute:
            result["substitute"] = [{"id": substitute, "type": "ImageService3",
                                     "profile": "level2"}]
        result["heading"] = language_map(PROBE["heading"])
        result["note"] = language_map(
            PROBE["terms"] if tier == "clickthrough"
            else PROBE["capped"] if public_face else PROBE["withheld"])
    return result
