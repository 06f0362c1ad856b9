"""What the CRM says about our own files, pointed back at the line an admin must fix.

The CRM refuses a query naming a field it does not have (`UnknownFieldError`); the field
came from the mapping file, so the error is reported like any other mapping problem: the
file, the line, the mapping key, and the command that checks the whole mapping."""

from __future__ import annotations

import re
from pathlib import Path

from presales_sync.connector import UnknownFieldError
from presales_sync.mappings import FileProblems, ObjectMap, Problem


def unknown_field_problems(err: UnknownFieldError, *, mapping_path: Path, objmap: ObjectMap) -> FileProblems:
    """A `FileProblems` (exit 2) naming where the mapping names the field the CRM refused."""
    key = _mapping_key(objmap, err.field)
    on = f" on {err.object_name}" if err.object_name else ""
    message = (f"the CRM has no field '{err.field}'{on}, or the integration user cannot see it: "
               "correct the name (or grant access), then run `presales mappings validate` to check "
               "the whole mapping against the CRM; the sync stopped before writing anything")
    return FileProblems([Problem(str(mapping_path), _line_naming(mapping_path, err.field), key, message)])


def _mapping_key(objmap: ObjectMap, field: str) -> str:
    """The admin's path of the first mapping entry that reads or writes `field` (a
    relationship path such as Account.Nmae matches its last part, as the CRM names it)."""
    for direction, entries in (("inbound", objmap.inbound), ("outbound", objmap.outbound)):
        for name, fm in entries.items():
            if field in (fm.field, fm.field.rsplit(".", 1)[-1]):
                return f"opportunity.{direction}.{name}"
    return "opportunity"


def _line_naming(path: Path, field: str) -> int | None:
    pattern = re.compile(r"\bfield:\s*['\"]?(?:[A-Za-z0-9_]+\.)?" + re.escape(field) + r"\b")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return next((n for n, text in enumerate(lines, 1) if pattern.search(text)), None)


__all__ = ["unknown_field_problems"]
