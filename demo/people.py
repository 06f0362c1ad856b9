"""The demo's people acting in the CRM: a person makes action records (a sign-off, a review,
a reassignment) with their own session, as they would on the deal's related list; and the
demo's clock, which holds the sandbox at the simulated moments of the history.

Field names come from the mapping's `action:` map, so the demo acts on whatever the admin's
mapping names."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from presales_sync.mappings import ObjectMap
from presales_sync.sandbox import Sandbox


@dataclass(frozen=True, slots=True)
class Act:
    """One action a person takes on a deal."""

    opportunity_id: str
    command: str
    note: str | None = None
    new_engineer: str | None = None


class DemoClock:
    """The sandbox's clock: a simulated moment while the history is replayed (records are
    stamped then, as they were when the work happened), the machine's time once released."""

    def __init__(self, start: datetime) -> None:
        self._at: float | None = start.timestamp()

    def now(self) -> float:
        at = self._at
        return time.time() if at is None else at

    def set(self, moment: datetime) -> None:
        if self._at is not None:
            self._at = max(self._at, moment.timestamp())

    def release(self) -> None:
        self._at = None


def act_as(sb: Sandbox, crm: str, user_id: str, actmap: ObjectMap, acts: Sequence[Act]) -> list[str]:
    """`user_id` makes one action record per act (in batches: Salesforce sObject Collections
    of 200, Zoho inserts of 100); the new records' ids. Raises on any refusal."""
    f = {name: fm.field for name, fm in actmap.inbound.items()}
    ids: list[str] = []
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sb.ca_file)
    size = 100 if crm == "zoho" else 200
    for start in range(0, len(acts), size):
        batch = acts[start:start + size]
        rows = [_row(f, a, crm) for a in batch]
        if crm == "zoho":
            resp = session.post(f"{sb.zoho_api_domain}/crm/v8/{actmap.object}", json={"data": rows},
                                timeout=30,
                                headers={"Authorization": f"Zoho-oauthtoken {sb.zoho_token_for(user_id)}"})
            entries = resp.json().get("data", [])
            bad = [e for e in entries if e.get("status") != "success"]
            if resp.status_code >= 400 or bad:
                raise _refused(user_id, resp)
            ids += [e["details"]["id"] for e in entries]
            continue
        body = {"allOrNone": True, "records": [{"attributes": {"type": actmap.object}, **r} for r in rows]}
        resp = session.post(f"{sb.url}/services/data/v66.0/composite/sobjects", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {sb.session_for(user_id)}"})
        results = resp.json() if resp.status_code == 200 else []
        if resp.status_code != 200 or not all(r.get("success") for r in results):
            raise _refused(user_id, resp)
        ids += [r["id"] for r in results]
    return ids


def _refused(user_id: str, resp: requests.Response) -> RuntimeError:
    return RuntimeError(f"{user_id} could not add action records: {resp.status_code} {resp.text[:300]}")


def _row(f: dict[str, str], a: Act, crm: str) -> dict[str, Any]:
    def ref(value: str) -> Any:
        return {"id": value} if crm == "zoho" else value

    row: dict[str, Any] = {f["opportunity_id"]: ref(a.opportunity_id), f["command"]: a.command}
    if a.note:
        row[f["note"]] = a.note
    if a.new_engineer:
        row[f["new_engineer"]] = ref(a.new_engineer)
    return row


__all__ = ["Act", "DemoClock", "act_as"]
