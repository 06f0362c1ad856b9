"""What an operator reads when the CRM cannot be used: one line naming the cause and what to
do, the contract's exit code, nothing written. Through the CLI against the sandbox."""

from __future__ import annotations

import socket
from pathlib import Path

from e2e_support import Org, presales, write_config

from presales_sync.mappings import default_mapping_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_port_is_one_line_naming_host_and_cause(org: Org, tmp_path: Path) -> None:
    port = _closed_port()
    crm = {"kind": "salesforce", "instance_url": f"https://127.0.0.1:{port}", "auth": {"method": "session"},
           "ca_bundle": str(org.sb.ca_file)}
    config = write_config(tmp_path, org.sb, crm=crm)
    proc = presales(config, "sync", extra_env=org.env)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"cannot reach 127.0.0.1:{port}: connection refused" in lines[0]
    assert "%2C" not in lines[0] and "SELECT" not in lines[0]


def test_a_misspelt_mapping_field_names_the_file_the_line_and_the_check(crm_org: Org, tmp_path: Path) -> None:
    org = crm_org
    text = default_mapping_path(org.crm).read_text(encoding="utf-8")
    right = "{field: Amount,"
    assert right in text
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(text.replace(right, "{field: Amout,"), encoding="utf-8")
    line = next(i for i, t in enumerate(mapping.read_text().splitlines(), 1) if "Amout" in t)
    config = org.config(tmp_path, mapping=str(mapping))
    before = org.deals()
    org.reset_stats()
    proc = presales(config, "sync", extra_env=org.env)
    assert proc.returncode == 2, proc.stderr
    assert f"{mapping}:{line}" in proc.stderr and "Amout" in proc.stderr
    assert "presales mappings validate" in proc.stderr
    assert org.write_calls() == 0 and org.deals() == before
