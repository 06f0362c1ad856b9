"""Load a YAML file into a pydantic model, with errors an admin can act on.

Every problem is reported with the file, the line, the key path and what was expected,
plus a "did you mean" suggestion for a misspelt key. Values are never echoed back, so a
secret pasted into the wrong place (or a config key pointing at `/etc/shadow`) does not end
up in a log: YAML parser snippets are dropped and keys that are not setting names are not shown.

Admin files are hostile input: only regular files are read, at most `PRESALES_MAX_FILE_BYTES`
of them; YAML aliases may add at most `PRESALES_MAX_YAML_ALIAS_NODES` nodes (a "billion laughs"
file is refused, not expanded) and nesting stops at `PRESALES_MAX_YAML_DEPTH` (docs/limits.md).
"""

from __future__ import annotations

import difflib
import gc
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

#: Named limits (docs/limits.md): environment variable → default.
MAX_FILE_BYTES = "PRESALES_MAX_FILE_BYTES"
MAX_YAML_ALIAS_NODES = "PRESALES_MAX_YAML_ALIAS_NODES"
MAX_YAML_DEPTH = "PRESALES_MAX_YAML_DEPTH"
LIMIT_DEFAULTS: dict[str, int] = {
    MAX_FILE_BYTES: 10_000_000,
    MAX_YAML_ALIAS_NODES: 100_000,
    MAX_YAML_DEPTH: 100,
}
#: Problems listed per file; the rest are counted (a 400,000-line roster with one mistake
#: repeated must not print 50,000 lines).
MAX_PROBLEMS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '(top level)'}: {self.message}"


class FileProblems(Exception):
    """One or more problems in an admin-written file; the CLI exits 2 on it."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def env_limit(name: str, default: int | None = None) -> int:
    """The limit `name` from the environment, or its default; a malformed value is a
    configuration problem (exit 2), not a silent fallback."""
    fallback = LIMIT_DEFAULTS[name] if default is None else default
    text = os.environ.get(name, "").strip().replace("_", "")
    if not text:
        return fallback
    if not text.isdigit() or int(text) <= 0:
        raise FileProblems([Problem("environment", None, name,
                                    "must be a whole number greater than 0 (docs/limits.md)")])
    return int(text)


def _refuse(path: Path, message: str, line: int | None = None) -> FileProblems:
    return FileProblems([Problem(str(path), line, "", message)])


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _too_big(path: Path, limit: int) -> FileProblems:
    return _refuse(path, f"file is larger than the limit of {limit:,} bytes: point the setting at the "
                         f"right file, or raise the limit with {MAX_FILE_BYTES}=<bytes> (docs/limits.md)")


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_bounded(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of the regular file at `path`. A FIFO would block and a device
    never ends, so anything but a regular file is refused before a byte is read."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore it)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _refuse(path, "file not found") from None
    except OSError as err:
        raise _refuse(path, f"cannot read: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, f"is {_kind(info.st_mode)}, not a file: give the path of a YAML file")
        if info.st_size > limit:
            raise _too_big(path, limit)
        data = _read_at_most(fd, limit + 1)  # /proc files say size 0: the read is bounded too
    except OSError as err:
        raise _refuse(path, f"cannot read: {err.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _too_big(path, limit)
    return data


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise _refuse(path, "not UTF-8 text (is this the right file?)", line) from None


try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class YamlInt(int):
    """An int whose YAML text is not its plain decimal form (`005001` is octal in YAML 1.1,
    `1_000`): it keeps the text, so an id written unquoted keeps its exact characters."""

    text: str

    def __new__(cls, value: int, text: str) -> YamlInt:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


def int_text(value: int) -> str:
    """The characters an admin wrote for the YAML int `value`."""
    return value.text if isinstance(value, YamlInt) else str(value)


class _Loader(_SafeLoader):
    """The safe loader (libyaml when present: the pure-Python parser, run twice, took minutes
    on a 400,000-line roster) whose ints remember their text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[type, str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:  # type: ignore[override]
        """The tag of a scalar, remembered per value: a roster repeats `senior`, `true` and
        `[cloud]` thousands of times, and the resolver's regular expressions were a third of
        the load."""
        key = (kind, value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    value = loader.construct_yaml_int(node)
    return value if str(value) == node.value else YamlInt(value, node.value)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _collections(node: yaml.Node) -> tuple[list[yaml.Node], int]:
    """The collections directly inside `node`, and how many scalars."""
    if isinstance(node, yaml.SequenceNode):
        items = node.value
    elif isinstance(node, yaml.MappingNode):
        items = [part for pair in node.value for part in pair]
    else:
        return [], 0
    inner = [item for item in items if not isinstance(item, yaml.ScalarNode)]
    return inner, len(items) - len(inner)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _check_shape(path: Path, root: yaml.Node) -> None:
    """Refuse alias expansion past the limit, alias cycles and deep nesting, before anything
    walks the tree. Aliases share one node, so this is linear in the file, not in what the
    aliases would expand to (a "billion laughs" file has a handful of distinct nodes)."""
    max_added, max_depth = env_limit(MAX_YAML_ALIAS_NODES), env_limit(MAX_YAML_DEPTH)
    done: dict[int, tuple[int, int]] = {}  # collection id → (expanded size, height)
    distinct = 0  # nodes as written (a scalar behind an alias is counted once per use: small)
    open_: set[int] = set()  # the collections on the current path (a cycle comes back to one)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, leaving = stack.pop()
        key = id(node)
        inner, scalars = _collections(node)
        if leaving:
            open_.discard(key)
            done[key] = (1 + scalars + sum(done[id(k)][0] for k in inner),
                         1 + max((done[id(k)][1] for k in inner), default=1 if scalars else 0))
            continue
        if key in open_:
            raise _refuse(path, "a YAML alias refers to a collection that contains it (a cycle): "
                                "remove the alias", _line(node))
        height = done[key][1] if key in done else 1
        if depth + height - 1 > max_depth:
            raise _refuse(path, f"nested more than {max_depth} levels deep; if the file is genuine, raise "
                                f"the limit with {MAX_YAML_DEPTH}=<levels> (docs/limits.md)", _line(node))
        if key in done:
            continue
        distinct += 1 + scalars
        open_.add(key)
        stack.append((node, depth, True))
        stack.extend((k, depth + 1, False) for k in inner)
    added = done[id(root)][0] - distinct if id(root) in done else 0
    if added > max_added:
        raise _refuse(path, f"YAML aliases (*name) would add more than {max_added:,} nodes (a \"billion "
                            f"laughs\" file?); nothing was expanded. If the file is genuine, raise the "
                            f"limit with {MAX_YAML_ALIAS_NODES}=<nodes> (docs/limits.md)")


def _one_line(text: str) -> str:
    """A parser's problem without the quoted line of the file it may carry."""
    return (text.strip().splitlines() or ["not valid YAML"])[0][:200]


@contextmanager
def _no_cycle_collector() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates millions of nodes and marks that
    all stay alive, and the collector walked them again and again (a 400,000-line roster took
    4x as long with it on). The tree has no cycles to collect (an alias cycle is refused)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(path: Path, text: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_shape(path, node)
        return loader.construct_document(node), node
    except yaml.MarkedYAMLError as err:
        # str(err) quotes the offending line of the file: keep only where and what
        mark = err.problem_mark
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise _refuse(path, f"malformed YAML{column}: {_one_line(err.problem or '')}",
                      mark.line + 1 if mark is not None else None) from None
    except yaml.YAMLError as err:  # ReaderError: a control character, before any mark
        position = getattr(err, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        raise _refuse(path, "malformed YAML: a control character YAML does not allow "
                            "(is this the right file?)", line) from None
    except RecursionError:
        raise _refuse(path, "nested too deeply to read") from None
    finally:
        loader.dispose()


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse YAML once, returning the data and the node tree (for line numbers); a file
    that is too big, not a regular file, not UTF-8 or not YAML is a `FileProblems`."""
    with _no_cycle_collector():
        return _parse(path, _decode(path, read_bounded(path, env_limit(MAX_FILE_BYTES))))


#: A key shown in a message: a setting-like name. Anything else (a line of /etc/shadow parsed
#: as a key) is not echoed.
_SHOWN_KEY = re.compile(r"[\w][\w .\-]{0,63}")
HIDDEN_KEY = "(a key that is not a setting name)"


def shown_key(part: object) -> str:
    text = str(part)
    return text if isinstance(part, int) or _SHOWN_KEY.fullmatch(text) else HIDDEN_KEY


def _locate(node: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int | None, list[str]]:
    """Follow a pydantic error location through the YAML node tree: the deepest line found,
    and the keys that exist at the level where the path stopped (for suggestions)."""
    line = node.start_mark.line + 1 if node is not None else None
    siblings: list[str] = []
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            siblings = [str(k.value) for k, _ in node.value]
            for key, value in node.value:
                if str(key.value) == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line, siblings
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line, siblings
        else:
            return line, siblings
    return line, siblings


def line_of(path: Path, loc: tuple[Any, ...]) -> int | None:
    """The line of key path `loc` in the YAML file `path` (for errors found after loading)."""
    _, node = read_yaml(path)
    return _locate(node, loc)[0]


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names (aliases) of the model at `loc`'s parent, for "did you mean"."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = _model_in(annotation)
    fields = getattr(current, "model_fields", None) or {}
    return [f.alias or name for name, f in fields.items()]


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _capped(path: Path, problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS_SHOWN:
        return problems
    rest = len(problems) - MAX_PROBLEMS_SHOWN
    return [*problems[:MAX_PROBLEMS_SHOWN],
            Problem(str(path), None, "", f"... and {rest:,} more problem(s) (fix the ones above first)")]


def problems_from(err: ValidationError, path: Path, node: yaml.Node | None,
                  model: type[BaseModel]) -> list[Problem]:
    problems = []
    for item in err.errors(include_url=False, include_input=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and "[" in p))
        key = ".".join(shown_key(p) for p in loc)
        line, _ = _locate(node, loc)
        message = item["msg"]
        if item["type"] == "extra_forbidden" and loc:
            allowed = _allowed_keys(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message = "unknown key"
            if shown_key(loc[-1]) == HIDDEN_KEY:
                message += " (is this the right file?)"
            if close:
                message += f"; did you mean '{close[0]}'?"
            elif allowed:
                message += f"; expected one of: {', '.join(sorted(allowed))}"
        problems.append(Problem(str(path), line, key, message))
    return _capped(path, problems)


def load_model(path: Path, model: type[M]) -> M:
    """Read `path` and validate it as `model`; raise FileProblems naming file/line/key."""
    with _no_cycle_collector():
        return _validated(path, model)


def _validated(path: Path, model: type[M]) -> M:
    data, node = read_yaml(path)
    if data is None:
        raise FileProblems([Problem(str(path), None, "", "file is empty")])
    if not isinstance(data, dict):
        raise _refuse(path, "expected settings (`key: value` lines) at the top level, found "
                            f"{'a list' if isinstance(data, list) else 'a single value'}: "
                            "is this the right file?", 1)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise FileProblems(problems_from(err, path, node, model)) from None


__all__ = ["HIDDEN_KEY", "LIMIT_DEFAULTS", "MAX_FILE_BYTES", "MAX_PROBLEMS_SHOWN", "MAX_YAML_ALIAS_NODES",
           "MAX_YAML_DEPTH", "FileProblems", "Problem", "YamlInt", "env_limit", "int_text", "line_of",
           "load_model", "read_bounded", "read_yaml", "shown_key"]
