"""How the command's diagnostics reach stderr: plain lines for people, or one JSON object per
line (`--log-format json`) for log collectors (journald, Kubernetes, Loki, CloudWatch).

In JSON mode *everything* the command writes to stderr is such an object: log records and
the CLI's own ``error:`` / ``failed:`` / ``progress:`` lines alike, so a collector never has
to guess a line's format. Either way, the values of the secret environment variables are
replaced by ``[redacted]`` before a line is written (a second guard behind the connectors'
own redaction: a secret must never reach a log).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

#: Environment variables whose values are secrets (ARCHITECTURE.md, "Config file").
SECRET_ENV = re.compile(r"^PRESALES_(SF|ZOHO)_(SESSION_ID|PASSWORD|SECURITY_TOKEN|CONSUMER_KEY|"
                        r"CONSUMER_SECRET|CLIENT_ID|CLIENT_SECRET|REFRESH_TOKEN|ACCESS_TOKEN)$|^PGPASSWORD$")
#: Shorter values are not redacted (they would mangle ordinary words); no real secret is this short.
_MIN_SECRET = 6


class Redactor:
    """Replaces the values of the secret environment variables found in `env`."""

    def __init__(self, env: Mapping[str, str]) -> None:
        values = {v.strip() for k, v in env.items() if SECRET_ENV.match(k) and len(v.strip()) >= _MIN_SECRET}
        self._secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"[, "exception"]}``, one line, UTF-8 as is."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        item: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            item["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(item, ensure_ascii=False)


def configure(fmt: LogFormat, level: int, env: Mapping[str, str], stream: TextIO | None = None) -> Redactor:
    """Install the root handler for `fmt` at `level`; returns the redactor for other output."""
    redact = Redactor(env)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RedactingFilter(redact))
    if fmt == "json":
        handler.setFormatter(JsonFormatter(redact))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return redact


class JsonLines:
    """Stands in for the CLI's stderr console in JSON mode: each ``print`` becomes one JSON
    object. The level comes from the line's own prefix (``error:`` → error, ``failed:`` →
    warning, anything else → info); markup is stripped."""

    is_terminal = False

    def __init__(self, redact: Redactor, stream: TextIO | None = None) -> None:
        self.redact = redact
        self.stream = stream

    def print(self, text: Any = "", *, markup: bool | None = None, **_: Any) -> None:
        plain = str(text)
        if markup:
            from rich.text import Text

            plain = Text.from_markup(plain).plain
        head = plain.split(":", 1)[0].split(" ", 1)[0].lower()
        level = {"error": "error", "failed": "warning"}.get(head, "info")
        item = {"time": _now(), "level": level, "logger": "presales.cli", "message": self.redact(plain)}
        stream = self.stream or sys.stderr
        stream.write(json.dumps(item, ensure_ascii=False) + "\n")
        stream.flush()


__all__ = ["SECRET_ENV", "JsonFormatter", "JsonLines", "LogFormat", "Redactor", "configure"]
