"""Scale benchmark: the real `presales sync` against the sandbox over HTTPS on loopback.

    .venv/bin/python bench/run.py --opps 10000,100000 [--crm salesforce] [--naive 10000]
                                  [--profile 100000] [--markdown bench-results.md]

For each size N it seeds a sandbox (its own process), then times, as subprocesses of this
script: a first full sync, a settle run (it reads back the echo of the first run's writes),
a no-change run, an incremental run with 1% of the opportunities changed and one with 1,000
changed. Per run: wall and CPU time and peak RSS of the sync process (os.wait4), and API
calls per endpoint (the sandbox's own counters) next to the floor the CRM's limits force
(Salesforce REST: ⌈reads/2000⌉ + ⌈writes/200⌉ + fixed; Zoho: ⌈reads/200⌉ + ⌈writes/100⌉ +
fixed; a run that reads nothing still needs one query). `--naive N` scripts the same
write-back the way a user might (simple-salesforce `query_all`, then one
`sf.Opportunity.update` per record) on a fresh org of N and prints the ratio of calls and
time. `--profile N` runs a first sync and a no-change run in-process under cProfile and
reports where the time goes (rules evaluation share included).

Runs bind only to 127.0.0.1; every loop is bounded; sandboxes are stopped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import math
import os
import platform
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from presales_sync.sandbox.salesforce._values import make_id  # noqa: E402
from presales_sync.sandbox.zoho._seed import zoho_id  # noqa: E402

PRESALES = str(Path(sys.executable).parent / "presales")
FLOORS = {"salesforce": (2000, 200), "zoho": (200, 100)}
FIXED_FAMILIES = ("userinfo", "oauth_token", "zoho_token", "zoho_users_get", "zoho_org_get",
                  "zoho_fields_get")


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    rss_mb: float
    calls: dict[str, int]
    counts: dict[str, Any]
    floor: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class SandboxProcess:
    """`presales sandbox serve` in its own process (its CPU and memory are not the sync's)."""

    def __init__(self, data: Path, seed: int) -> None:
        self.data = data
        self.seed = seed
        self.proc: subprocess.Popen[str] | None = None
        self.banner: dict[str, str] = {}
        self.seconds = 0.0

    def __enter__(self) -> SandboxProcess:
        start = time.perf_counter()
        self.proc = subprocess.Popen(
            [PRESALES, "sandbox", "serve", "--port", "0", "--seed", str(self.seed), "--data", str(self.data),
             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"sandbox did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.banner = json.loads(line)
        self.seconds = time.perf_counter() - start
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def url(self) -> str:
        return self.banner["salesforce_url"]

    def http(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.verify = self.banner["ca_file"]
        s.headers["Authorization"] = f"Bearer {self.banner['session_id']}"
        return s

    def stats(self) -> dict[str, int]:
        calls: dict[str, int] = self.http().get(f"{self.url}/_sandbox/stats", timeout=30).json()["calls"]
        return calls

    def reset(self) -> None:
        self.http().post(f"{self.url}/_sandbox/stats/reset", timeout=30).raise_for_status()

    def change_amounts(self, count: int, n: int, rng: random.Random, crm: str) -> None:
        """A sales team edits `count` opportunities (Amount): one Bulk ingest job in
        Salesforce, PUTs of 100 deals in Zoho."""
        ids = [make_id("006", 3_000_000 + i) for i in rng.sample(range(n), count)]
        if crm == "zoho":
            self._zoho_amounts([zoho_id(i) for i in ids], rng)
            return
        s, base = self.http(), f"{self.url}/services/data/v66.0/jobs/ingest"
        job = s.post(base, json={"object": "Opportunity", "operation": "update"}, timeout=60).json()["id"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Id", "Amount"])
        writer.writerows([i, rng.randint(1, 500) * 1000] for i in ids)
        s.put(f"{base}/{job}/batches", data=out.getvalue().encode(), timeout=120).raise_for_status()
        s.patch(f"{base}/{job}", json={"state": "UploadComplete"}, timeout=60).raise_for_status()
        for _ in range(6000):
            if s.get(f"{base}/{job}", timeout=60).json()["state"] in ("JobComplete", "Failed", "Aborted"):
                return
            time.sleep(0.05)
        raise SystemExit("the change job did not finish")

    def _zoho_amounts(self, ids: list[str], rng: random.Random) -> None:
        s = self.http()
        if "zoho_token" not in self.banner:
            form = {"grant_type": "refresh_token", "client_id": self.banner["zoho_client_id"],
                    "client_secret": self.banner["zoho_client_secret"],
                    "refresh_token": self.banner["zoho_refresh_token"]}
            token = s.post(f"{self.banner['zoho_accounts_url']}/oauth/v2/token", data=form, timeout=60)
            token.raise_for_status()
            self.banner["zoho_token"] = token.json()["access_token"]
        headers = {"Authorization": f"Zoho-oauthtoken {self.banner['zoho_token']}"}
        for start in range(0, len(ids), 100):
            body = {"data": [{"id": i, "Amount": rng.randint(1, 500) * 1000} for i in ids[start:start + 100]]}
            s.put(f"{self.banner['zoho_api_domain']}/crm/v8/Deals", json=body, headers=headers,
                  timeout=60).raise_for_status()


def write_config(workdir: Path, sb: SandboxProcess, crm: str) -> Path:
    crm_section: dict[str, Any] = {"kind": crm, "ca_bundle": sb.banner["ca_file"]}
    if crm == "zoho":  # the access token is kept between runs, as in production
        crm_section.update(accounts_url=sb.banner["zoho_accounts_url"], token_cache="zoho-token.json")
    else:
        crm_section.update(instance_url=sb.url, api_version="66.0", auth={"method": "session"})
    cfg = {
        "crm": crm_section,
        "store": "sqlite:///presales.db",
        "roster": sb.banner["zoho_roster_file" if crm == "zoho" else "roster_file"],
        "timezone": "Asia/Shanghai",
        # Runs come seconds apart here: a lookback window would re-read the previous run's
        # echo every time. Production runs keep the default (300 s).
        "sync": {"lookback_seconds": 0},
    }
    path = workdir / "presales.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def floor_calls(crm: str, reads: int, writes: int, calls: dict[str, int]) -> int:
    per_read, per_write = FLOORS[crm]
    fixed = sum(calls.get(f, 0) for f in FIXED_FAMILIES)
    return max(1, math.ceil(reads / per_read)) + math.ceil(writes / per_write) + fixed


def crm_env(sb: SandboxProcess, crm: str) -> dict[str, str]:
    if crm == "zoho":
        return {"PRESALES_ZOHO_CLIENT_ID": sb.banner["zoho_client_id"],
                "PRESALES_ZOHO_CLIENT_SECRET": sb.banner["zoho_client_secret"],
                "PRESALES_ZOHO_REFRESH_TOKEN": sb.banner["zoho_refresh_token"]}
    return {"PRESALES_SF_SESSION_ID": sb.banner["session_id"]}


def timed_sync(label: str, config: Path, sb: SandboxProcess, crm: str) -> Run:
    """One `presales --json sync` subprocess: wall, CPU, peak RSS (wait4), calls, report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESALES_SF_", "PRESALES_ZOHO_"))}
    env.update(crm_env(sb, crm))
    sb.reset()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([PRESALES, "--config", str(config), "--json", "sync"], stdout=out, stderr=err,
                                env=env, cwd=config.parent)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{label}: sync exited {proc.returncode}: {errors[-2000:]}")
    report = json.loads(text)
    calls = sb.stats()
    counts = report["counts"]
    writes = int(counts.get("written", 0)) + int(counts.get("write_failed", 0))
    return Run(label, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, calls, counts,
               floor_calls(crm, int(counts.get("read", 0)), writes, calls),
               {"changes": report.get("changes", []), "exit_code": report["exit_code"]})


def naive(n: int, changes: list[dict[str, Any]], root: Path) -> Run:
    """The same write-back scripted naively: read everything, one update per record."""
    from simple_salesforce import Salesforce

    per_record: dict[str, dict[str, Any]] = {}
    for c in changes:
        per_record.setdefault(c["record_id"], {})[c["field"]] = c["new"]
    with SandboxProcess(root / f"naive-{n}", n) as sb:
        session = requests.Session()
        session.trust_env = False
        session.verify = sb.banner["ca_file"]
        sf = Salesforce(instance_url=sb.url, session_id=sb.banner["session_id"], version="66.0",
                        session=session)
        sb.reset()
        start, cpu = time.perf_counter(), time.process_time()
        sf.query_all("SELECT Id, Name, StageName, Amount, IsClosed, OwnerId, SystemModstamp FROM Opportunity")
        for record_id, fields in per_record.items():
            sf.Opportunity.update(record_id, fields)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        calls = sb.stats()
    return Run(f"naive script, {n:,}", wall, cpu, 0.0, calls, {"read": n, "written": len(per_record)},
               floor_calls("salesforce", n, len(per_record), calls))


def profile_runs(n: int, crm: str, root: Path,
                 rules_tasks: int = 0) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """First sync and a no-change run in-process under cProfile: total and per-step seconds."""
    from presales_sync.sync.service import sync_once

    wanted = {
        "read_changes": "read + apply pages (read_changes)",
        "_apply_page": "  apply pages to the store (_apply_page)",
        "_pages": "  connector read (HTTP + JSON/CSV parse)",
        "evaluate": "rules evaluation over open tasks (evaluate)",
        "open_tasks": "  load open tasks with their events (open_tasks)",
        "opportunity_values": "  load their opportunities' values",
        "_assign": "  assignment of unassigned tasks (_assign)",
        "_priority": "  priority rules (_priority)",
        "plan": "diff against the ledger (plan)",
        "write": "write-back + ledger (write)",
    }
    out = []
    with SandboxProcess(root / f"profile-{n}", n) as sb:
        work = root / f"profile-work-{n}"
        work.mkdir(parents=True, exist_ok=True)
        config = write_config(work, sb, crm)
        env = crm_env(sb, crm)
        for label in ("first full sync", "settle", "no-change run"):
            prof = cProfile.Profile()
            start = time.perf_counter()
            prof.enable()
            sync_once(config, env)
            prof.disable()
            total = time.perf_counter() - start
            if label == "settle":
                continue
            stats = pstats.Stats(prof)
            rows = []
            for func, (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
                name = func[2]
                where = f"connector/{crm}" if name == "_pages" else ("sync/store" if name in (
                    "open_tasks", "opportunity_values") else "sync/engine.py")
                if name in wanted and where in func[0]:
                    rows.append((wanted[name], ct))
            order = list(wanted.values())
            rows.sort(key=lambda r: order.index(r[0]))
            out.append((f"{label}, {n:,} opportunities", total, rows))
        if rules_tasks:
            seconds, per_task = rules_share(config, rules_tasks)
            out.append((f"rules alone for {rules_tasks:,} open tasks (typed values, priority rules, "
                        f"assess, outbound; {per_task:.3f} ms per task)", seconds, []))
    return out


def rules_share(config: Path, tasks: int) -> tuple[float, float]:
    """(seconds, ms per task) of the pure rules work a run does per open task — typed values,
    priority rules, `assess`, outbound values — for `tasks` open tasks built from the
    opportunities a profiled first sync stored (cycled with new ids)."""
    from datetime import UTC, datetime

    from presales_sync.mappings import outbound, typed
    from presales_sync.rules import assess, assign, create_task, priority_of
    from presales_sync.sync import config as config_mod
    from presales_sync.sync.plan import desired_values
    from presales_sync.sync.service import open_store

    loaded = config_mod.load(config)
    store = open_store(loaded)
    try:
        with store.begin() as conn:
            ids = list(store.all_tasks(conn))
            values = list(store.opportunity_values(conn, ids).values()) or [{}]
    finally:
        store.close()
    now = datetime.now(UTC)
    objmap = loaded.mapping.opportunity
    compiled = loaded.compiled_rules(now.astimezone(loaded.tz).date())
    calendar = loaded.calendar()
    engineers = list(loaded.engineers)
    work = []
    for i in range(tasks):
        task = create_task(f"006BENCH{i:010d}", at=now, actor="bench")
        work.append((assign(task, engineers[i % len(engineers)], at=now, actor="bench", reason="bench"),
                     values[i % len(values)]))
    start = time.perf_counter()
    for task, raw in work:
        v = typed(objmap, raw)
        priority = priority_of(compiled, v)[0]
        look = assess(task, priority=priority, now=now, settings=loaded.rules, calendar=calendar)
        outbound(objmap, desired_values(task, None, look))
    seconds = time.perf_counter() - start
    return seconds, seconds / tasks * 1000


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; SQLite store; sandbox in its own process on 127.0.0.1")


def fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


def table(runs: list[Run]) -> str:
    lines = ["| run | read | written | wall s | CPU s | peak RSS MB | API calls | floor | calls/floor "
             "| calls per endpoint |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        ratio = r.total_calls / r.floor if r.floor else 0.0
        lines.append(f"| {r.label} | {r.counts.get('read', 0):,} | {r.counts.get('written', 0):,} "
                     f"| {r.wall:.1f} | {r.cpu:.1f} | {f'{r.rss_mb:.0f}' if r.rss_mb else 'n/a'} "
                     f"| {r.total_calls} | {r.floor} "
                     f"| {ratio:.2f} | {fmt_calls(r.calls)} |")
    return "\n".join(lines)


def change_counts(spec: str, n: int) -> list[tuple[int, str]]:
    """``1%,1000`` → [(n // 100, "1% changed"), (1000, "1,000 changed")]."""
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item.endswith("%"):
            out.append((max(1, n * int(item[:-1]) // 100), f"{item} changed"))
        else:
            out.append((min(n, int(item)), f"{int(item):,} changed"))
    return out


def bench_size(n: int, crm: str, root: Path, rng: random.Random,
               changes: str = "1%,1000", first_only: bool = False) -> tuple[list[Run], float]:
    runs: list[Run] = []
    work = root / f"work-{n}"
    work.mkdir(parents=True, exist_ok=True)
    with SandboxProcess(root / f"sandbox-{n}", n) as sb:
        config = write_config(work, sb, crm)
        runs.append(timed_sync(f"{n:,}: first full sync", config, sb, crm))
        print(table(runs[-1:]), flush=True)
        if first_only:
            return runs, sb.seconds
        settle = timed_sync(f"{n:,}: settle (reads the echo of the first run's writes)", config, sb, crm)
        runs.append(settle)
        runs.append(timed_sync(f"{n:,}: no-change run", config, sb, crm))
        for count, label in change_counts(changes, n):
            sb.change_amounts(count, n, rng, crm)
            runs.append(timed_sync(f"{n:,}: incremental, {label}", config, sb, crm))
            # the echo of that run's writes, so the next measurement starts quiet
            timed_sync("echo", config, sb, crm)
        print(table(runs[1:]), flush=True)
        return runs, sb.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opps", default="10000,100000", help="comma-separated org sizes")
    parser.add_argument("--crm", default="salesforce", choices=sorted(FLOORS))
    parser.add_argument("--naive", type=int, default=10000, help="org size of the naive script (0: skip)")
    parser.add_argument("--profile", type=int, default=0, help="org size of the in-process profile (0: skip)")
    parser.add_argument("--incremental", default="1%,1000",
                        help="changed opportunities per incremental run: percentages or counts")
    parser.add_argument("--rules-tasks", type=int, default=100_000,
                        help="with --profile: time the rules alone for this many open tasks")
    parser.add_argument("--first-only", action="store_true", help="time only the first full sync")
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.crm != "salesforce" and args.naive:
        print("--naive scripts simple-salesforce: it runs with --crm salesforce only", file=sys.stderr)
        return 2
    sizes = [int(s.replace("_", "")) for s in args.opps.split(",") if s.strip()]
    root = Path(tempfile.mkdtemp(prefix="presales-bench-"))
    rng = random.Random(8)
    sections = [f"Machine: {machine()}", ""]
    all_runs: list[Run] = []
    try:
        for n in sizes:
            runs, seed_seconds = bench_size(n, args.crm, root, rng, args.incremental, args.first_only)
            all_runs += runs
            sections.append(f"Seeding {n:,} opportunities (sandbox start): {seed_seconds:.1f} s")
        sections += ["", table(all_runs), ""]
        if args.naive:
            ours = next((r for r in all_runs if r.label == f"{args.naive:,}: first full sync"), None)
            if ours is None:
                with SandboxProcess(root / f"ours-{args.naive}", args.naive) as sb:
                    work = root / f"ours-work-{args.naive}"
                    work.mkdir()
                    ours = timed_sync(f"{args.naive:,}: first full sync", write_config(work, sb, args.crm),
                                      sb, args.crm)
            slow = naive(args.naive, ours.extra["changes"], root)
            calls_ratio, time_ratio = slow.total_calls / ours.total_calls, slow.wall / ours.wall
            rtt = 0.1
            slow_remote, ours_remote = slow.wall + slow.total_calls * rtt, ours.wall + ours.total_calls * rtt
            sections += [table([ours, slow]), "",
                         f"Naive / ours at {args.naive:,}: {calls_ratio:.1f}x the API calls, "
                         f"{time_ratio:.2f}x the wall time on loopback. With a {rtt * 1000:.0f} ms round "
                         f"trip per call (a real org over the internet) add {slow.total_calls * rtt:.0f} s "
                         f"naive and {ours.total_calls * rtt:.1f} s ours: {slow_remote / ours_remote:.1f}x "
                         f"the time.", ""]
        if args.profile:
            for label, total, rows in profile_runs(args.profile, args.crm, root, args.rules_tasks):
                if not rows:
                    sections += [f"Timed, {label}: {total:.1f} s in-process (no profiler)", ""]
                    continue
                sections += [f"Profile, {label}: {total:.1f} s in-process (cProfile overhead included)", "",
                             "| step | cumulative s | share |", "|---|---:|---:|"]
                sections += [f"| {name} | {ct:.2f} | {ct / total:.0%} |" for name, ct in rows]
                sections.append("")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text = "\n".join(sections)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
