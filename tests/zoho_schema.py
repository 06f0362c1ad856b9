"""JSON Schemas (draft 2020-12) of the Zoho CRM v8 wire shapes, written from Zoho's OpenAPI
files, for checking both sides of the wire: what the sandbox answers and what the Zoho
connector sends.

Usage (tests/ is on sys.path through tests/conftest.py)::

    from zoho_schema import validate
    validate("records_put_request", body)   # raises jsonschema.ValidationError

Names are the files under tests/schemas/zoho/ without ``.json``: ``token_response``,
``token_error``, ``records_get_response``, ``records_put_request``, ``records_put_response``,
``users_get_response``, ``users_put_request``, ``users_put_response``, ``fields_get_response``,
``fields_post_request``, ``fields_post_response``, ``modules_get_response``,
``modules_post_request``, ``modules_post_response``, ``records_upsert_request``,
``records_upsert_response``, ``error``. (Zoho's OAS set has no variables or profiles API:
those bodies are checked by the tests that use them.)
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "zoho"
NAMES = tuple(sorted(p.stem for p in SCHEMA_DIR.glob("*.json") if p.stem != "common"))


@cache
def _registry() -> Registry:
    resources = []
    for path in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of one schema (checked against the meta-schema first)."""
    if name not in NAMES:
        raise KeyError(f"no Zoho schema {name!r}; known: {', '.join(NAMES)}")
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def validate(name: str, instance: Any) -> None:
    """Raise `jsonschema.ValidationError` (the most relevant error) unless ``instance`` fits."""
    best = next(iter(sorted(validator(name).iter_errors(instance), key=lambda e: e.path)), None)
    if best is not None:
        raise best


def errors(name: str, instance: Any) -> list[str]:
    """Every violation, as ``path: message`` lines (empty when ``instance`` fits)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(name).iter_errors(instance)
    ]
