"""Values placed in SOQL: every string goes through `soql_string` (or `soql_like` inside a
LIKE pattern), never through an f-string of its own. Salesforce's escapes: backslash, both
quotes and the control characters \\n \\r \\t \\b \\f; in LIKE also ``%`` and ``_``, which are
wildcards there and ordinary characters anywhere else."""

from __future__ import annotations

_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
                          "\b": "\\b", "\f": "\\f"})
_LIKE = str.maketrans({"%": "\\%", "_": "\\_"})


def soql_string(value: str) -> str:
    """`value` as a quoted SOQL string literal, for ``=``, ``!=``, ``IN (…)`` and the like."""
    if not isinstance(value, str):
        raise TypeError(f"soql_string takes a str, got {type(value).__name__}")
    return "'" + value.translate(_ESCAPES) + "'"


def soql_like(value: str, *, prefix: str = "", suffix: str = "") -> str:
    """A quoted LIKE pattern matching `value` literally, with the wildcards `prefix` and
    `suffix` (e.g. ``suffix="%"`` for "starts with") around it."""
    if any(c not in "%_" for c in prefix + suffix):
        raise ValueError("prefix and suffix may hold only the wildcards % and _")
    return "'" + prefix + value.translate(_ESCAPES).translate(_LIKE) + suffix + "'"


__all__ = ["soql_like", "soql_string"]
