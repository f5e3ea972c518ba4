"""constraints.txt pins every package an install takes (`make run`, `make test` and the
README's wheel install use it), so two installs a month apart run the same code; and
this test environment was installed from it."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.paths import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def pins() -> dict[str, str]:
    found = {}
    for line in (REPO / "constraints.txt").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"constraints.txt: {line!r} is not name==version"
        found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    listed = project["dependencies"] + project["optional-dependencies"]["test"]
    return [Requirement(text) for text in listed]


def test_every_requirement_is_pinned_within_what_pyproject_allows():
    pinned = pins()
    for requirement in requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt: run make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside {requirement}")


def test_this_environment_was_installed_from_the_constraints():
    for name, version in pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # another platform's package
        assert installed == version, f"{name} is {installed} here, constraints.txt says {version}"


def test_make_installs_with_the_constraints():
    makefile = (REPO / "Makefile").read_text("utf-8")
    assert makefile.count("pip install --quiet -c constraints.txt -e") == 2
    assert "\nlock:" in makefile
