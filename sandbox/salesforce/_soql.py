"""A small SOQL tokenizer and recursive-descent parser (the subset our connector and tests use).

Parsing is kept apart from the schema: this module only knows SOQL syntax and produces a
tree of plain dataclasses; `_query` resolves names against the field catalogue and turns
the tree into SQL. A syntax error becomes ``SoqlError("MALFORMED_QUERY", …)`` with the
``ERROR at Row:…:Column:…`` framing Salesforce uses, so clients see the real shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "NULL",
        "TRUE",
        "FALSE",
        "COUNT",
    }
)


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is the REST errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def framed(query: str, pos: int, text: str) -> str:
    """Salesforce's message framing: the query, a caret under the column, then the text."""
    row = query.count("\n", 0, pos) + 1
    line_start = query.rfind("\n", 0, pos) + 1
    col = pos - line_start + 1
    # split("\n"), not splitlines(): rows are counted by "\n" alone (a query ending in a
    # newline, or holding \r or \u2028, must not index past the last line)
    line = query.split("\n")[row - 1]
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{text}"


# -- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # NAME KW STRING NUMBER DATE DATETIME OP PUNCT EOF
    text: str
    pos: int
    value: object = None
    like: str | None = None  # for STRING: the pattern ready for SQL LIKE … ESCAPE '\'


_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:])")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?![\w.])")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _string(query: str, start: int) -> tuple[Token, int]:
    """A single-quoted literal; returns the decoded value and a LIKE-ready pattern in which
    ``\\%``/``\\_`` stay escaped while ``%``/``_`` stay wildcards."""
    i = start + 1
    plain: list[str] = []
    like: list[str] = []
    while i < len(query):
        ch = query[i]
        if ch == "'":
            text = query[start : i + 1]
            return Token("STRING", text, start, "".join(plain), "".join(like)), i + 1
        if ch == "\\":
            if i + 1 >= len(query):
                break
            nxt = query[i + 1]
            if nxt in ("%", "_"):
                plain.append(nxt)
                like.append("\\" + nxt)
            elif nxt in _ESCAPES:
                plain.append(_ESCAPES[nxt])
                like.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    framed(
                        query,
                        i,
                        f"Invalid string literal '{query[start : i + 2]}'. Illegal character sequence "
                        f"'\\{nxt}' in string literal.",
                    ),
                )
            i += 2
            continue
        plain.append(ch)
        like.append(ch)
        i += 1
    raise SoqlError("MALFORMED_QUERY", framed(query, start, f"unexpected token: {query[start : start + 20]}"))


def _datetime_value(m: re.Match[str]) -> datetime:
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    micro -= micro % 1000  # SOQL datetimes carry milliseconds at most
    if tz == "Z":
        zone = UTC
    else:
        sign = 1 if tz[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, zone).astimezone(UTC)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            tok, i = _string(query, i)
            tokens.append(tok)
            continue
        if ch in "(),":
            tokens.append(Token("PUNCT", ch, i))
            i += 1
            continue
        op = next((o for o in _OPS if query.startswith(o, i)), None)
        if op:
            tokens.append(Token("OP", op, i))
            i += len(op)
            continue
        m = _DATETIME.match(query, i)
        if m:
            try:
                value: object = _datetime_value(m)
            except ValueError:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    framed(query, i, f"line 1:{i} no viable alternative at character '{m.group(0)}'"),
                ) from None
            tokens.append(Token("DATETIME", m.group(0), i, value))
            i = m.end()
            continue
        m = _DATE.match(query, i)
        if m:
            try:
                value = date.fromisoformat(m.group(0))
            except ValueError:
                raise SoqlError(
                    "MALFORMED_QUERY", framed(query, i, f"unexpected token: {m.group(0)}")
                ) from None
            tokens.append(Token("DATE", m.group(0), i, value))
            i = m.end()
            continue
        m = _NUMBER.match(query, i)
        if m:
            text = m.group(0)
            tokens.append(Token("NUMBER", text, i, float(text) if "." in text else int(text)))
            i = m.end()
            continue
        m = _NAME.match(query, i)
        if m:
            text = m.group(0)
            kind = "KW" if text.upper() in KEYWORDS else "NAME"
            tokens.append(Token(kind, text, i, text.upper() if kind == "KW" else text))
            i = m.end()
            continue
        raise SoqlError(
            "MALFORMED_QUERY", framed(query, i, f"line 1:{i} no viable alternative at character '{ch}'")
        )
    tokens.append(Token("EOF", "", n))
    return tokens


# -- tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """A field reference as written: ``Name`` or ``Account.Name``."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    kind: str  # null bool number string date datetime
    value: object
    pos: int
    like: str | None = None


@dataclass(frozen=True)
class SemiJoin:
    """``IN (SELECT Field FROM Object [WHERE …])``: one id or reference field of another object."""

    select: Select


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Literal | tuple[Literal, ...] | SemiJoin


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Compare | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool = False
    nulls_first: bool | None = None


@dataclass
class Select:
    query: str
    fields: list[Path] = field(default_factory=list)
    count_only: bool = False
    object_name: str = ""
    object_pos: int = 0
    where: Expr | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    #: Parent-to-child subqueries in the select list: ``(SELECT … FROM Children__r …)``.
    children: list[Select] = field(default_factory=list)


#: "No more than 20 parent-to-child subqueries" (issue-14-wire-facts §4).
MAX_CHILD_QUERIES = 20


# -- parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0
        self.nested = False

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        what = tok.text if tok.kind != "EOF" else "<EOF>"
        return SoqlError("MALFORMED_QUERY", framed(self.query, tok.pos, f"unexpected token: {what}"))

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "KW" and self.tok.value in words

    def take_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.fail()
        return self.advance()

    def take_punct(self, ch: str) -> Token:
        if self.tok.kind != "PUNCT" or self.tok.text != ch:
            raise self.fail()
        return self.advance()

    def advance(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def path(self) -> Path:
        tok = self.tok
        if tok.kind != "NAME":
            raise self.fail()
        self.advance()
        return Path(tuple(tok.text.split(".")), tok.pos)

    def parse(self) -> Select:
        sel = Select(self.query)
        self.take_kw("SELECT")
        if self.is_kw("COUNT"):
            self.advance()
            self.take_punct("(")
            self.take_punct(")")
            sel.count_only = True
        else:
            self.select_item(sel)
            while self.tok.kind == "PUNCT" and self.tok.text == ",":
                self.advance()
                self.select_item(sel)
            if len(sel.children) > MAX_CHILD_QUERIES:
                raise SoqlError("MALFORMED_QUERY", framed(
                    self.query, sel.children[MAX_CHILD_QUERIES].object_pos,
                    f"maximum {MAX_CHILD_QUERIES} parent-to-child subqueries per query"))
        self.take_kw("FROM")
        if self.tok.kind != "NAME" or "." in self.tok.text:
            raise self.fail()
        obj = self.advance()
        sel.object_name, sel.object_pos = obj.text, obj.pos
        self.tail(sel)
        if self.tok.kind != "EOF":
            raise self.fail()
        return sel

    def select_item(self, sel: Select) -> None:
        """A field, or (at the top level) a parent-to-child subquery in parentheses."""
        if not (self.tok.kind == "PUNCT" and self.tok.text == "(") or self.nested:
            sel.fields.append(self.path())
            return
        self.advance()
        self.nested = True
        child = Select(self.query)
        self.take_kw("SELECT")
        child.fields.append(self.path())
        while self.tok.kind == "PUNCT" and self.tok.text == ",":
            self.advance()
            child.fields.append(self.path())
        self.take_kw("FROM")
        if self.tok.kind != "NAME" or "." in self.tok.text:
            raise self.fail()
        rel = self.advance()
        child.object_name, child.object_pos = rel.text, rel.pos
        self.tail(child)
        self.take_punct(")")
        self.nested = False
        sel.children.append(child)

    def tail(self, sel: Select) -> None:
        """WHERE, ORDER BY and LIMIT of a statement."""
        if self.is_kw("WHERE"):
            self.advance()
            sel.where = self.or_expr()
        if self.is_kw("ORDER"):
            self.advance()
            self.take_kw("BY")
            sel.order.append(self.order_item())
            while self.tok.kind == "PUNCT" and self.tok.text == ",":
                self.advance()
                sel.order.append(self.order_item())
        if self.is_kw("LIMIT"):
            self.advance()
            tok = self.tok
            if tok.kind != "NUMBER" or not isinstance(tok.value, int) or tok.value < 0:
                raise self.fail()
            self.advance()
            sel.limit = int(tok.value)

    def order_item(self) -> OrderItem:
        path = self.path()
        descending = False
        if self.is_kw("ASC", "DESC"):
            descending = self.advance().value == "DESC"
        nulls_first = None
        if self.is_kw("NULLS"):
            self.advance()
            if not self.is_kw("FIRST", "LAST"):
                raise self.fail()
            nulls_first = self.advance().value == "FIRST"
        return OrderItem(path, descending, nulls_first)

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.is_kw("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.is_kw("AND"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def not_expr(self) -> Expr:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.not_expr())
        if self.tok.kind == "PUNCT" and self.tok.text == "(":
            self.advance()
            inner = self.or_expr()
            self.take_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        path = self.path()
        tok = self.tok
        if tok.kind == "OP":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(path, op, self.literal())
        if self.is_kw("LIKE"):
            self.advance()
            lit = self.literal()
            if lit.kind != "string":
                raise self.fail(self.tokens[self.i - 1])
            return Compare(path, "LIKE", lit)
        negate = False
        if self.is_kw("NOT"):
            self.advance()
            negate = True
        if self.is_kw("IN"):
            self.advance()
            self.take_punct("(")
            if self.is_kw("SELECT"):
                return Compare(path, "NOT IN" if negate else "IN", self.semi_join())
            values = [self.literal()]
            while self.tok.kind == "PUNCT" and self.tok.text == ",":
                self.advance()
                values.append(self.literal())
            self.take_punct(")")
            return Compare(path, "NOT IN" if negate else "IN", tuple(values))
        raise self.fail()

    def semi_join(self) -> SemiJoin:
        """The inner ``SELECT Field FROM Object [WHERE …]`` of a semi-join, up to its ``)``.
        Salesforce allows no semi-join inside another one."""
        start = self.tok
        if self.nested:
            raise SoqlError("MALFORMED_QUERY", framed(self.query, start.pos,
                                                      "Nesting of semi join sub-selects is not supported"))
        self.nested = True
        sel = Select(self.query)
        self.take_kw("SELECT")
        sel.fields.append(self.path())
        self.take_kw("FROM")
        if self.tok.kind != "NAME" or "." in self.tok.text:
            raise self.fail()
        obj = self.advance()
        sel.object_name, sel.object_pos = obj.text, obj.pos
        if self.is_kw("WHERE"):
            self.advance()
            sel.where = self.or_expr()
        self.take_punct(")")
        self.nested = False
        return SemiJoin(sel)

    def literal(self) -> Literal:
        tok = self.tok
        kinds = {"STRING": "string", "NUMBER": "number", "DATE": "date", "DATETIME": "datetime"}
        if tok.kind in kinds:
            self.advance()
            return Literal(kinds[tok.kind], tok.value, tok.pos, tok.like)
        if self.is_kw("NULL"):
            self.advance()
            return Literal("null", None, tok.pos)
        if self.is_kw("TRUE", "FALSE"):
            self.advance()
            return Literal("bool", tok.value == "TRUE", tok.pos)
        raise self.fail()


def parse(query: str) -> Select:
    """Parse one SOQL statement or raise `SoqlError` (MALFORMED_QUERY)."""
    return _Parser(query).parse()
