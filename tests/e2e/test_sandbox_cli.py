"""`presales sandbox serve --json` as a script would drive it: one JSON line, a working
HTTPS endpoint trusted through the printed CA file, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import requests
from e2e_support import PRESALES


def test_sandbox_serve_prints_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([PRESALES, "sandbox", "serve", "--port", "0", "--seed", "50",
                             "--data", str(tmp_path / "sb"), "--json", "--faults", "rate_limit@describe"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = json.loads(proc.stdout.readline())
        assert {"salesforce_url", "session_id", "ca_file"} <= banner.keys()
        assert banner["salesforce_url"].startswith("https://127.0.0.1:")
        http = requests.Session()
        http.trust_env = False
        url, ca = banner["salesforce_url"], banner["ca_file"]
        versions = http.get(url + "/services/data/", verify=ca, timeout=10)
        assert versions.status_code == 200 and any(v["version"] == "66.0" for v in versions.json())
        denied = http.get(url + "/services/data/v66.0/query", params={"q": "SELECT Id FROM User"},
                          headers={"Authorization": "Bearer wrong"}, verify=ca, timeout=10)
        assert denied.status_code == 401 and denied.json()[0]["errorCode"] == "INVALID_SESSION_ID"
        count = http.get(url + "/services/data/v66.0/query",
                         params={"q": "SELECT Id FROM Opportunity"}, verify=ca, timeout=10,
                         headers={"Authorization": f"Bearer {banner['session_id']}"}).json()["totalSize"]
        assert count == 50
        grant = http.post(banner["zoho_accounts_url"] + "/oauth/v2/token", verify=ca, timeout=10,
                          data={"grant_type": "refresh_token", "client_id": banner["zoho_client_id"],
                                "client_secret": banner["zoho_client_secret"],
                                "refresh_token": banner["zoho_refresh_token"]}).json()
        deals = http.get(grant["api_domain"] + "/crm/v8/Deals", verify=ca, timeout=10,
                         params={"fields": "Deal_Name", "per_page": 200},
                         headers={"Authorization": f"Zoho-oauthtoken {grant['access_token']}"})
        assert deals.status_code == 200 and deals.json()["info"]["count"] == 50
        assert Path(banner["zoho_roster_file"]).is_file()
        # the fault plan given on the command line
        plan = http.get(url + "/_sandbox/faults", verify=ca, timeout=10).json()["faults"]
        assert [(f["kind"], f["family"], f["fired"]) for f in plan] == [("rate_limit", "describe", 0)]
        limited = http.get(url + "/services/data/v66.0/sobjects/Opportunity/describe", verify=ca, timeout=10,
                           headers={"Authorization": f"Bearer {banner['session_id']}"})
        assert limited.status_code == 403 and limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    stderr = proc.stderr.read() if proc.stderr else ""
    assert banner["session_id"] not in stderr and banner["zoho_client_secret"] not in stderr
