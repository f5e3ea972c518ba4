"""Settings come from the environment, and the README documents every one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import SETTINGS_DOC, Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_defaults():
    settings = Settings.from_env({})
    assert settings.tile_size == 256
    assert settings.public_base_url is None
    assert settings.max_area == 100_000_000


def test_environment_overrides():
    settings = Settings.from_env({
        "BEELDPOST_PUBLIC_URL": "https://beeld.archief.example/",
        "BEELDPOST_MAX_WIDTH": "1600",
        "BEELDPOST_MAX_AREA": "0",
        "BEELDPOST_IMAGES": "/srv/scans",
    })
    assert settings.public_base_url == "https://beeld.archief.example"
    assert settings.max_width == 1600
    assert settings.max_area is None
    assert str(settings.images_dir) == "/srv/scans"


@pytest.mark.parametrize("variable,value", [
    ("BEELDPOST_MAX_WIDTH", "-3"), ("BEELDPOST_TILE_SIZE", "big"), ("BEELDPOST_PUBLIC_URL", "ftp://x"),
])
def test_bad_values_name_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        Settings.from_env({variable: value})


def test_the_readme_documents_every_setting():
    for variable, _convert, _description in SETTINGS_DOC.values():
        assert f"`{variable}`" in README, variable
