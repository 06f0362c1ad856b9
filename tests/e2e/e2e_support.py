"""End-to-end fixtures: a real sandbox over HTTPS on a free loopback port, and the real
`presales` command run as a subprocess against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from connector.sandbox import Sandbox

PRESALES = str(Path(sys.executable).parent / "presales")


@dataclass
class Org:
    """A handle on the sandbox for assertions: SOQL and writes as any user, call stats."""

    sb: Sandbox

    def http(self, session_id: str | None = None) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify= below
        s.verify = str(self.sb.ca_file)
        s.headers["Authorization"] = f"Bearer {session_id or self.sb.session_id}"
        return s

    def query(self, soql: str) -> list[dict[str, Any]]:
        url = f"{self.sb.url}/services/data/v66.0/query"
        resp = self.http().get(url, params={"q": soql}, timeout=30)
        resp.raise_for_status()
        body = resp.json()
        records = body["records"]
        while not body["done"]:
            body = self.http().get(self.sb.url + body["nextRecordsUrl"], timeout=30).json()
            records += body["records"]
        return records

    def set_fields(self, user_id: str, record_id: str, fields: dict[str, Any]) -> None:
        """A person edits an opportunity in the CRM."""
        resp = self.http(self.sb.session_for(user_id)).patch(
            f"{self.sb.url}/services/data/v66.0/sobjects/Opportunity/{record_id}", json=fields, timeout=30)
        assert resp.status_code == 204, resp.text

    def stats(self) -> dict[str, int]:
        return self.http().get(f"{self.sb.url}/_sandbox/stats", timeout=10).json()["calls"]

    def reset_stats(self) -> None:
        self.http().post(f"{self.sb.url}/_sandbox/stats/reset", timeout=10).raise_for_status()

    def roster(self) -> list[dict[str, Any]]:
        return yaml.safe_load(Path(self.sb.roster_file).read_text())["engineers"]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    sb = Sandbox(data_dir=tmp_path_factory.mktemp("sandbox"), port=0, seed=300)
    sb.start()
    yield Org(sb)
    sb.stop()


def write_config(directory: Path, sb: Sandbox, **overrides: Any) -> Path:
    cfg: dict[str, Any] = {
        "crm": {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
                "auth": {"method": "session"}, "ca_bundle": str(sb.ca_file)},
        "store": "sqlite:///presales.db",
        "roster": str(sb.roster_file),
        "timezone": "Asia/Shanghai",
    }
    cfg.update(overrides)
    path = directory / "presales.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def jwt_settings(sb: Sandbox) -> tuple[dict[str, Any], dict[str, str]]:
    """The `crm:` config section and the environment for JWT bearer login to the sandbox."""
    crm = {"kind": "salesforce", "instance_url": sb.url, "api_version": "66.0",
           "auth": {"method": "jwt", "login_url": sb.url}, "ca_bundle": str(sb.ca_file)}
    env = {"PRESALES_SF_USERNAME": sb.integration_username, "PRESALES_SF_CONSUMER_KEY": sb.consumer_key,
           "PRESALES_SF_PRIVATE_KEY_FILE": str(sb.private_key_file)}
    return crm, env


def write_rules(directory: Path, **overrides: Any) -> Path:
    """A copy of the shipped rules file with top-level keys replaced."""
    import rules

    data = yaml.safe_load((Path(rules.__file__).parent / "default.yaml").read_text(encoding="utf-8"))
    data.update(overrides)
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def presales(config: Path, *args: str, session_id: str | None = None, cwd: Path | None = None,
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESALES_SF_")}
    env.update(extra_env or {})
    if session_id is not None:
        env["PRESALES_SF_SESSION_ID"] = session_id
    return subprocess.run([PRESALES, "--config", str(config), *args], capture_output=True, text=True,
                          env=env, cwd=cwd or config.parent, timeout=300, check=False)


def run_json(config: Path, *args: str, session_id: str) -> dict[str, Any]:
    proc = presales(config, "--json", *args, session_id=session_id)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)
