"""Security, end to end: secrets never in any output (stdout, stderr at every verbosity and
log format, --json of sync / install / mappings / status / task / score, the store's
records), TLS verification that cannot be switched off, values with quotes, backslashes and
% reaching SOQL and the store intact, and a config file holding a secret refused with the
variable to use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from e2e_support import Org, jwt_settings, presales, write_config

from presales_sync.connector import _http
from presales_sync.connector.errors import ConfigError
from presales_sync.connector.salesforce._soql import soql_like, soql_string
from presales_sync.sandbox import parse_spec

#: Known values for every secret variable, so that any of them can be searched for.
DECOYS = {
    "PRESALES_SF_PASSWORD": "pw-Decoy-7f3a9c",
    "PRESALES_SF_SECURITY_TOKEN": "st-Decoy-41b2e8",
    "PRESALES_SF_CONSUMER_SECRET": "cs-Decoy-93d1aa",
    "PRESALES_ZOHO_CLIENT_ID": "1000.DECOYCLIENTID42",
    "PRESALES_ZOHO_CLIENT_SECRET": "zcs-Decoy-5e6f70",
    "PRESALES_ZOHO_REFRESH_TOKEN": "1000.decoyrefresh.0a1b2c",
    "PGPASSWORD": "pg-Decoy-c0ffee",
}


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def test_secrets_appear_in_no_output(org: Org, tmp_path: Path) -> None:
    sb = org.sb
    crm, jwt_env = jwt_settings(sb)
    key_lines = [ln for ln in Path(sb.private_key_file).read_text().splitlines() if "-----" not in ln]
    secrets = [sb.session_id, sb.consumer_key, *DECOYS.values(), *key_lines[:3]]
    outputs: list[str] = []

    def run(config: Path, *args: str, session_id: str | None = None, env: dict[str, str] | None = None,
            codes: tuple[int, ...] = (0,)) -> None:
        proc = presales(config, *args, session_id=session_id, extra_env={**DECOYS, **(env or {})})
        assert proc.returncode in codes, (args, proc.stderr)
        outputs.append(proc.stdout + proc.stderr)

    session_cfg = write_config(tmp_path, sb)
    sid = sb.session_id
    for fmt in ("text", "json"):
        run(session_cfg, "-vv", "--log-format", fmt, "sync", session_id=sid)
        run(session_cfg, "-vv", "--log-format", fmt, "--json", "sync", "--dry-run", session_id=sid)
    run(session_cfg, "-vv", "--json", "install", "--dry-run", session_id=sid)
    run(session_cfg, "--json", "mappings", "validate", session_id=sid, codes=(0, 2))
    run(session_cfg, "--json", "status")
    run(session_cfg, "-vv", "--json", "score", "--period", "2026Q4", "--dry-run", session_id=sid)
    run(session_cfg, "--json", "task", "list")
    # refused: a wrong session that looks like a real one, and a consumer key that is wrong
    run(session_cfg, "-vv", "sync", session_id="00D000000000001!AQDecoyWrongSession", codes=(3,))
    jwt_dir = tmp_path / "jwt"
    jwt_dir.mkdir()
    jwt_cfg = write_config(jwt_dir, sb, crm=crm)
    run(jwt_cfg, "-vv", "--log-format", "json", "sync", env=jwt_env)  # the token is sb.session_id
    run(jwt_cfg, "-vv", "--json", "sync", env={**jwt_env, "PRESALES_SF_CONSUMER_KEY": "ck-Decoy-wrong"},
        codes=(3,))
    secrets.append("ck-Decoy-wrong")
    # the CRM fails mid-run: rate limit, then an expired session (JWT logs in again)
    sb.faults.set(parse_spec("rate_limit@query"))
    run(jwt_cfg, "-vv", "--log-format", "json", "sync", "--full", env=jwt_env, codes=(3,))
    sb.faults.set(parse_spec("session_expired@query"))
    run(jwt_cfg, "-vv", "sync", "--full", env=jwt_env)
    sb.faults.clear()
    secrets.append(sb.session_id)  # the new session minted by the re-login
    # a config file with a secret in it: refused without echoing it
    auth = {"method": "jwt", "login_url": sb.url, "consumer_secret": DECOYS["PRESALES_SF_CONSUMER_SECRET"]}
    bad = write_config(jwt_dir, sb, crm={**crm, "auth": auth})
    run(bad, "sync", env=jwt_env, codes=(2,))

    everything = "\n".join(outputs)
    assert "DEBUG" in everything and '"level": "debug"' in everything  # -vv did log
    assert _leaks(everything, secrets) == []
    for store in (tmp_path / "presales.db", jwt_dir / "presales.db"):
        assert _leaks(store.read_bytes().decode("latin-1"), secrets) == []


def test_json_log_format_is_one_object_per_line(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb)
    proc = presales(config, "-vv", "--log-format", "json", "sync", session_id=org.sb.session_id)
    assert proc.returncode == 0, proc.stderr
    items = [json.loads(line) for line in proc.stderr.splitlines()]
    assert len(items) > 5 and all({"time", "level", "logger", "message"} <= i.keys() for i in items)
    assert {"debug", "info"} <= {i["level"] for i in items}
    failed = presales(config, "--log-format", "json", "sync", session_id="00D000000000001!AQnotvalid")
    (item,) = (json.loads(line) for line in failed.stderr.splitlines())
    assert failed.returncode == 3 and item["level"] == "error" and "INVALID_SESSION_ID" in item["message"]


# -- TLS ---------------------------------------------------------------------------------------


def test_tls_verification_cannot_be_switched_off(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    url = org.sb.url + "/services/data/"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    off = False  # what a caller would pass to turn verification off
    session = _http.HttpSession(timeout=10)
    session.verify = off
    with pytest.raises(requests.exceptions.SSLError):
        session.get(url, verify=off)
    # trusting the sandbox's CA by naming its file is the way in, as an argument or from the environment
    assert _http.HttpSession(timeout=10, ca_bundle=str(org.sb.ca_file)).get(url).status_code == 200
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(org.sb.ca_file))
    assert _http.HttpSession(timeout=10).get(url, verify=off).status_code == 200
    with pytest.raises(ConfigError, match="does not exist"):
        _http.HttpSession(timeout=10, ca_bundle="/nonexistent/ca.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigError, match="REQUESTS_CA_BUNDLE names a CA file that does not exist"):
        _http.HttpSession(timeout=10).get(url)


@pytest.mark.parametrize("switch", [{"verify": False}, {"tls_verify": False}, {"insecure": True},
                                    {"ca_bundle": False}])
def test_no_config_key_turns_verification_off(org: Org, tmp_path: Path, switch: dict[str, object]) -> None:
    crm = {"kind": "salesforce", "instance_url": org.sb.url, "auth": {"method": "session"}, **switch}
    proc = presales(write_config(tmp_path, org.sb, crm=crm), "sync", session_id=org.sb.session_id)
    assert proc.returncode == 2 and "crm." in proc.stderr


def test_an_untrusted_server_is_a_config_error_saying_how_to_trust_it(org: Org, tmp_path: Path) -> None:
    crm = {"kind": "salesforce", "instance_url": org.sb.url, "auth": {"method": "session"}}
    config = write_config(tmp_path, org.sb, crm=crm)
    proc = presales(config, "sync", session_id=org.sb.session_id, extra_env={"REQUESTS_CA_BUNDLE": ""})
    assert proc.returncode == 2 and "TLS certificate not trusted" in proc.stderr
    assert "ca_bundle" in proc.stderr and f"cannot reach 127.0.0.1:{org.sb.port}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- SOQL escaping ------------------------------------------------------------------------------

NASTY = ["O'Brien & Sons", "Back\\slash Trading", "100% Pure Water", "Under_score Ltd",
         'Say "Hi" Co', "Tab\tNew\nLine", "\\' OR Name != '", "数据 🚀 有限公司"]


def test_values_with_quotes_backslashes_and_percent_round_trip(org: Org, tmp_path: Path) -> None:
    http = org.http()
    base = f"{org.sb.url}/services/data/v66.0"
    accounts = [r["Id"] for r in org.query("SELECT Id FROM Account ORDER BY Id")][:len(NASTY)]
    for account, name in zip(accounts, NASTY, strict=True):
        resp = http.patch(f"{base}/sobjects/Account/{account}", json={"Name": name}, timeout=30)
        assert resp.status_code == 204
    for account, name in zip(accounts, NASTY, strict=True):
        got = org.query(f"SELECT Id, Name FROM Account WHERE Name = {soql_string(name)}")
        assert [(r["Id"], r["Name"]) for r in got] == [(account, name)]
    # in LIKE, % and _ match only themselves unless they are the caller's wildcards
    assert [r["Name"] for r in org.query(f"SELECT Name FROM Account WHERE Name LIKE "
                                         f"{soql_like('100%', suffix='%')}")] == ["100% Pure Water"]
    assert org.query(f"SELECT Name FROM Account WHERE Name LIKE {soql_like('Under_', suffix='%')}")[0][
        "Name"] == "Under_score Ltd"
    assert org.query(f"SELECT Name FROM Account WHERE Name LIKE {soql_like('Under%')}") == []
    # and through a whole sync, into the store, exactly as typed
    config = write_config(tmp_path, org.sb)
    proc = presales(config, "--json", "sync", "--full", session_id=org.sb.session_id)
    assert proc.returncode == 0, proc.stderr
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'presales.db'}")
    with engine.begin() as conn:
        stored = {r.account_name for r in conn.execute(sa.text("select account_name from opportunities"))}
    engine.dispose()
    opp_accounts = {r["Account"]["Name"] for r in org.query("SELECT Account.Name FROM Opportunity")
                    if r.get("Account")}
    assert set(NASTY) & opp_accounts, "the renamed accounts have opportunities"
    assert set(NASTY) & opp_accounts <= stored


# -- secrets in the config file -----------------------------------------------------------------


@pytest.mark.parametrize(("section", "key", "variable"), [
    ("crm", "session_id", "PRESALES_SF_SESSION_ID"),
    ("auth", "consumerSecret", "PRESALES_SF_CONSUMER_SECRET"),
    ("auth", "password", "PRESALES_SF_PASSWORD"),
    ("crm", "private_key", "PRESALES_SF_PRIVATE_KEY_FILE"),
    ("crm", "refresh_token", "PRESALES_ZOHO_REFRESH_TOKEN"),
    ("crm", "client_secret", "PRESALES_ZOHO_CLIENT_SECRET"),
    ("crm", "webhook_secret", "in the environment"),
])
def test_a_secret_in_the_config_file_is_refused_with_the_variable_to_use(
        org: Org, tmp_path: Path, section: str, key: str, variable: str) -> None:
    secret = "Sekr1t-value-never-echoed"
    zoho = variable.startswith("PRESALES_ZOHO")
    crm: dict[str, object] = {"kind": "zoho", "data_center": "com"} if zoho else {
        "kind": "salesforce", "instance_url": org.sb.url, "auth": {"method": "session"}}
    if section == "auth":
        crm["auth"] = {"method": "session", key: secret}
    else:
        crm[key] = secret
    config = write_config(tmp_path, org.sb, crm=crm)
    proc = presales(config, "sync", session_id=org.sb.session_id)
    assert proc.returncode == 2
    line = next(i for i, t in enumerate(config.read_text().splitlines(), 1) if t.strip().startswith(key))
    assert f"{config}:{line}" in proc.stderr and variable in proc.stderr and key in proc.stderr
    assert secret not in proc.stdout + proc.stderr


def test_a_password_in_the_store_url_is_refused(org: Org, tmp_path: Path) -> None:
    config = write_config(tmp_path, org.sb, store="postgresql+psycopg://presales:Sekr1t-pw@127.0.0.1:1/db")
    proc = presales(config, "sync", session_id=org.sb.session_id)
    assert proc.returncode == 2 and "PGPASSWORD" in proc.stderr and "Sekr1t-pw" not in proc.stderr
    no_password = write_config(tmp_path, org.sb, store="postgresql+psycopg://presales@127.0.0.1:1/db")
    proc = presales(no_password, "sync", session_id=org.sb.session_id)
    assert "PGPASSWORD" not in proc.stderr  # refused later, by the unreachable server, not as a secret
