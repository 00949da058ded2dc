"""The import rules of docs/architecture.md ("Layers the tests enforce"), checked on the code:
each row names modules and what they may import from tlsagen; the imports are read with `ast`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Layers the tests enforce"
_ROW = re.compile(r"^\| (`.+?`(?:, `.+?`)*) \| (.+) \|$")


def rules() -> list[tuple[list[str], frozenset[str]]]:
    """(module globs, modules of tlsagen they may import) for each row of the doc's table."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            globs = re.findall(r"`(.+?)`", match.group(1))
            allowed = re.findall(r"`(tlsagen[.\w]*(?:\.\*)?)`", match.group(2))
            found.append((globs, frozenset(allowed)))
    return found


PACKAGES = {  # tlsagen and its subpackages: `from PACKAGE import module` imports the module
    ".".join(path.relative_to(ROOT).parts[:-1]) for path in (ROOT / "tlsagen").rglob("__init__.py")
}


def tlsagen_imports(source: str) -> set[str]:
    """The modules of tlsagen that `source` imports at run time (`tlsagen` for the package
    itself); imports under `if TYPE_CHECKING:` load nothing and are left out."""
    tree = ast.parse(source)
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and ast.unparse(branch.test).endswith("TYPE_CHECKING")
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module in PACKAGES:
            package = ROOT.joinpath(*node.module.split("."))
            for alias in node.names:
                is_module = (package / f"{alias.name}.py").exists() or (
                    package / alias.name
                ).is_dir()
                found.add(f"{node.module}.{alias.name}" if is_module else node.module)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name == "tlsagen" or name.startswith("tlsagen.")}


def permitted(name: str, allowed: frozenset[str]) -> bool:
    """`name` is listed, or is a module of a package listed as `tlsagen.PKG.*`."""
    return name in allowed or any(
        entry.endswith(".*") and name.startswith(entry[:-1]) for entry in allowed
    )


def violations(globs: list[str], allowed: frozenset[str]) -> list[str]:
    paths = sorted({path for pattern in globs for path in ROOT.glob(pattern)})
    assert paths, f"docs/architecture.md names modules that do not exist: {globs}"
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in sorted(tlsagen_imports(path.read_text()))
        if not permitted(name, allowed)
    ]


def test_every_module_is_in_a_row() -> None:
    """The table draws the whole package: no module escapes the rules."""
    named = {path for globs, _ in rules() for pattern in globs for path in ROOT.glob(pattern)}
    modules = {p for p in (ROOT / "tlsagen").rglob("*.py") if p.name != "__init__.py"}
    assert sorted(str(p.relative_to(ROOT)) for p in modules - named) == []


def test_a_package_entry_permits_its_modules_only() -> None:
    allowed = frozenset({"tlsagen.core.*", "tlsagen.errors"})
    assert permitted("tlsagen.core.tlsa", allowed) and permitted("tlsagen.errors", allowed)
    assert not permitted("tlsagen.net.dns", allowed) and not permitted("tlsagen.corex", allowed)


def test_the_doc_has_the_rules() -> None:
    found = rules()
    assert len(found) >= 7
    assert (["providers/*/src/**/*.py"], frozenset({"tlsagen.provider"})) in found


@pytest.mark.parametrize("globs, allowed", rules(), ids=[" ".join(g) for g, _ in rules()])
def test_imports_follow_the_layers(globs: list[str], allowed: frozenset[str]) -> None:
    assert violations(globs, allowed) == []


def test_the_scan_sees_each_kind_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
import tlsagen.net.dns
from tlsagen import __version__
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen_rfc2136 import create
if TYPE_CHECKING:
    from tlsagen.engine import Plan
def late() -> None:
    from tlsagen.config_values import get_str
"""
    assert tlsagen_imports(source) == {
        "tlsagen",
        "tlsagen.net.dns",
        "tlsagen.core.material",
        "tlsagen.core.records",
        "tlsagen.config_values",
    }
