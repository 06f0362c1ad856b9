"""The layers' import rules, checked on every module of the tree (docs/architecture.md):
imports point down only. Each module is parsed with `ast`; every `presales_sync.…` import,
absolute or relative, at module level or inside a function, is resolved to the layer it lands
in and checked against what that module's own layer may import."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from importlib.util import resolve_name
from pathlib import Path

import pytest

import presales_sync

PACKAGE = Path(presales_sync.__file__).parent
LAYERS = ("cli", "demo", "sync", "connector", "sandbox", "mappings", "rules")

# What each layer may import (besides the standard library and third-party packages).
ALLOWED: dict[str, frozenset[str]] = {
    "cli": frozenset(LAYERS),
    # The demo is one corner: it starts the sandbox and drives the product through its
    # commands; nothing imports it but the command line.
    "demo": frozenset({"demo", "sync", "connector", "sandbox", "mappings", "rules"}),
    # sync orchestrates the layers below it; it never starts the emulator (the demo does).
    "sync": frozenset({"sync", "connector", "mappings", "rules"}),
    # The adapters know HTTP and their CRM, nothing of presales, and never the emulator they
    # are tested against.
    "connector": frozenset({"connector"}),
    # The emulator stands in for a real CRM: it shares no code with the clients it serves
    # (not even connector.errors), so a client bug cannot be mirrored by the server, and it
    # knows nothing of presales (the plugin's fields and roster are seed data handed in).
    "sandbox": frozenset({"sandbox"}),
    # A mapping turns CRM values into domain values: it may name the domain (rules), not
    # the wire (connector), nor the layers above.
    "mappings": frozenset({"mappings", "rules"}),
    # Pure domain: nothing of the others.
    "rules": frozenset({"rules"}),
}

def layer_of(module: str) -> str | None:
    """The layer a dotted module name (or name imported from a module) lands in; None
    outside presales_sync, "root" for the bare package."""
    parts = module.split(".")
    if parts[0] != "presales_sync":
        return None
    if len(parts) == 1:
        return "root"
    return parts[1] if parts[1] in LAYERS else "root"


def imported_modules(source: str, module: str, *, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted target) of each import in `source`, the source of `module`; relative
    imports are resolved, and `from X import name` yields `X.name` (name may be a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module or ""
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    target: str
    layer: str
    target_layer: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target} ({self.layer} → {self.target_layer})"


def violations(source: str, module: str, *, is_package: bool = False) -> list[Violation]:
    """Each import of `module` (a name under presales_sync) that its layer may not make."""
    layer = layer_of(module)
    assert layer in ALLOWED, f"{module} is in no layer"
    out = []
    for line, target in imported_modules(source, module, is_package=is_package):
        target_layer = layer_of(target)
        if target_layer not in (None, "root") and target_layer not in ALLOWED[layer]:
            out.append(Violation(module, line, target, layer, target_layer))
    return out


def tree() -> list[tuple[str, Path]]:
    """(module name, file) of every module of every layer, through the package's links."""
    modules = [("presales_sync.cli", PACKAGE / "cli.py")]
    for folder in ("connector", "demo", "mappings", "rules", "sandbox", "sync"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            parts = path.relative_to(PACKAGE).with_suffix("").parts
            modules.append((".".join(("presales_sync", *parts)), path))
    return modules


def test_the_tree_has_every_layer() -> None:
    """The walk below sees modules of each layer (a broken link would make it vacuous)."""
    layers = [layer_of(name) for name, _ in tree()]
    assert {layer: layers.count(layer) > 0 for layer in LAYERS} == dict.fromkeys(LAYERS, True)
    assert len(layers) > 80


@pytest.mark.parametrize(("module", "path"), tree(), ids=[name for name, _ in tree()])
def test_imports_point_down_only(module: str, path: Path) -> None:
    found = violations(path.read_text(encoding="utf-8"), module.removesuffix(".__init__"),
                       is_package=path.name == "__init__.py")
    assert [str(v) for v in found] == []


def test_the_checker_flags_an_upward_or_sideways_import() -> None:
    bad = (
        "import json\n"
        "from presales_sync.connector.errors import ConfigError\n"  # fine: own layer
        "from presales_sync.sync.engine import run\n"  # connector → sync
        "def late():\n"
        "    from presales_sync import rules\n"  # connector → rules, inside a function
        "from ...sandbox import Sandbox\n"  # relative, connector → sandbox
        "import presales_sync.cli\n"  # connector → cli
    )
    found = violations(bad, "presales_sync.connector.salesforce._adapter")
    assert sorted((v.line, v.target, v.target_layer) for v in found) == [
        (3, "presales_sync.sync.engine.run", "sync"),
        (5, "presales_sync.rules", "rules"),
        (6, "presales_sync.sandbox.Sandbox", "sandbox"),
        (7, "presales_sync.cli", "cli"),
    ]


@pytest.mark.parametrize(("module", "source", "target_layer"), [
    ("presales_sync.sandbox.core._http", "from presales_sync.connector import errors\n", "connector"),
    ("presales_sync.sandbox", "from .core import _http\nfrom ..connector import base\n", "connector"),
    ("presales_sync.sandbox.zoho._seed", "from presales_sync.mappings import fields\n", "mappings"),
    ("presales_sync.sandbox.salesforce._seed", "from presales_sync.demo import org_seed\n", "demo"),
    ("presales_sync.rules.sla", "from presales_sync.mappings import inbound\n", "mappings"),
    ("presales_sync.mappings.apply", "from presales_sync.connector import Page\n", "connector"),
    ("presales_sync.sync.engine", "from presales_sync import cli\n", "cli"),
    ("presales_sync.sync.service", "from presales_sync.sandbox import Sandbox\n", "sandbox"),
    ("presales_sync.sync.engine", "from presales_sync.demo import run_demo\n", "demo"),
])
def test_the_checker_flags_each_layer_s_forbidden_target(module: str, source: str, target_layer: str) -> None:
    is_package = module == "presales_sync.sandbox"
    assert [v.target_layer for v in violations(source, module, is_package=is_package)] == [target_layer]


def test_the_checker_passes_what_the_rules_allow() -> None:
    allowed = ("from presales_sync.rules import Task\n"
               "from presales_sync.sandbox import Sandbox\n"
               "from presales_sync import mappings\n"
               "import presales_sync\n")
    assert violations(allowed, "presales_sync.demo.run") == []
    assert violations("from . import model\nfrom .model import Task\n", "presales_sync.rules.sla") == []


TESTS = Path(__file__).resolve().parents[1]


def demo_imports(source: str, module: str) -> list[int]:
    """Lines of `source` that import the demo (tests keep their own helpers: item 6)."""
    return [line for line, target in imported_modules(source, module, is_package=False)
            if layer_of(target) == "demo"]


def test_no_test_imports_the_demo() -> None:
    files = [p for p in sorted(TESTS.rglob("*.py")) if p != Path(__file__).resolve()]
    assert len(files) > 50
    found = {str(p.relative_to(TESTS)): lines for p in files
             if (lines := demo_imports(p.read_text(encoding="utf-8"), "tests." + p.stem))}
    assert found == {}
    assert demo_imports("from presales_sync.demo.org_seed import org_seed\n", "tests.x") == [1]
