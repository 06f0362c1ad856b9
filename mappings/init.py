"""Write a starter mapping for an org: the default mapping, checked field by field
against the live schema (pure: the schema is an argument; the text keeps our comments)."""

from __future__ import annotations

import re

from presales_sync.mappings.model import REQUIRED_INBOUND, REQUIRED_OUTBOUND, REQUIRED_USER_OUTBOUND
from presales_sync.mappings.validate import Schema, _resolve

_ENTRY = re.compile(r"^(?P<indent>\s+)(?P<name>[a-z_]+):\s+\{field:\s*(?P<field>[A-Za-z0-9_.]+)")
_TOP = re.compile(r"^(?P<key>[a-z_]+):")
_REQUIRED = {("opportunity", "inbound"): REQUIRED_INBOUND, ("opportunity", "outbound"): REQUIRED_OUTBOUND,
             ("user", "outbound"): REQUIRED_USER_OUTBOUND}


def starter_mapping(default_text: str, object_name: str, schema: Schema,
                    user_object: str | None = None) -> tuple[str, list[str]]:
    """(YAML text, names of fields the org lacks). Optional entries whose field is missing
    are commented out; required ones stay, flagged, so the admin must decide. The `user:`
    map is checked against `user_object` when the schema has it."""
    objects = {"opportunity": object_name, "user": user_object}
    lines: list[str] = []
    missing: list[str] = []
    top, section = "", ""
    for line in default_text.splitlines():
        stripped = line.strip()
        if (t := _TOP.match(line)) is not None:
            top = t["key"]
        if stripped.startswith(("inbound:", "outbound:")):
            section = stripped.split(":", 1)[0]
        m = _ENTRY.match(line)
        obj = objects.get(top)
        if m is None or obj is None or obj not in schema:
            lines.append(line)
            continue
        field, _ = _resolve(schema, obj, m["field"])
        if field is not None:
            lines.append(line)
            continue
        missing.append(m["field"])
        if m["name"] in _REQUIRED.get((top, section), ()):
            lines.append(f"{line}   # NOT IN YOUR ORG: run `presales install` or map your own field")
        else:
            lines.append(f"{m['indent']}# {line.strip()}   # not in your org")
    header = (f"# Starter mapping written by `presales mappings init` from the live schema of "
              f"{object_name}.\n# Fields marked NOT IN YOUR ORG must be installed or re-mapped.\n")
    return header + "\n".join(lines) + "\n", sorted(set(missing))


__all__ = ["starter_mapping"]
