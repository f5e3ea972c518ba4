"""Hostile input: a committed corpus with exact statuses, and properties over the URL space."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support.paths import TESTS
from support.validator import VALIDATOR_IDENTIFIER

CORPUS = TESTS / "corpus" / "hostile-requests.txt"


def corpus() -> list[tuple[int, str]]:
    cases = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        status, path = line.split(" ", 1)
        path = (path.replace("{id}", VALIDATOR_IDENTIFIER)
                .replace("{x5000}", "x" * 5000).replace("{x300}", "9" * 300))
        cases.append((int(status), path))
    return cases


def test_the_corpus_covers_every_class():
    statuses = {status for status, _ in corpus()}
    assert statuses == {200, 400, 404, 501}
    assert len(corpus()) >= 60


@pytest.mark.parametrize("status,path", corpus())
def test_corpus(client, status, path):
    response = client.get(path)
    assert response.status_code == status, response.data[:200]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if status >= 400:
        assert response.mimetype == "text/plain"
        assert response.data.strip()


# --- properties over the whole URL space of both versions -------------------------------------

def fragment(*choices: str) -> st.SearchStrategy[str]:
    garbage = st.text(st.characters(codec="ascii", exclude_characters="/?#"), max_size=12)
    return st.one_of(st.sampled_from(choices), garbage)


regions = fragment("full", "square", "0,0,100,100", "900,900,500,500", "1000,0,1,1", "pct:10,10,50,50",
                   "pct:99,99,50,50", "0,0,0,0", "-1,0,1,1")
sizes = fragment("max", "^max", "full", "100,", ",100", "100,100", "!100,100", "^!2000,2000",
                 "pct:50", "^pct:150", "2000,", "^2000,", "0,")
rotations = fragment("0", "90", "180", "270", "!0", "!90", "22.5", "360", "361", "-1")
qualities = fragment("default", "color", "gray", "bitonal", "grey")
formats = fragment("jpg", "png", "webp", "gif", "tif", "jp2", "pdf", "bmp")
identifiers = st.sampled_from([VALIDATOR_IDENTIFIER, "missing", "..", "a%2Fb", "%00"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([2, 3]), identifiers, regions, sizes, rotations, qualities, formats)
def test_no_server_errors_anywhere(client, version, identifier, region, size, rotation, quality, fmt):
    from urllib.parse import quote

    parts = [quote(part, safe="%!^,:") for part in (region, size, rotation)]
    path = f"/iiif/{version}/{identifier}/{'/'.join(parts)}/{quote(quality, safe='')}.{quote(fmt, safe='')}"
    response = client.get(path)
    # 501 is the documented answer for formats not offered (jp2, pdf), not a server error.
    assert response.status_code < 500 or response.status_code == 501, (path, response.data[:200])
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if identifier != VALIDATOR_IDENTIFIER and response.status_code != 400:
        assert response.status_code in (404, 501), path
    if response.status_code == 200:
        assert response.headers["Content-Type"].startswith("image/")
