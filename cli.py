"""The `presales` command: parse arguments, load config, call one function of sync/, print.

Exit codes (ARCHITECTURE.md): 0 done; 1 done but some records failed and wait for retry;
2 bad usage or configuration; 3 the CRM could not be reached or refused us; 4 another run
holds the lock.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from presales_sync.sync.logfmt import JsonLines, LogFormat
from presales_sync.sync.logfmt import configure as configure_logging

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_CRM, EXIT_LOCKED = 0, 1, 2, 3, 4

app = typer.Typer(help="Presales management inside your CRM: sync, workflow, SLA, KPI.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
sandbox_app = typer.Typer(help="The local HTTPS CRM emulator used by the demo and the tests.",
                          no_args_is_help=True)
task_app = typer.Typer(help="Look at presales tasks.", no_args_is_help=True)
mappings_app = typer.Typer(help="Check or start the field mapping against the live CRM schema.",
                           no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(mappings_app, name="mappings")
app.add_typer(task_app, name="task")
activities_app = typer.Typer(help="Knowledge and learning facts for the KPI scorecard.", no_args_is_help=True)
app.add_typer(activities_app, name="activities")

# Under cron or a pipe there is no terminal width: keep tables on one line per row.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
# soft_wrap: an error or progress line stays one line in a cron log, however long
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


class _State:
    config: Path = Path("presales.yaml")
    json: bool = False
    verbose: int = 0


state = _State()


@app.callback()
def _global(
    config: Annotated[Path | None, typer.Option("--config", "-c", envvar="PRESALES_CONFIG",
                                                help="Config file (default ./presales.yaml).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", envvar="PRESALES_LOG_FORMAT",
        help="stderr as plain text, or one JSON object per line for log collectors.")] = "text",
) -> None:
    global err
    state.config = config or Path("presales.yaml")
    state.json = as_json
    state.verbose = -1 if quiet else verbose
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    redact = configure_logging(log_format, level, os.environ)
    if log_format == "json":
        err = JsonLines(redact)  # type: ignore[assignment]


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    return str(o)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False) + "\n")


@contextmanager
def _exit_codes() -> Iterator[None]:
    """Turn the errors of every layer into one clear line and the contract's exit code."""
    from presales_sync.connector.errors import (
        AuthError,
        ConfigError,
        ConnectorError,
        LimitExceededError,
        RetryableError,
    )
    from presales_sync.mappings import FileProblems
    from presales_sync.sync.store import LockHeld, StoreError, StoreUnavailable

    try:
        yield
    except FileProblems as e:
        for p in e.problems:
            err.print(f"[red]error[/red] {p}", markup=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except StoreUnavailable as e:  # disk full, server gone: rolled back, the next run resumes
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(EXIT_CRM) from None
    except (StoreError, ConfigError) as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    except LockHeld as e:
        err.print(f"error: {e}; not starting a second run", markup=False)
        raise typer.Exit(EXIT_LOCKED) from None
    except (AuthError, LimitExceededError, RetryableError) as e:
        err.print(f"error: the CRM could not be reached or refused the request: {e}", markup=False)
        raise typer.Exit(EXIT_CRM) from None
    except ConnectorError as e:
        err.print(f"error: CRM error: {e}", markup=False)
        raise typer.Exit(EXIT_CRM) from None


def _progress() -> tuple[Callable[[str, int], None], Callable[[], None]]:
    """A live counter on a terminal; a plain line per 10 pages under cron."""
    totals: dict[str, int] = {}
    pages = {"n": 0}
    if state.json or state.verbose < 0:
        return (lambda _s, _n: None), (lambda: None)
    if err.is_terminal:
        status = err.status("syncing…")
        status.start()

        def tick(stage: str, n: int) -> None:
            totals[stage] = totals.get(stage, 0) + n
            status.update(" · ".join(f"{k}: {v}" for k, v in totals.items()))
        return tick, status.stop

    def line(stage: str, n: int) -> None:
        totals[stage] = totals.get(stage, 0) + n
        pages["n"] += 1
        if pages["n"] % 10 == 0:
            err.print(f"progress: {stage} {totals[stage]}", markup=False)
    return line, lambda: None


@app.command()
def sync(
    full: Annotated[bool, typer.Option("--full", help="Re-read every opportunity.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the field diff; write nothing.")] = False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Also re-read the quarantined records (`presales status`) by id.")] = False,
    take_over: Annotated[bool, typer.Option(
        "--take-over", help="Make this store the org's, when the org's marker names another one "
                            "(that store is gone for good).")] = False,
) -> None:
    """Pull changed opportunities and new action records, apply the presales rules, write the
    fields, the actions' outcomes and the audit trail back.

    Exit 0: done; 1: done, but some records were quarantined or failed to write (they are
    retried: writes on the next run, quarantined reads with --retry-failed), or the API budget
    stopped the run early (the next run resumes); 2: the org is synced from another store
    (see --take-over), or the config is wrong."""
    from presales_sync.sync.service import sync_once

    tick, done = _progress()
    with _exit_codes():
        try:
            report = sync_once(state.config, os.environ, full=full, dry_run=dry_run, progress=tick,
                               retry_failed=retry_failed, take_over=take_over)
        finally:
            done()
    if state.json:
        _print_json(report.as_dict())
    else:
        if dry_run:
            _print_diff(report)
        c = report.counts
        out.print(f"{'dry run: ' if dry_run else ''}read {c['read']} records, "
                  f"{c['tasks_created']} tasks created, {c['assigned']} assigned, "
                  f"{c['commands_applied']} actions applied, {c['commands_rejected']} refused, "
                  + (f"{c['rebuilt_tasks']} tasks rebuilt from the CRM, " if c['rebuilt_tasks'] else "") +
                  f"{c['events_written'] if not dry_run else c['events_to_write']} event records "
                  f"{'written' if not dry_run else 'to write'}, "
                  f"{c['written'] if not dry_run else c['records_to_write']} records "
                  f"{'written' if not dry_run else 'to write'}, {len(report.failures)} failed; "
                  f"API calls: {sum(report.api_calls.values())}")
        for rec, code, msg in report.failures:
            err.print(f"failed: {rec}: {code} {msg}", markup=False)
        if report.stopped:
            err.print(f"stopped early: {report.stopped}", markup=False)
    raise typer.Exit(report.exit_code)


def _print_diff(report: Any) -> None:
    table = Table(title="Field changes that would be written", show_lines=False)
    for col in ("record", "name", "field", "CRM value", "new value"):
        table.add_column(col)
    for ch in report.changes:
        table.add_row(ch.record_id, str(ch.name)[:40], ch.field,
                      "∅" if ch.old is None else str(ch.old), "∅" if ch.new is None else str(ch.new))
    out.print(table)
    more = report.counts.get("field_changes", 0) - len(report.changes)
    if more > 0:
        out.print(f"… and {more} more field changes (the first {len(report.changes)} are listed)")


def _parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or date-time (e.g. 2026-11-24T09:00+08:00)",
                                 param_hint="--as-of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def status(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Judge deadlines at this ISO date-time instead of now (UTC without offset).")] = None,
) -> None:
    """Last runs, cursors, records waiting for retry, and overdue / due-soon tasks by engineer
    and manager (for a nightly reminder job: `presales --json status`)."""
    from presales_sync.sync.service import status as get_status

    now = _parse_as_of(as_of)
    with _exit_codes():
        data = get_status(state.config, now=now)
    if state.json:
        _print_json(data)
        return
    runs = Table(title="Last runs")
    for col in ("id", "kind", "started", "exit", "dry run", "counts", "API calls", "error"):
        runs.add_column(col)
    for r in data["runs"]:
        runs.add_row(str(r["id"]), r["kind"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                     str(r["exit_code"]), "yes" if r["dry_run"] else "",
                     ", ".join(f"{k}={v}" for k, v in (r["counts"] or {}).items() if v),
                     str(sum((r["api_calls"] or {}).values())), r["error"] or "")
    out.print(runs)
    for c in data["cursors"]:
        out.print(f"cursor {c['profile']}/{c['object']}: {c['stamp'].isoformat()}")
    out.print(f"tasks: {data['tasks']}; waiting for retry: {len(data['waiting_for_retry'])}")
    for f in data["waiting_for_retry"]:
        out.print(f"  {f['record_id']}: {f['error_code']} {f['message']} (attempts {f['attempts']})")
    _print_escalations(data["escalations"])


def _print_escalations(esc: dict[str, Any]) -> None:
    out.print(f"escalations as of {esc['as_of']}: {esc['overdue']} overdue, {esc['due_soon']} due soon")
    if not esc["items"]:
        return
    table = Table(title="Overdue and due-soon tasks by engineer")
    for col in ("engineer", "managers", "opportunity", "step", "light", "reason", "due"):
        table.add_column(col)
    items = sorted(esc["items"],
                   key=lambda i: (i["engineer"] or "", i["health"] != "Red", i["opportunity_id"]))
    for i in items:
        table.add_row(i["engineer"] or i["engineer_id"] or "(unassigned)", ", ".join(i["managers"]),
                      f"{i['opportunity_id']} {str(i['opportunity'] or '')[:30]}", i["step"], i["health"],
                      i["reason"], i["due_date"] or "")
    out.print(table)


@task_app.command("list")
def task_list(
    engineer: Annotated[str | None, typer.Option(help="Only this engineer (CRM user id or name).")] = None,
    step: Annotated[str | None, typer.Option(help="Only tasks at this step.")] = None,
) -> None:
    """Tasks with their engineer, step and status."""
    from presales_sync.sync.service import tasks

    with _exit_codes():
        rows = tasks(state.config)
    rows = [r for r in rows if (engineer is None or engineer in (r["engineer_id"], r["engineer"]))
            and (step is None or r["step"] == step)]
    if state.json:
        _print_json([{**{k: v for k, v in r.items() if k != "events"}, "event_count": len(r["events"])}
                     for r in rows])
        return
    table = Table(title=f"{len(rows)} tasks")
    for col in ("opportunity", "name", "engineer", "step", "status", "reworks", "message"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["opportunity_id"], str(r["opportunity"])[:40], r["engineer"] or "-",
                      r["step"], r["status"], str(r["rework_count"]), r["message"] or "")
    out.print(table)


@task_app.command("show")
def task_show(opportunity_id: Annotated[str, typer.Argument(help="The opportunity's CRM id.")]) -> None:
    """One task and its full history of events."""
    from presales_sync.sync.service import tasks

    with _exit_codes():
        rows = [r for r in tasks(state.config) if r["opportunity_id"] == opportunity_id]
    if not rows:
        err.print(f"error: no task for opportunity {opportunity_id}", markup=False)
        raise typer.Exit(EXIT_CONFIG)
    r = rows[0]
    if state.json:
        _print_json(r)
        return
    out.print(f"{r['opportunity_id']} {r['opportunity']} ({r['account']}): {r['step']} / {r['status']}, "
              f"engineer {r['engineer'] or '-'}, reworks {r['rework_count']}")
    table = Table(title="events")
    for col in ("at", "event", "actor", "from", "to", "outcome", "note"):
        table.add_column(col)
    for e in r["events"]:
        table.add_row(e["at"][:19], e["kind"], e["actor"], f"{e['from_step'] or ''} {e['from_status'] or ''}",
                      f"{e['to_step'] or ''} {e['to_status'] or ''}", e["outcome"] or "", e["note"] or "")
    out.print(table)


@app.command()
def install(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show changes; make none.")] = False,
    grant_to: Annotated[list[str] | None, typer.Option(
        "--grant-to", help="Also give this CRM user id access (repeatable), e.g. sales users.")] = None,
) -> None:
    """Create the plugin's custom objects (the action records people sign off with, the org
    marker) and create or update its custom fields in the CRM, and grant access to them
    (permission set Presales_Sync) to the integration user, the roster's engineers and
    managers, and --grant-to users. Running it again changes nothing."""
    from presales_sync.sync.service import install as do_install

    with _exit_codes():
        objects, plans = do_install(state.config, os.environ, dry_run=dry_run, grant_to=grant_to or [])
    if state.json:
        _print_json({"dry_run": dry_run,
                     "objects": [{"object": o.spec.name, "kind": o.spec.kind, "parent": o.spec.parent,
                                  "action": o.action} for o in objects],
                     "fields": [
            {"object": p.spec.object_name, "field": p.spec.name, "type": p.spec.type,
             "action": p.action, "differences": list(p.differences)} for p in plans]})
        return
    if objects:
        objs = Table(title=("Would change" if dry_run else "Installed") + " plugin objects")
        for col in ("object", "kind", "parent", "action"):
            objs.add_column(col)
        for o in objects:
            objs.add_row(o.spec.name, o.spec.kind, o.spec.parent or "", o.action)
        out.print(objs)
    table = Table(title=("Would change" if dry_run else "Installed") + " plugin fields")
    for col in ("object", "field", "type", "action", "differences"):
        table.add_column(col)
    for p in plans:
        table.add_row(p.spec.object_name, p.spec.name, p.spec.type, p.action, "; ".join(p.differences))
    out.print(table)
    changed = sum(1 for p in plans if p.action != "unchanged")
    out.print(f"{changed} field(s) {'to create or update' if dry_run else 'created or updated'}, "
              f"{len(plans) - changed} unchanged", markup=False)


@app.command()
def uninstall(
    yes: Annotated[bool, typer.Option("--yes", help="Don't ask (for scripts).")] = False,
) -> None:
    """Delete the plugin's custom objects and fields from the CRM, with the data they hold
    (the action records too)."""
    from presales_sync.sync.service import uninstall as do_uninstall

    if not yes:
        if not sys.stdin.isatty():
            err.print("error: uninstall deletes fields and their data; pass --yes to confirm",
                      markup=False)
            raise typer.Exit(EXIT_CONFIG)
        typer.confirm("Delete the plugin's fields and their data from the CRM?", abort=True)
    with _exit_codes():
        names, manual = do_uninstall(state.config, os.environ)
    if state.json:
        _print_json({"removed": names, "manual_steps": manual})
    else:
        out.print(f"removed {len(names)} fields and objects: " + ", ".join(names), markup=False)
    for step in manual:
        err.print(f"left for you: {step}", markup=False)


@mappings_app.command("validate")
def mappings_validate() -> None:
    """Check every mapped field against the CRM's describe: exists and visible, type,
    updateable, restricted picklist values. Exit 2 when something is wrong."""
    from presales_sync.sync.service import validate_mapping

    with _exit_codes():
        findings = validate_mapping(state.config, os.environ)
    bad = [f for f in findings if not f.ok]
    if state.json:
        _print_json({"ok": not bad, "findings": [asdict(f) for f in findings]})
    else:
        table = Table(title="Mapping against the live schema")
        for col in ("direction", "domain", "CRM field", "", "detail"):
            table.add_column(col)
        for f in findings:
            table.add_row(f.direction, f.name, f.field, "ok" if f.ok else "ERROR", f.detail)
        out.print(table)
        out.print(f"{len(findings) - len(bad)} fields ok, {len(bad)} with problems", markup=False)
    raise typer.Exit(EXIT_CONFIG if bad else EXIT_OK)


@mappings_app.command("init")
def mappings_init(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the starter mapping.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter mapping from the live schema: standard fields filled in, the
    plugin's fields where the org has them."""
    from presales_sync.sync.service import init_mapping

    if out_file.exists() and not force:
        err.print(f"error: {out_file} exists; pass --force to overwrite it", markup=False)
        raise typer.Exit(EXIT_CONFIG)
    with _exit_codes():
        text, missing = init_mapping(state.config, os.environ)
    out_file.write_text(text, encoding="utf-8")
    if state.json:
        _print_json({"path": str(out_file), "missing_in_org": missing})
        return
    out.print(f"wrote {out_file}", markup=False)
    if missing:
        out.print("not in your org (run `presales install` or map your own): " + ", ".join(missing),
                  markup=False)


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8443,
    seed: Annotated[int, typer.Option(help="Number of opportunities to seed (deterministic).")] = 2000,
    data: Annotated[Path, typer.Option(help="Data directory (SQLite, CA, keys).")] = Path(".sandbox"),
    as_json: Annotated[bool, typer.Option("--json", help="First stdout line: one JSON object.")] = False,
    faults: Annotated[str | None, typer.Option(
        help="Fault plan, e.g. 'rate_limit@composite_sobjects:after=1;server_error:status=503,times=3' "
             "(kinds: rate_limit server_error session_expired lock_row latency lost_response).")] = None,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C."""
    from presales_sync.demo.org_seed import org_seed
    from presales_sync.sandbox import FaultSpecError, Sandbox, describe_banner

    try:
        sb = Sandbox(data_dir=data, port=port, seed=seed, faults=faults, org=org_seed())
    except FaultSpecError as e:
        err.print(f"error: --faults: {e}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        sb.start()
    except OSError as e:
        err.print(f"error: cannot start the sandbox on 127.0.0.1:{port}: {e.strerror or e}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    banner = describe_banner(sb)
    if as_json or state.json:
        _print_json(banner)
    else:
        for k, v in banner.items():
            out.print(f"{k}: {v}", markup=False)
        out.print("export REQUESTS_CA_BUNDLE=" + str(sb.ca_file), markup=False)
    sys.stdout.flush()
    sb.serve_forever()


@app.command()
def demo(
    opportunities: Annotated[int, typer.Option(help="Opportunities to seed.")] = 2000,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path(".demo"),
    crm: Annotated[str, typer.Option(help="The sandbox CRM to run against: salesforce or zoho.")]
        = "salesforce",
) -> None:
    """Start the sandbox, sync through the real connector over HTTPS, print the team table."""
    from presales_sync.demo import CRMS, FLOOR_BATCHES, floor_calls, run_demo

    if crm not in CRMS:
        err.print(f"error: --crm must be one of: {', '.join(CRMS)}", markup=False)
        raise typer.Exit(2)
    say = (lambda _m: None) if state.json else (lambda m: out.print(m, markup=False))
    with _exit_codes():
        result = run_demo(workdir, opportunities=opportunities, say=say, crm=crm)
    reports = [r for _, r in result.runs]
    ours = sum(sum(r.api_calls.values()) for r in reports)
    floor = floor_calls(reports, crm)
    read_batch, write_batch = FLOOR_BATCHES[crm]
    if state.json:
        _print_json({"crm": crm, "by_engineer": result.by_engineer, "api_calls_sandbox": result.api_calls,
                     "api_calls_ours": ours, "floor": floor,
                     "runs": [{"label": lbl, **r.as_dict()} for lbl, r in result.runs],
                     "history": {"syncs": len(result.history),
                                 "tasks_created": sum(r.counts["tasks_created"] for r in result.history),
                                 "tasks_closed": sum(r.counts["tasks_closed"] for r in result.history)},
                     "period": result.period, "scorecards": result.scorecards,
                     "users_written": result.users_written,
                     "report": str(result.report_path) if result.report_path else None})
        return
    steps = ["Requirements", "Solution Design", "Internal Review", "Presentation", "Feedback", "Done"]
    table = Table(title="Presales tasks by engineer and step")
    table.add_column("engineer")
    for s in steps:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right")
    for name in sorted(result.by_engineer):
        counts = result.by_engineer[name]
        table.add_row(name, *[str(counts.get(s, 0) or "") for s in steps], str(sum(counts.values())))
    out.print(table)
    calls = Table(title="API calls, all users")
    calls.add_column("endpoint")
    calls.add_column("calls", justify="right")
    for k, v in sorted(result.api_calls.items()):
        calls.add_row(k, str(v))
    out.print(calls)
    out.print(f"our connector: {ours} API calls over {len(reports)} syncs; floor "
              f"Σ(⌈read/{read_batch}⌉ per object + ⌈written/{write_batch}⌉ per object + the org marker "
              f"before writing) = {floor}; third sync (no change): "
              f"{sum(reports[-1].api_calls.values())} calls, "
              f"{_write_calls(reports[-1].api_calls)} of them writes", markup=False)
    out.print(f"demo files: {result.workdir}", markup=False)
    if result.scorecards:
        _print_scorecards(result.scorecards, f"Team scorecard {result.period} (on each engineer's User)")
    if result.report_path:
        out.print(f"report: {result.report_path}", markup=False)


def _write_calls(api_calls: dict[str, int]) -> int:
    """Record-write calls among a run's API calls (either CRM's endpoint families)."""
    return sum(api_calls.get(k, 0) for k in ("composite_sobjects", "update_records"))


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """ID=VALUE options (repeatable) as a dict; a malformed one is a usage error (exit 2)."""
    out: dict[str, str] = {}
    for v in values or []:
        who, sep, value = v.partition("=")
        if not sep or not who.strip() or not value.strip():
            err.print(f"error: {option} {v!r}: write ENGINEER=VALUE (CRM user id or name)", markup=False)
            raise typer.Exit(EXIT_CONFIG)
        out[who.strip()] = value.strip()
    return out


@app.command()
def score(
    period: Annotated[str, typer.Option("--period", help="A quarter (2026Q4) or a year (2026).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the scores and the User field diff; "
                                                            "store and write nothing.")] = False,
    behaviour: Annotated[list[str] | None, typer.Option(
        "--behaviour", help="ENGINEER=SCORE (0-100): working-behaviour score (kpi behaviour on).")] = None,
    calibrate: Annotated[list[str] | None, typer.Option(
        "--calibrate", help="ENGINEER=BAND: the manager's calibrated rating (kept apart).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why the calibration was made.")] = None,
) -> None:
    """KPI scorecards and ratings for the period, written to each engineer's User record
    (Presales_KPI_Score__c, Presales_Rating__c, Presales_KPI_Period__c); only changes are sent."""
    from presales_sync.sync.scoring import score_period

    marks: dict[str, float] = {}
    for who, v in _pairs(behaviour, "--behaviour").items():
        try:
            marks[who] = float(v)
        except ValueError:
            err.print(f"error: --behaviour {who}={v}: the score must be a number from 0 to 100", markup=False)
            raise typer.Exit(EXIT_CONFIG) from None
    with _exit_codes():
        try:
            report = score_period(state.config, os.environ, period, dry_run=dry_run, behaviour=marks,
                                  calibrate=_pairs(calibrate, "--calibrate"), calibration_note=note)
        except ValueError as e:
            err.print(f"error: {e}", markup=False)
            raise typer.Exit(EXIT_CONFIG) from None
    if state.json:
        _print_json(report.as_dict())
        raise typer.Exit(report.exit_code)
    _print_scorecards(report.as_dict()["scorecards"], f"Team scorecard {report.period}")
    if dry_run:
        table = Table(title="User fields that would be written")
        for col in ("user", "name", "field", "CRM value", "new value"):
            table.add_column(col)
        for ch in report.changes:
            old = "∅" if ch.old is None else str(ch.old)
            table.add_row(ch.record_id, ch.name, ch.field, old, str(ch.new))
        out.print(table)
    out.print(f"{'dry run: ' if dry_run else ''}{len(report.cards)} scorecards; {len(report.changes)} User "
              f"field(s) {'to write' if dry_run else 'changed'}, {report.written} users written, "
              f"{len(report.failures)} failed", markup=False)
    for rec, code, msg in report.failures:
        err.print(f"failed: {rec}: {code} {msg}", markup=False)
    raise typer.Exit(report.exit_code)


def _print_scorecards(cards: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for col in ("#", "engineer", "score", "band", "calibrated", "contribution", "quality", "knowledge",
                "learning"):
        table.add_column(col, justify="right" if col not in ("engineer", "band", "calibrated") else "left")
    for i, c in enumerate(cards, start=1):
        d = c["dimensions"]
        table.add_row(str(i), c["engineer"], f"{c['score']:.1f}", c["band"], c["calibrated_band"] or "",
                      *(f"{d[k]:.1f}" for k in ("contribution", "quality", "knowledge", "learning")))
    out.print(table)


@app.command()
def report(
    period: Annotated[str, typer.Option("--period", help="A quarter (2026Q4) or a year (2026).")],
    html: Annotated[Path | None, typer.Option("--html", help="Write the report as one HTML file.")] = None,
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="Write its tables as CSV files here.")] = None,
) -> None:
    """Team report: leaderboard, scorecards by metric, SLA compliance, first-response trend,
    first-pass and win rates, funnel by step. Reads the store only; writes nothing to the CRM."""
    from datetime import UTC

    from presales_sync.sync.report import report_period, write_csv, write_html

    with _exit_codes():
        try:
            data = report_period(state.config, period, now=datetime.now(UTC))
        except ValueError as e:
            err.print(f"error: {e}", markup=False)
            raise typer.Exit(EXIT_CONFIG) from None
    paths = [str(write_html(data, html))] if html else []
    paths += [str(p) for p in write_csv(data, csv_dir)] if csv_dir else []
    if state.json:
        _print_json({**data.as_dict(), "files": paths})
        return
    _print_scorecards(data.scorecards, f"Team scorecard {data.period}")
    team = data.sla_team
    if team["rate"] is not None:
        out.print(f"first-response SLA: {team['on_time']}/{team['due']} on time ({100 * team['rate']:.0f}%)",
                  markup=False)
    for p in paths:
        out.print(f"wrote {p}", markup=False)


@activities_app.command("import")
def activities_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns engineer, date, kind, title, evidence.")],
) -> None:
    """Load documents, trainings, sharing sessions, certifications and skill improvements.
    Every row is checked first: one bad row refuses the file (exit 2), nothing is half imported;
    rows already imported are skipped."""
    from datetime import UTC

    from presales_sync.sync.activities import import_activities

    with _exit_codes():
        result = import_activities(state.config, file, now=datetime.now(UTC))
    if state.json:
        _print_json({"rows": result.rows, "added": result.added, "already_present": result.already_present})
    else:
        out.print(f"{result.rows} rows: {result.added} added, {result.already_present} already imported",
                  markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
