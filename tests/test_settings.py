"""Settings come from the environment, each declared once, and the README's table is theirs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from beeldpost.settings import ServerSettings, Settings, markdown_table

from support.paths import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_defaults():
    settings = Settings.from_env({})
    assert settings.tile_size == 256
    assert settings.public_base_url is None
    assert settings.max_area == 100_000_000
    assert settings.response_cache is True
    assert settings.images_dir == Path.cwd() / "images"  # folders: where the server starts
    server = ServerSettings.from_env({})
    assert (server.host, server.port, server.workers, server.threads) == ("127.0.0.1", 8000, 2, 24)


def test_environment_overrides():
    settings = Settings.from_env({
        "BEELDPOST_PUBLIC_URL": "https://beeld.archief.example/",
        "BEELDPOST_MAX_WIDTH": "1600",
        "BEELDPOST_MAX_AREA": "0",
        "BEELDPOST_IMAGES": "/srv/scans",
        "BEELDPOST_RESPONSE_CACHE": "off",
        "BEELDPOST_JOURNAL": "",
    })
    assert settings.public_base_url == "https://beeld.archief.example"
    assert settings.max_width == 1600
    assert settings.max_area is None
    assert str(settings.images_dir) == "/srv/scans"
    assert settings.response_cache is False
    assert settings.journal_file is None


def test_the_process_environment_is_read_by_variable_name_only(monkeypatch):
    monkeypatch.setenv("BEELDPOST_TILE_SIZE", "512")
    monkeypatch.setenv("images_dir", "/not/a/setting")
    settings = Settings.from_env()
    assert settings.tile_size == 512
    assert settings.images_dir == Path.cwd() / "images"


@pytest.mark.parametrize("variable,value", [
    ("BEELDPOST_MAX_WIDTH", "-3"), ("BEELDPOST_TILE_SIZE", "big"), ("BEELDPOST_PUBLIC_URL", "ftp://x"),
    ("BEELDPOST_RESPONSE_CACHE", "maybe"), ("PORT", "99999"),
])
def test_bad_values_name_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        (ServerSettings if variable == "PORT" else Settings).from_env({variable: value})


def test_overrides_by_name_are_checked():
    settings = Settings.from_env({}).with_overrides(images_dir="/srv/a", max_area=None)
    assert settings.images_dir == Path("/srv/a") and settings.max_area is None
    with pytest.raises(TypeError, match="no_such"):
        settings.with_overrides(no_such=1)
    with pytest.raises(ValueError, match="BEELDPOST_TILE_SIZE"):
        settings.with_overrides(tile_size=-1)


def test_the_readme_table_is_the_declarations():
    """Regenerate with `beeldpost settings --markdown` when a setting changes."""
    assert markdown_table() in README


def test_the_settings_command_lists_every_variable_with_its_value():
    shown = subprocess.run([sys.executable, "-m", "beeldpost.cli", "settings"], capture_output=True,
                           text=True, check=True, env={"BEELDPOST_TILE_SIZE": "512", "PATH": ""}).stdout
    for group in (Settings, ServerSettings):
        for _name, variable, _default, _help in group.documented():
            assert variable in shown
    assert any(line.split()[:2] == ["BEELDPOST_TILE_SIZE", "512"] for line in shown.splitlines())


def test_the_settings_command_shows_what_this_machine_uses_for_the_defaults_sized_for_it(capsys):
    """Not `None`: the memory and the slots heavy renders get here, as the server takes them."""
    from beeldpost.cli import main
    from beeldpost.image.admission import default_render_memory, usable_cores

    assert main(["settings"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert lines["BEELDPOST_RENDER_MEMORY"].split()[1] == f"{default_render_memory() // 2**20}M"
    assert lines["BEELDPOST_HEAVY_SLOTS"].split()[1] == str(usable_cores())
    assert lines["BEELDPOST_PUBLIC_URL"].split()[1] == "none"
    assert not any(line.split()[1] == "None" for line in lines.values())


def test_the_settings_command_shows_no_database_password(capsys, monkeypatch):
    from beeldpost.cli import main

    monkeypatch.setenv("BEELDPOST_DATABASE_URL", "postgresql://beeldpost:geheim@db.archief:5432/beeld")
    assert main(["settings"]) == 0
    shown = capsys.readouterr().out
    assert "postgresql://beeldpost@db.archief:5432/beeld" in shown
    assert "geheim" not in shown
