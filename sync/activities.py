"""`presales activities import FILE.csv`: the knowledge and learning facts of the scorecard
(documents, trainings, sharing sessions, certifications, skill improvements).

Columns: engineer (CRM user id or roster name), date (YYYY-MM-DD), kind, title, evidence
(a link; may be empty). Every row is checked before anything is stored; one bad row
refuses the whole file with an error per bad row naming its line and column, so a file is
never half imported. Importing the same file again adds nothing."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from presales_sync.mappings import FileProblems, Problem
from presales_sync.rules.kpi import ACTIVITY_METRIC
from presales_sync.rules.model import Engineer
from presales_sync.sync import config as config_mod
from presales_sync.sync.service import open_store
from presales_sync.sync.store import ActivityRow

COLUMNS = ("engineer", "date", "kind", "title", "evidence")
_REQUIRED = COLUMNS[:4]


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    added: int

    @property
    def already_present(self) -> int:
        return self.rows - self.added


def parse_activities(path: Path, engineers: dict[str, Engineer]) -> list[ActivityRow]:
    """The file's rows as activities, or FileProblems with one problem per bad cell."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileProblems([Problem(str(path), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise FileProblems([Problem(str(path), None, "", f"cannot read as UTF-8 CSV: {err}")]) from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise FileProblems([Problem(str(path), 1, "header", f"missing column(s) {', '.join(missing)}; "
                                                            f"expected {', '.join(COLUMNS)}")])
    reader.fieldnames = header
    by_name = {e.name.casefold(): e.crm_user_id for e in engineers.values()}
    rows: list[ActivityRow] = []
    problems: list[Problem] = []
    for line, raw in enumerate(reader, start=2):
        cell = {k: (v or "").strip() for k, v in raw.items() if k is not None}

        def bad(column: str, message: str, line: int = line) -> None:
            problems.append(Problem(str(path), line, f"column {column}", message))

        who = cell.get("engineer", "")
        engineer = who if who in engineers else by_name.get(who.casefold())
        if engineer is None:
            bad("engineer", f"'{who}' is not an engineer of the roster (use the CRM user id or the name)")
        day: date | None = None
        try:
            day = datetime.strptime(cell.get("date", ""), "%Y-%m-%d").date()
        except ValueError:
            bad("date", f"'{cell.get('date', '')}' is not a date; write YYYY-MM-DD")
        kind = cell.get("kind", "").lower()
        if kind not in ACTIVITY_METRIC:
            bad("kind", f"'{cell.get('kind', '')}' is not a kind; use one of {', '.join(ACTIVITY_METRIC)}")
        title = cell.get("title", "")
        if not title or len(title) > 255:
            bad("title", "must not be empty" if not title else "longer than 255 characters")
        evidence = cell.get("evidence") or None
        if evidence is not None and not evidence.startswith(("https://", "http://")):
            bad("evidence", "must be a link (https://...) or empty")
        if engineer is not None and day is not None and not problems:
            rows.append(ActivityRow(engineer, day, kind, title, evidence))
    if problems:
        raise FileProblems(problems)
    return rows


def import_activities(config_path: Path, csv_path: Path, *, now: datetime) -> ImportResult:
    """Check the whole file, then store its new rows in one transaction."""
    loaded = config_mod.load(config_path)
    rows = parse_activities(csv_path, loaded.engineers)
    store = open_store(loaded)
    try:
        with store.begin() as conn:
            added = store.add_activities(conn, rows, now)
    finally:
        store.close()
    return ImportResult(rows=len(rows), added=added)


__all__ = ["COLUMNS", "ImportResult", "import_activities", "parse_activities"]
