"""The package layout holds: layers import only downwards, no import cycles, the image
core without HTTP, and the README's module map is the tree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.paths import REPO

PACKAGE = REPO / "server" / "beeldpost"

# From the bottom up: a module may import from its own layer and the ones below.
LAYERS = [
    {"beeldpost.settings", "beeldpost.errors", "beeldpost.etags", "beeldpost.counters"},
    {"beeldpost.storage"},
    {"beeldpost.image"},
    {"beeldpost.catalogue"},
    {"beeldpost.access"},
    {"beeldpost.http"},
    {"beeldpost.presentation"},
    {"beeldpost.harvest", "beeldpost.search", "beeldpost.pages"},
    {"beeldpost.app", "beeldpost.cli", "beeldpost.__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """Every beeldpost module `name` imports, at the top or inside functions."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("beeldpost"))
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return {module for module in found if module.startswith("beeldpost") and module != name}


def layer(name: str) -> int:
    for index, members in enumerate(LAYERS):
        if any(name == member or name.startswith(member + ".") for member in members):
            return index
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS and to the README")


def test_every_module_is_in_a_layer():
    for name in MODULES:
        if name != "beeldpost":
            layer(name)


def test_layers_import_only_downwards():
    upward = [(name, target) for name in MODULES if name != "beeldpost"
              for target in imported(name) if target != "beeldpost" and layer(target) > layer(name)]
    assert not upward, f"imports from a higher layer: {upward}"


def test_the_import_graph_has_no_cycles():
    graph = {name: imported(name) & MODULES.keys() for name in MODULES}
    graph["beeldpost"] = set()  # the package's lazy create_app is its public face
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = trail[trail.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if not state.get(target):
                visit(target, trail + [target])
        state[name] = 2

    for name in MODULES:
        if not state.get(name):
            visit(name, [name])


def test_each_package_says_what_it_may_import():
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name != "beeldpost":
            docstring = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
            assert "May import" in docstring, name


@pytest.mark.parametrize("package, absent", [
    ("beeldpost.storage", ("flask", "werkzeug", "beeldpost.http", "beeldpost.image",
                           "beeldpost.catalogue")),
    ("beeldpost.image", ("flask", "werkzeug", "beeldpost.http", "beeldpost.catalogue")),
    ("beeldpost.catalogue", ("flask", "werkzeug", "beeldpost.http")),
    ("beeldpost.access", ("flask", "werkzeug", "beeldpost.http")),
])
def test_lower_packages_leave_http_out(package, absent):
    """Importing every module of the package, in a fresh interpreter."""
    names = [name for name in MODULES if name == package or name.startswith(package + ".")]
    code = ("import sys\n" + "".join(f"import {name}\n" for name in names)
            + f"print(' '.join(m for m in {list(absent)!r} if any("
            "k == m or k.startswith(m + '.') for k in sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert not loaded, f"importing {package} loaded {loaded}"


def test_the_readme_module_map_is_the_tree():
    readme = (REPO / "README.md").read_text("utf-8")
    block = readme[readme.index("```\nserver/beeldpost/"):]
    block = block[: block.index("```", 4)]
    listed, folder = set(), ""
    for line in block.splitlines()[1:]:
        match = re.match(r"^(\s*)([\w./]+)", line)
        if not match:
            continue
        entry = match.group(2)
        if entry.endswith("/"):
            if entry.rstrip("/") in ("templates", "static"):
                continue
            folder = entry if len(match.group(1)) <= 2 else folder
            continue
        if entry.endswith(".py"):
            listed.add(f"{folder}{entry}" if len(match.group(1)) > 2 else entry)
    actual = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
              if path.name != "__init__.py"}
    assert listed == actual, (f"in the tree, not the README: {sorted(actual - listed)}; "
                              f"in the README, not the tree: {sorted(listed - actual)}")
