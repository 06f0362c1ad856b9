"""Load a YAML file into a pydantic model, with errors an admin can act on.

Every problem is reported with the file, the line, the key path and what was expected,
plus a "did you mean" suggestion for a misspelt key. Values are never echoed back, so a
secret pasted into the wrong place does not end up in a log.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


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


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse YAML, returning the data and the node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileProblems([Problem(str(path), None, "", "file not found")]) from None
    except OSError as err:
        raise FileProblems([Problem(str(path), None, "", f"cannot read: {err.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise FileProblems([Problem(str(path), line, "", f"malformed YAML: {problem}")]) from None
    return data, node


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


def problems_from(err: ValidationError, path: Path, node: yaml.Node | None,
                  model: type[BaseModel]) -> list[Problem]:
    problems = []
    for item in err.errors(include_url=False, include_input=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and "[" in p))
        key = ".".join(str(p) for p in loc)
        line, _ = _locate(node, loc)
        message = item["msg"]
        if item["type"] == "extra_forbidden" and loc:
            allowed = _allowed_keys(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message = "unknown key"
            if close:
                message += f"; did you mean '{close[0]}'?"
            elif allowed:
                message += f"; expected one of: {', '.join(sorted(allowed))}"
        problems.append(Problem(str(path), line, key, message))
    return problems


def load_model(path: Path, model: type[M]) -> M:
    """Read `path` and validate it as `model`; raise FileProblems naming file/line/key."""
    data, node = read_yaml(path)
    if data is None:
        raise FileProblems([Problem(str(path), None, "", "file is empty")])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise FileProblems(problems_from(err, path, node, model)) from None


__all__ = ["FileProblems", "Problem", "line_of", "load_model", "read_yaml"]
