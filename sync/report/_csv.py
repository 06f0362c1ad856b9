"""CSV cells a spreadsheet will not run as a formula (CSV injection, OWASP).

An engineer's name or a deal title comes from the CRM or the roster; a cell starting with
`=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel and LibreOffice
(`=HYPERLINK(...)`, `+cmd|' /C calc'!A0`). Such text cells get a leading single quote, which
the spreadsheet shows as text. Numbers are written as numbers (a negative score stays -1.5).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` as a CSV cell: text that a spreadsheet would evaluate is quoted with `'`."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_rows(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write dict rows as a CSV with a header (UTF-8 with BOM so spreadsheets read Chinese);
    an empty file when there are no rows."""
    rows = list(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=[safe_cell(k) for k in rows[0]])
            writer.writeheader()
            writer.writerows({safe_cell(k): safe_cell(v) for k, v in row.items()} for row in rows)
    return path


__all__ = ["safe_cell", "write_rows"]
