"""The sandbox is a CRM, not a copy of the product: importing it loads nothing else of
presales_sync (no connector, sync, rules, mappings, demo or cli), and its source names
nothing of presales — the plugin's fields and people are seed data the caller hands in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import presales_sync

SANDBOX = Path(presales_sync.__file__).parent / "sandbox"
OTHER_LAYERS = ("connector", "sync", "rules", "mappings", "demo", "cli")
#: Words only a presales product would use; none belongs in a CRM emulator. The product's
#: own name (presales_sync, presales-sync, the `presales sandbox` command) is not knowledge.
PRESALES_WORDS = re.compile(r"(?-i:\bPresales_\w+)|presales(?![-_ ]s(?:ync|andbox))|engineer|sign-?off|\bkpi",
                            re.IGNORECASE)


def loaded_after(statement: str) -> list[str]:
    """The presales_sync modules a fresh interpreter has loaded after running `statement`."""
    code = (f"{statement}\nimport sys, json\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('presales_sync'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return list(json.loads(out.stdout))


def foreign(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[1:2] and m.split(".")[1] in OTHER_LAYERS]


def test_importing_the_sandbox_loads_no_other_layer() -> None:
    modules = loaded_after("import presales_sync.sandbox")
    assert "presales_sync.sandbox._sandbox" in modules  # the check saw the sandbox itself
    assert foreign(modules) == []


def test_the_check_sees_a_layer_that_is_loaded() -> None:
    """The negative case: an import that does load the connectors is caught."""
    modules = loaded_after("import presales_sync.sandbox, presales_sync.connector")
    assert "presales_sync.connector.salesforce" in foreign(modules)


def presales_words(text: str) -> list[str]:
    """Presales vocabulary in `text`."""
    return [m.group(0) for m in PRESALES_WORDS.finditer(text)]


def test_the_sandbox_source_holds_no_presales_knowledge() -> None:
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) > 20
    found = {str(p.relative_to(SANDBOX)): presales_words(p.read_text(encoding="utf-8")) for p in files}
    assert {name: words for name, words in found.items() if words} == {}


def test_the_word_check_can_fail() -> None:
    assert presales_words('FieldDef("Presales_Step__c", "Presales Step")') == ["Presales_Step__c", "Presales"]
    assert presales_words("an engineer signs off the KPI") == ["engineer", "KPI"]
    assert presales_words("from presales_sync.sandbox.core import _http; presales-sandbox") == []
