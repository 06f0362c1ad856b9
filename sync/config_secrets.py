"""Refuse a config file that holds a secret, naming the environment variable to use instead.

Secrets come only from the environment (ARCHITECTURE.md): a config file is copied, committed
and mounted as a ConfigMap, an environment variable is not. The check runs on the raw YAML,
before validation, so the admin gets "put it in PRESALES_…" rather than "unknown key"; the
value itself is never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from presales_sync.mappings import FileProblems, Problem, read_yaml
from presales_sync.mappings.load import shown_key

#: key (normalised: snake_case, lower) → (Salesforce variable, Zoho variable)
_SECRET_KEYS: dict[str, tuple[str, str]] = {
    "session_id": ("PRESALES_SF_SESSION_ID", "PRESALES_ZOHO_REFRESH_TOKEN"),
    "access_token": ("PRESALES_SF_SESSION_ID", "PRESALES_ZOHO_REFRESH_TOKEN"),
    "token": ("PRESALES_SF_SESSION_ID", "PRESALES_ZOHO_REFRESH_TOKEN"),
    "username": ("PRESALES_SF_USERNAME", "PRESALES_ZOHO_CLIENT_ID"),
    "password": ("PRESALES_SF_PASSWORD", "PRESALES_ZOHO_CLIENT_SECRET"),
    "security_token": ("PRESALES_SF_SECURITY_TOKEN", "PRESALES_ZOHO_CLIENT_SECRET"),
    "consumer_key": ("PRESALES_SF_CONSUMER_KEY", "PRESALES_ZOHO_CLIENT_ID"),
    "consumer_secret": ("PRESALES_SF_CONSUMER_SECRET", "PRESALES_ZOHO_CLIENT_SECRET"),
    "private_key": ("PRESALES_SF_PRIVATE_KEY_FILE", "PRESALES_ZOHO_CLIENT_SECRET"),
    "private_key_file": ("PRESALES_SF_PRIVATE_KEY_FILE", "PRESALES_ZOHO_CLIENT_SECRET"),
    "client_id": ("PRESALES_SF_CONSUMER_KEY", "PRESALES_ZOHO_CLIENT_ID"),
    "client_secret": ("PRESALES_SF_CONSUMER_SECRET", "PRESALES_ZOHO_CLIENT_SECRET"),
    "refresh_token": ("PRESALES_SF_SESSION_ID", "PRESALES_ZOHO_REFRESH_TOKEN"),
}
#: Any other key that names a secret by its ending (``api_secret``, ``db_password``, ``apikey``).
_SECRETISH = re.compile(r"(secret|password|passwd|api_?key)$")


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).replace("-", "_").lower()


_Entry = tuple[tuple[str, ...], yaml.Node, yaml.Node]


def _walk(node: yaml.Node, path: tuple[str, ...] = ()) -> Iterator[_Entry]:
    """(key path, key node, value node) of every mapping entry, depth first."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            yield sub, key, value
            yield from _walk(value, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, (*path, str(i)))


def refuse_secrets(path: Path) -> None:
    """Raise `FileProblems` (exit 2) for every secret in the config file at `path`."""
    data, node = read_yaml(path)
    if node is None or not isinstance(data, dict):
        return  # empty or not a mapping: the model's own validation says what is wrong
    crm = data.get("crm")
    zoho = isinstance(crm, dict) and crm.get("kind") == "zoho"
    problems: list[Problem] = []
    for keys, key_node, value_node in _walk(node):
        name = _snake(keys[-1])
        if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
            continue  # an empty placeholder holds no secret
        where = ".".join(shown_key(k) for k in keys)
        line = key_node.start_mark.line + 1
        if name in _SECRET_KEYS:
            var = _SECRET_KEYS[name][1 if zoho else 0]
            problems.append(Problem(str(path), line, where, f"secrets are not read from the config file: "
                                    f"remove it and set the environment variable {var} instead"))
        elif _SECRETISH.search(name):
            problems.append(Problem(str(path), line, where, "secrets are not read from the config file: "
                                    "remove it and set it in the environment (README, \"Secrets\")"))
        elif keys == ("store",) and isinstance(value_node, yaml.ScalarNode):
            problems.extend(_store_password(path, line, value_node.value))
    if problems:
        raise FileProblems(problems)


def _store_password(path: Path, line: int, url: str) -> list[Problem]:
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return []  # a malformed URL is reported when the store is opened
    if not password:
        return []
    return [Problem(str(path), line, "store", "a password in the store URL is a secret in the config file: "
                    "remove it from the URL and set PGPASSWORD in the environment (or use ~/.pgpass)")]


__all__ = ["refuse_secrets"]
