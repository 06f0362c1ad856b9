"""SOQL tree → one SQL statement over the store's tables, plus the recipe to shape records.

Translating to SQL (instead of filtering rows in Python) lets SQLite use the indexes
(SystemModstamp, Id), so incremental reads stay cheap at a million rows. SOQL semantics that
differ from SQL are made explicit here: ``!=``/``NOT IN`` match nulls, text compares and
sorts case-insensitively, ``LIKE`` escapes with backslash, a date literal only compares
with a date field and a datetime literal (UTC, ms) only with a datetime field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from presales_sync.sandbox.salesforce._catalog import TEXT_TYPES, FieldDef, ObjectDef
from presales_sync.sandbox.salesforce._soql import (
    BoolOp,
    Compare,
    Expr,
    Literal,
    Not,
    Path,
    Select,
    SemiJoin,
    SoqlError,
    framed,
)
from presales_sync.sandbox.salesforce._values import dt_to_ms, normalize_id, to_json

_CUSTOM_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)


@dataclass(frozen=True)
class Column:
    """One selected field: where it lives and how it appears in the JSON record."""

    field: FieldDef
    relationship: str | None  # relationship name for parent fields (Account), else None
    parent: ObjectDef | None
    sql: str


@dataclass
class Compiled:
    """A query ready to run: SQL + parameters, and the columns to shape records from."""

    obj: ObjectDef
    sql: str
    params: list[Any]
    count_sql: str
    columns: list[Column] = field(default_factory=list)
    # per relationship: the SQL index of the parent's Id (to tell "no parent" → null)
    parent_id_index: dict[str, int] = field(default_factory=dict)
    count_only: bool = False
    limit: int | None = None
    #: Parent-to-child subqueries: (relationship name, the child query for one parent, bound
    #: to it with `bind`).
    children: list[tuple[str, Compiled]] = field(default_factory=list)

    def bind(self, parent_id: str) -> Compiled:
        """A child query with its parent id in place of the `PARENT` placeholder."""
        params = [parent_id if p == PARENT else p for p in self.params]
        return replace(self, params=params)

    def shape(self, row: tuple[Any, ...], version: str) -> dict[str, Any]:
        """One result row as the REST record, parents as nested objects with attributes."""
        rec: dict[str, Any] = {"attributes": _attributes(self.obj.name, row[0], version)}
        for i, col in enumerate(self.columns, start=1):
            value = to_json(col.field, row[i])
            if col.relationship is None:
                rec[col.field.name] = value
                continue
            parent_id = row[self.parent_id_index[col.relationship]]
            if parent_id is None:
                rec[col.relationship] = None
                continue
            assert col.parent is not None
            nested = rec.get(col.relationship)
            if nested is None:
                nested = {"attributes": _attributes(col.parent.name, parent_id, version)}
                rec[col.relationship] = nested
            nested[col.field.name] = value
        return rec


#: The parent id's placeholder in a child query's parameters (never a real value: ids are
#: alphanumeric).
PARENT = "\x00parent"


def _attributes(type_: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": type_, "url": f"/services/data/v{version}/sobjects/{type_}/{record_id}"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Compiler:
    def __init__(self, sel: Select, objects: dict[str, ObjectDef]) -> None:
        self.sel = sel
        self.objects = objects
        obj = objects.get(sel.object_name.lower())
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                framed(
                    sel.query,
                    sel.object_pos,
                    f"sObject type '{sel.object_name}' is not supported. If you are attempting to use a "
                    "custom object, be sure to append the '__c' after the entity name. Please reference your "
                    "WSDL or the describe call for the appropriate names.",
                ),
            )
        self.obj = obj
        self.joins: dict[str, tuple[str, ObjectDef, FieldDef]] = {}  # rel lower → (alias, parent, ref field)
        self.params: list[Any] = []

    def resolve(self, path: Path) -> tuple[FieldDef, str, str | None, ObjectDef | None]:
        """(field, SQL expression, relationship name or None, parent object or None)."""
        parts = path.parts
        if len(parts) > 1 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]  # SOQL allows qualifying with the object's own name
        if len(parts) == 1:
            f = self.obj.field(parts[0])
            if f is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    framed(
                        self.sel.query,
                        path.pos,
                        f"No such column '{parts[0]}' on entity '{self.obj.name}'. {_CUSTOM_HINT}",
                    ),
                )
            return f, f"t.{_q(f.name)}", None, None
        if len(parts) == 2:
            ref = self.obj.relationship(parts[0])
            if ref is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    framed(
                        self.sel.query,
                        path.pos,
                        f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting "
                        "to use a custom relationship, be sure to append the '__r' after the custom "
                        "relationship name. Please reference your WSDL or the describe call for the "
                        "appropriate names.",
                    ),
                )
            parent = self.objects[ref.reference_to[0].lower()]
            f = parent.field(parts[1])
            if f is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    framed(
                        self.sel.query,
                        path.pos,
                        f"No such column '{parts[1]}' on entity '{parent.name}'. {_CUSTOM_HINT}",
                    ),
                )
            rel = ref.relationship_name or parts[0]
            key = rel.lower()
            if key not in self.joins:
                self.joins[key] = (f"p{len(self.joins)}", parent, ref)
            alias = self.joins[key][0]
            return f, f"{alias}.{_q(f.name)}", rel, parent
        raise SoqlError(
            "INVALID_FIELD",
            framed(
                self.sel.query,
                path.pos,
                f"No such column '{path.text}' on entity '{self.obj.name}'. {_CUSTOM_HINT}",
            ),
        )

    # -- WHERE -------------------------------------------------------------------------

    def expr(self, e: Expr) -> str:
        if isinstance(e, Not):
            return f"NOT ({self.expr(e.item)})"
        if isinstance(e, Compare):
            return self.compare(e)
        joiner = f" {e.op} "
        return "(" + joiner.join(f"({self.expr(i)})" for i in e.items) + ")"

    def coerce(self, f: FieldDef, lit: Literal) -> Any:
        """A literal as the stored representation of ``f``'s type, or INVALID_FIELD."""
        t = f.type
        if t == "datetime" and lit.kind == "datetime":
            assert isinstance(lit.value, datetime)
            return dt_to_ms(lit.value)
        if t == "date" and lit.kind == "date":
            assert isinstance(lit.value, date)
            return lit.value.isoformat()
        if t == "boolean" and lit.kind == "bool":
            return int(bool(lit.value))
        if t in ("double", "currency", "percent", "int") and lit.kind == "number":
            return lit.value
        if t in ("id", "reference") and lit.kind == "string":
            return normalize_id(str(lit.value)) or lit.value
        if (t in TEXT_TYPES) and lit.kind == "string":
            return lit.value
        wanted = {
            "datetime": "dateTime",
            "date": "date",
            "boolean": "boolean",
            "double": "number",
            "currency": "number",
            "percent": "number",
            "int": "number",
        }.get(t, "string")
        hint = "should be enclosed in quotes" if wanted == "string" else "should not be enclosed in quotes"
        raise SoqlError(
            "INVALID_FIELD",
            framed(
                self.sel.query,
                lit.pos,
                f"value of filter criterion for field '{f.name}' must be of type {wanted} and {hint}",
            ),
        )

    def compare(self, c: Compare) -> str:
        f, col, _rel, _parent = self.resolve(c.path)
        if not f.filterable:
            raise SoqlError(
                "INVALID_FIELD",
                framed(self.sel.query, c.path.pos, f"field '{f.name}' can not be filtered in a query call"),
            )
        collate = " COLLATE NOCASE" if f.type in TEXT_TYPES else ""
        if isinstance(c.value, SemiJoin):
            return self.semi_join(f, col, c)
        if c.op in ("IN", "NOT IN"):
            assert isinstance(c.value, tuple)
            values = [v for v in c.value if v.kind != "null"]
            has_null = len(values) != len(c.value)
            placeholders = ", ".join("?" for _ in values)
            self.params.extend(self.coerce(f, v) for v in values)
            if c.op == "IN":
                parts = [f"{col}{collate} IN ({placeholders})"] if values else []
                if has_null:
                    parts.append(f"{col} IS NULL")
                return " OR ".join(parts) or "0"
            inner = f"{col}{collate} NOT IN ({placeholders})" if values else "1"
            if has_null:
                return f"{col} IS NOT NULL AND {inner}"
            return f"{col} IS NULL OR {inner}"
        assert isinstance(c.value, Literal)
        lit = c.value
        if c.op == "LIKE":
            if f.type not in TEXT_TYPES and f.type not in ("id", "reference"):
                raise SoqlError(
                    "INVALID_FIELD",
                    framed(self.sel.query, c.path.pos, f"invalid operator on {f.type} field: LIKE"),
                )
            self.params.append(lit.like)
            return f"{col} LIKE ? ESCAPE '\\'"
        if lit.kind == "null":
            if c.op == "=":
                return f"{col} IS NULL"
            if c.op == "!=":
                return f"{col} IS NOT NULL"
            return "0"  # null never orders against anything
        value = self.coerce(f, lit)
        if f.type == "boolean" and c.op not in ("=", "!="):
            raise SoqlError(
                "INVALID_FIELD",
                framed(self.sel.query, c.path.pos, f"invalid operator on boolean field: {c.op}"),
            )
        self.params.append(value)
        if c.op == "=":
            return f"{col} = ?{collate}"
        if c.op == "!=":
            return f"{col} IS NOT ?{collate}"
        return f"{col} {c.op} ?{collate}"

    def semi_join(self, f: FieldDef, col: str, c: Compare) -> str:
        """``col IN (SELECT …)`` as a SQL sub-select: both sides ids or references
        (semi-joins: SOQL comparison operators, issue-14-wire-facts §4)."""
        assert isinstance(c.value, SemiJoin)
        inner = _Compiler(c.value.select, self.objects)
        inner_field, inner_col, _rel, _parent = inner.resolve(c.value.select.fields[0])
        for side, path in ((f, c.path), (inner_field, c.value.select.fields[0])):
            if side.type not in ("id", "reference"):
                text = (f"The selected field '{path.text}' in the subquery and the left operand field in "
                        "the where expression in the outer query must point to the same object type")
                raise SoqlError("INVALID_FIELD", framed(self.sel.query, path.pos, text))
        where = inner.expr(c.value.select.where) if c.value.select.where is not None else "1"
        joins = "".join(f' LEFT JOIN {_q(parent.name)} {alias} ON {alias}."Id" = t.{_q(ref.name)}'
                        for alias, parent, ref in inner.joins.values())
        self.params.extend(inner.params)
        sub = f"SELECT {inner_col} AS semi FROM {_q(inner.obj.name)} t{joins} WHERE {where}"
        if c.op == "IN":
            return f"{col} IN ({sub})"
        return f"({col} IS NULL OR {col} NOT IN (SELECT semi FROM ({sub}) WHERE semi IS NOT NULL))"

    # -- the whole statement ------------------------------------------------------------

    def compile(self) -> Compiled:
        sel = self.sel
        columns: list[Column] = []
        seen: set[str] = set()
        for path in sel.fields:
            f, col, rel, parent = self.resolve(path)
            key = f"{rel or ''}.{f.name}".lower()
            if key in seen:
                raise SoqlError(
                    "MALFORMED_QUERY", framed(sel.query, path.pos, f"duplicate field selected: {path.text}")
                )
            seen.add(key)
            columns.append(Column(f, rel, parent, col))
        where = self.expr(sel.where) if sel.where is not None else ""
        order_sql: list[str] = []
        for item in sel.order:
            f, col, _rel, _parent = self.resolve(item.path)
            if not f.sortable:
                raise SoqlError(
                    "INVALID_FIELD",
                    framed(sel.query, item.path.pos, f"field '{f.name}' can not be sorted in a query call"),
                )
            term = col + (" COLLATE NOCASE" if f.type in TEXT_TYPES else "")
            term += " DESC" if item.descending else " ASC"
            if item.nulls_first is not None:
                term += " NULLS FIRST" if item.nulls_first else " NULLS LAST"
            order_sql.append(term)
        select_sql = ['t."Id"'] + [c.sql for c in columns]
        parent_id_index: dict[str, int] = {}
        for rel_key, (alias, _parent, ref) in self.joins.items():
            rel_name = ref.relationship_name or rel_key
            parent_id_index[rel_name] = len(select_sql)
            select_sql.append(f'{alias}."Id"')
        from_sql = f"FROM {_q(self.obj.name)} t" + "".join(
            f' LEFT JOIN {_q(parent.name)} {alias} ON {alias}."Id" = t.{_q(ref.name)}'
            for alias, parent, ref in self.joins.values()
        )
        where_sql = f" WHERE {where}" if where else ""
        base = f"{from_sql}{where_sql}"
        sql = f"SELECT {', '.join(select_sql)} {base}"
        if order_sql:
            sql += " ORDER BY " + ", ".join(order_sql)
        if sel.limit is not None:
            sql += f" LIMIT {int(sel.limit)}"
        count_sql = f"SELECT COUNT(*) {base}"
        children = [self.child(c) for c in sel.children]
        return Compiled(
            self.obj, sql, list(self.params), count_sql, columns, parent_id_index, sel.count_only, sel.limit,
            children,
        )

    def child(self, sub: Select) -> tuple[str, Compiled]:
        """A parent-to-child subquery as a query on the child object, filtered by the field
        whose child relationship it names (the parent id comes with `Compiled.bind`)."""
        for obj in self.objects.values():
            for f in obj.fields:
                if (f.child_relationship and f.child_relationship.lower() == sub.object_name.lower()
                        and self.obj.name in f.reference_to):
                    pos = sub.object_pos
                    link = Compare(Path((f.name,), pos), "=", Literal("string", PARENT, pos))
                    where: Expr = link if sub.where is None else BoolOp("AND", (link, sub.where))
                    child_sel = replace(sub, object_name=obj.name, where=where)
                    return f.child_relationship, _Compiler(child_sel, self.objects).compile()
        raise SoqlError(
            "INVALID_TYPE",
            framed(self.sel.query, sub.object_pos,
                   f"Didn't understand relationship '{sub.object_name}' in FROM part of query call. If you "
                   "are attempting to use a custom relationship, be sure to append the '__r' after the "
                   "custom relationship name. Please reference your WSDL or the describe call for the "
                   "appropriate names."),
        )


def compile_select(sel: Select, objects: dict[str, ObjectDef]) -> Compiled:
    """Resolve names (INVALID_TYPE / INVALID_FIELD) and build the SQL for ``sel``.

    ``objects`` maps lower-cased object names to their definitions."""
    return _Compiler(sel, objects).compile()
