"""Each package's `__all__` is its public surface (STYLE.md item 10), checked on every package
`__init__.py` under presales_sync: `__all__` exists, has no duplicates, names only what exists
(an attribute or a submodule), and lists every public name the `__init__` defines (def, class,
assignment) or re-exports.

A re-export is a name imported from the package's own subtree (`from presales_sync.connector.base
import Page` in connector/__init__.py): that import is there to offer the name. A name imported
from anywhere else (the standard library, a third-party package, another layer, a sibling of
the package) is what the `__init__`'s own code uses, an implementation detail as PEP 8 has it,
and need not be listed. Submodules are never required: they are reached by their dotted name."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import types
from collections import Counter
from importlib.util import resolve_name
from pathlib import Path

import pytest

import presales_sync

PACKAGE = Path(presales_sync.__file__).parent

# Names an `__init__` imports from its own private modules for its own code, not to offer them:
# the helpers `connect()` builds an adapter with, the renderers `write_html` / `write_csv` call.
USED_NOT_OFFERED: dict[str, frozenset[str]] = {
    "presales_sync.connector.salesforce": frozenset({"Transport", "load_credentials"}),
    "presales_sync.connector.zoho": frozenset({"Transport", "load_credentials"}),
    "presales_sync.sync.report": frozenset({"render_html", "write_rows"}),
}


def packages() -> list[str]:
    """Every package under presales_sync, found through the links to the layer folders."""
    found = ["presales_sync"]
    for folder in ("connector", "mappings", "rules", "sandbox", "sync"):
        for init in sorted((PACKAGE / folder).rglob("__init__.py")):
            found.append(".".join(("presales_sync", *init.parent.relative_to(PACKAGE).parts)))
    return found


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, including those under a top-level `if` / `try`."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If | ast.Try):
            for branch in (node.body, node.orelse, getattr(node, "finalbody", []),
                           *[handler.body for handler in getattr(node, "handlers", [])]):
                out += _top_level(branch)
    return out


def offered_names(source: str, package: str) -> set[str]:
    """Public names `source` (the `__init__` of `package`) defines or re-exports."""
    names: set[str] = set()
    for node in _top_level(ast.parse(source).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module or ""
            if base == package or base.startswith(package + "."):
                names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.asname for alias in node.names
                      if alias.asname and alias.name.startswith(package + ".")}
    return {n for n in names if not n.startswith("_")}


def _is_submodule(package: types.ModuleType, name: str) -> bool:
    if not hasattr(package, "__path__"):
        return False
    return importlib.util.find_spec(f"{package.__name__}.{name}") is not None


def api_problems(module: types.ModuleType, source: str, used: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with `module`'s `__all__`, given its `__init__` source; `used` are the
    names it imports for its own code only (USED_NOT_OFFERED)."""
    declared = getattr(module, "__all__", None)
    if declared is None:
        return ["no __all__"]
    if not isinstance(declared, list | tuple) or not all(isinstance(n, str) for n in declared):
        return ["__all__ is not a list of names"]
    problems = [f"{name} listed {count} times" for name, count in Counter(declared).items() if count > 1]
    problems += [f"{name} is listed but does not exist" for name in declared
                 if not hasattr(module, name) and not _is_submodule(module, name)]
    problems += [f"{name} is public but not in __all__"
                 for name in sorted(offered_names(source, module.__name__) - set(declared) - used)
                 if not _is_submodule(module, name)]
    return problems


def test_every_layer_package_is_found() -> None:
    assert {"presales_sync", "presales_sync.connector", "presales_sync.connector.salesforce",
            "presales_sync.connector.zoho", "presales_sync.sandbox", "presales_sync.sandbox.core",
            "presales_sync.sandbox.salesforce", "presales_sync.sandbox.zoho", "presales_sync.mappings",
            "presales_sync.rules", "presales_sync.sync", "presales_sync.sync.store",
            "presales_sync.sync.report"} <= set(packages())


@pytest.mark.parametrize("name", packages())
def test_all_is_the_public_surface(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    used = USED_NOT_OFFERED.get(name, frozenset())
    assert api_problems(module, Path(module.__file__).read_text(encoding="utf-8"), used) == []


@pytest.mark.parametrize(("name", "used"), sorted(USED_NOT_OFFERED.items()))
def test_every_exception_is_still_imported_and_unlisted(name: str, used: frozenset[str]) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert used <= offered_names(source, name) - set(module.__all__)


def _fake(source: str, name: str = "presales_sync.fake") -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def test_the_check_flags_a_missing_all() -> None:
    assert api_problems(_fake("def f(): pass\n"), "def f(): pass\n") == ["no __all__"]


def test_the_check_flags_duplicates_ghosts_and_unlisted_names() -> None:
    source = (
        "import os\n"  # not from the package: not required
        "from pathlib import Path\n"  # likewise
        "from presales_sync.fake.model import Task\n"  # a re-export
        "from .model import _Hidden\n"  # private: not required
        "LIMIT = 3\n"
        "def helper(): pass\n"
        "class _Internal: pass\n"
        "__all__ = ['helper', 'helper', 'ghost']\n"
    )
    # The imports from presales_sync.fake.model are not executed (the module does not exist).
    runnable = source.replace("from presales_sync.fake.model import Task\n", "Task = object\n") \
        .replace("from .model import _Hidden\n", "")
    assert api_problems(_fake(runnable), source) == [
        "helper listed 2 times",
        "ghost is listed but does not exist",
        "LIMIT is public but not in __all__",
        "Task is public but not in __all__",
    ]


def test_an_exception_covers_only_its_names() -> None:
    source = "LIMIT = 3\nSTEP = 1\n__all__ = []\n"
    assert api_problems(_fake(source), source, frozenset({"LIMIT"})) == ["STEP is public but not in __all__"]


def test_the_check_passes_a_complete_all() -> None:
    source = "from os import sep\nLIMIT = 3\ndef helper(): pass\n__all__ = ['LIMIT', 'helper']\n"
    assert api_problems(_fake(source), source) == []
