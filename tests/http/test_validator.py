"""The official IIIF Image API validator, against a live gunicorn, at level 2.

The 2.x suite runs as version "2.0" (its "2.1" runs nothing). Many of its tests
sample squares at random, so each test runs several rounds.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request

import pytest
from iiif_validator.validator import ImageAPI, ValidationInfo
from iiif_validator.validator import TestSuite as ValidatorSuite

from support.validator import VALIDATOR_IDENTIFIER

LEVEL = 2
ROUNDS = 5


def level_tests(version: str) -> list[str]:
    tests = ValidatorSuite(ValidationInfo()).list_tests(version)
    return sorted(name for name, info in tests.items() if info["level"] <= LEVEL)


@pytest.fixture(scope="module")
def server_with_validator_image(live_server, validator_png):
    """The validator image is copied into images/ while the server runs."""
    url = f"{live_server.url}/iiif/3/{VALIDATOR_IDENTIFIER}/info.json"
    with pytest.raises(urllib.error.HTTPError) as before:
        urllib.request.urlopen(url, timeout=10)
    assert before.value.code == 404
    staged = live_server.images / f".{validator_png.name}.part"
    shutil.copy(validator_png, staged)
    staged.rename(live_server.images / validator_png.name)
    live_server.wait_for(f"/iiif/3/{VALIDATOR_IDENTIFIER}/info.json")
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
    return live_server


def test_the_suites_are_not_empty():
    # Guards against the validator's silent zero-test runs (as with "2.1").
    assert len(level_tests("3.0")) >= 30
    assert len(level_tests("2.0")) >= 30
    assert level_tests("2.1") == []


@pytest.mark.live
@pytest.mark.parametrize(
    "version,test_name",
    [("3.0", name) for name in level_tests("3.0")] + [("2.0", name) for name in level_tests("2.0")],
)
def test_official_validator(server_with_validator_image, version, test_name):
    server = server_with_validator_image
    prefix = "iiif/3" if version == "3.0" else "iiif/2"
    for round_number in range(ROUNDS):
        result = ImageAPI(VALIDATOR_IDENTIFIER, server.host, prefix, "http", "", version, debug=False)
        ValidatorSuite(ValidationInfo()).run_test(test_name, result)
        error = result.exception
        assert error is None, (
            f"round {round_number + 1}: {test_name} failed: {error} "
            f"(urls: {result.urls}, message: {getattr(error, 'message', '')})"
        )
