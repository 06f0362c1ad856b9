"""Org variables of the Zoho half: ``/crm/v8/settings/variables[/{id|api_name}]``.

Wire facts (docs/design/issue-14-wire-facts.md §11, from
https://zoho.com/crm/developer/docs/api/v8/create-variables.html and the v7 get/create/update
variable pages):

- ``GET /settings/variables`` lists all (``{"variables": [...]}``; 204 when none);
  ``GET /settings/variables/{id|api_name}?group={id|api_name}``: the group is mandatory;
- ``POST`` creates (``name``, ``api_name``, ``variable_group`` ``{id}``/``{name}``/``{api_name}``
  mandatory; ``type`` one of Zoho's variable types); a name or api_name taken →
  ``DUPLICATE_DATA``; a bad ``type`` → ``PATTERN_NOT_MATCHED``;
- ``PUT /settings/variables`` (entries with ``id``) or ``PUT /settings/variables/{id|api_name}``
  updates; ``DELETE /settings/variables/{id}`` or ``?ids=`` deletes;
- an item reads ``{api_name, name, description, id, type, variable_group: {api_name, id}, value}``.
Choices of the sandbox (not in the docs): the org has one group, ``General``; create
answers 201, update and delete 200, mixed 207, all refused 400; a text value is at most
255 characters; an unknown id is ``INVALID_DATA`` "the id given seems to be invalid".
"""

from __future__ import annotations

import json
from typing import Any

from presales_sync.sandbox.core._http import Reply, Request
from presales_sync.sandbox.zoho._seed import ZBASE
from presales_sync.sandbox.zoho._store import ZohoStore
from presales_sync.sandbox.zoho._wire import EntryError, ZohoError

GENERAL = {"api_name": "General", "name": "General", "id": str(ZBASE + 3_000_000_001)}
TYPES = (
    "integer",
    "text",
    "percent",
    "decimal",
    "currency",
    "date",
    "datetime",
    "email",
    "phone",
    "url",
    "checkbox",
    "textarea",
    "long",
)
TEXT_LIMIT = 255


def _group(ref: Any) -> dict[str, str] | None:
    if isinstance(ref, dict):
        ref = ref.get("id") or ref.get("api_name") or ref.get("name")
    if isinstance(ref, str) and ref.lower() in (GENERAL["id"], "general"):
        return GENERAL
    return None


def _check_value(kind: str, value: Any, path: str) -> Any:
    where = {"api_name": "value", "json_path": f"{path}.value"}
    if value is None:
        return None
    if kind in ("text", "textarea", "email", "phone", "url", "date", "datetime"):
        if not isinstance(value, str):
            raise EntryError("INVALID_DATA", "invalid data", {**where, "expected_data_type": kind})
        if kind == "text" and len(value) > TEXT_LIMIT:
            raise EntryError("INVALID_DATA", "invalid data", {**where, "maximum_length": TEXT_LIMIT})
        return value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if (kind == "checkbox" and not isinstance(value, bool)) or (kind != "checkbox" and not numeric):
        raise EntryError("INVALID_DATA", "invalid data", {**where, "expected_data_type": kind})
    return value


def _item(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "api_name": doc["api_name"],
        "name": doc["name"],
        "description": doc.get("description"),
        "id": doc["id"],
        "type": doc["type"],
        "variable_group": {"api_name": GENERAL["api_name"], "id": GENERAL["id"]},
        "value": doc.get("value"),
    }


def _ok(doc_id: str, message: str) -> dict[str, Any]:
    return {"code": "SUCCESS", "details": {"id": doc_id}, "message": message, "status": "success"}


def _status(results: list[dict[str, Any]], ok: int) -> int:
    if all(r["status"] == "success" for r in results):
        return ok
    return 400 if all(r["status"] == "error" for r in results) else 207


def _entries(req: Request) -> list[Any]:
    try:
        body = json.loads(req.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ZohoError(400, "INVALID_DATA", "body", {}) from None
    items = body.get("variables") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ZohoError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "variables", "json_path": "$.variables"},
        )
    return items


class Variables:
    """The variables API over the store's ``variables`` table."""

    def __init__(self, store: ZohoStore) -> None:
        self.store = store

    def handle(self, req: Request, rest: list[str], q: dict[str, str]) -> Reply:
        if len(rest) > 1:
            raise ZohoError(
                404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
            )
        key = rest[0] if rest else None
        if req.method == "GET":
            return self._get(key, q)
        if req.method == "POST" and key is None:
            return self._create(req)
        if req.method == "PUT":
            return self._update(req, key)
        if req.method == "DELETE":
            ids = [key] if key else [i for i in q.get("ids", "").split(",") if i]
            if not ids:
                raise ZohoError(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    {"param_name": "ids", "param": ""},
                )
            return self._delete(ids)
        raise ZohoError(400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one")

    def _docs(self) -> list[dict[str, Any]]:
        with self.store.reader() as db:
            return self.store.variable_documents(db)

    @staticmethod
    def _find(docs: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
        return next((d for d in docs if d["id"] == key or d["api_name"].lower() == key.lower()), None)

    def _get(self, key: str | None, q: dict[str, str]) -> Reply:
        docs = self._docs()
        if key is None:
            if "group" in q and _group(q["group"]) is None:
                raise ZohoError(
                    400, "INVALID_DATA", "invalid data", {"param_name": "group", "param": q["group"]}
                )
            return Reply(200, {"variables": [_item(d) for d in docs]}) if docs else Reply(204)
        if not q.get("group"):
            raise ZohoError(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "group", "param": ""},
            )
        if _group(q["group"]) is None:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "group", "param": q["group"]})
        doc = self._find(docs, key)
        if doc is None:
            raise ZohoError(
                400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 3}
            )
        return Reply(200, {"variables": [_item(doc)]})

    def _create(self, req: Request) -> Reply:
        items = _entries(req)
        results: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            docs = self.store.variable_documents(db)
            for i, item in enumerate(items):
                path = f"$.variables[{i}]"
                try:
                    doc = self._new(item, path, docs)
                except EntryError as e:
                    results.append(e.body)
                    continue
                doc["id"] = self.store.next_id(db)
                self.store.put_variable(db, doc)
                docs.append(doc)
                results.append(_ok(doc["id"], "variable added"))
        return Reply(_status(results, 201), {"variables": results})

    @staticmethod
    def _new(item: Any, path: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise EntryError("INVALID_DATA", "invalid data", {"api_name": "variables", "json_path": path})
        for key in ("name", "api_name", "variable_group", "type"):
            if item.get(key) in (None, ""):
                raise EntryError(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": key, "json_path": f"{path}.{key}"},
                )
        for key in ("name", "api_name"):
            if not isinstance(item[key], str):
                raise EntryError(
                    "INVALID_DATA", "invalid data", {"api_name": key, "json_path": f"{path}.{key}"}
                )
            if any(d[key].lower() == item[key].lower() for d in docs):
                raise EntryError(
                    "DUPLICATE_DATA", "duplicate data", {"api_name": key, "json_path": f"{path}.{key}"}
                )
        if _group(item["variable_group"]) is None:
            raise EntryError(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "variable_group", "json_path": f"{path}.variable_group"},
            )
        if item["type"] not in TYPES:
            raise EntryError(
                "PATTERN_NOT_MATCHED",
                "Please check whether the input values are correct",
                {"api_name": "type", "json_path": f"{path}.type"},
            )
        value = _check_value(item["type"], item.get("value"), path)
        return {
            "name": item["name"],
            "api_name": item["api_name"],
            "type": item["type"],
            "value": value,
            "description": item.get("description"),
        }

    def _update(self, req: Request, key: str | None) -> Reply:
        items = _entries(req)
        results: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            docs = self.store.variable_documents(db)
            for i, item in enumerate(items):
                path = f"$.variables[{i}]"
                try:
                    if not isinstance(item, dict):
                        raise EntryError(
                            "INVALID_DATA", "invalid data", {"api_name": "variables", "json_path": path}
                        )
                    ref = key if key is not None else item.get("id")
                    doc = self._find(docs, ref) if isinstance(ref, str) else None
                    if doc is None:
                        raise EntryError(
                            "INVALID_DATA",
                            "the id given seems to be invalid",
                            {"api_name": "id", "json_path": f"{path}.id"},
                        )
                    for name in ("name", "api_name"):
                        if name in item and any(
                            d is not doc and d[name].lower() == str(item[name]).lower() for d in docs
                        ):
                            raise EntryError(
                                "DUPLICATE_DATA",
                                "duplicate data",
                                {"api_name": name, "json_path": f"{path}.{name}"},
                            )
                    if "value" in item:
                        doc["value"] = _check_value(doc["type"], item["value"], path)
                    for name in ("name", "api_name", "description"):
                        if name in item:
                            doc[name] = item[name]
                except EntryError as e:
                    results.append(e.body)
                    continue
                self.store.put_variable(db, doc)
                results.append(_ok(doc["id"], "variable updated"))
        return Reply(_status(results, 200), {"variables": results})

    def _delete(self, ids: list[str]) -> Reply:
        results: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            docs = self.store.variable_documents(db)
            for rid in ids:
                doc = self._find(docs, rid)
                if doc is None:
                    results.append(
                        {
                            "code": "INVALID_DATA",
                            "details": {"id": rid},
                            "message": "the id given seems to be invalid",
                            "status": "error",
                        }
                    )
                    continue
                self.store.drop_variable(db, doc["id"])
                results.append(_ok(doc["id"], "variable deleted"))
        return Reply(_status(results, 200), {"variables": results})
