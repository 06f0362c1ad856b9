"""The sandbox: a local HTTPS server speaking documented subsets of the Salesforce REST API and
of Zoho CRM's v8 API (with Zoho's accounts server for OAuth).

It is a *server*, not a connector: the real Salesforce connector (simple-salesforce over
requests, TLS verified against the sandbox's own throwaway CA) talks to it exactly as it
would to a real org, so end-to-end tests and the demo exercise the real wire format —
JSON shapes, error bodies (JSON lists), ``nextRecordsUrl`` paging, ``Sforce-Limit-Info``,
the JWT bearer token flow.

Concepts:

- A **data dir** holds everything: ``sandbox.db`` (SQLite: the org's records and field
  catalogue, sessions), ``ca.pem`` + ``server.pem`` (TLS), the OAuth client's key pair and
  consumer key, and ``engineers.yaml`` (the presales roster). Created on the first start,
  reused afterwards, so ids, sessions and the CA survive restarts.
- The **seed** N is the number of opportunities; the same N always gives the same org, ids
  included (timestamps count back from the start of the seeding day, UTC).
- **Stats** (``GET /_sandbox/stats``, ``POST /_sandbox/stats/reset``) count calls per
  endpoint family, for benchmarks and "a quiet run writes nothing" checks.
- A **fault plan** (``Sandbox(faults=…)``, ``sandbox serve --faults SPEC``,
  ``POST /_sandbox/faults``) makes chosen calls fail the way a real CRM does: rate limits,
  5xx bursts, a session expiring mid-run, row locks on chosen records, latency, a response
  lost after the write was committed (`_faults` describes the SPEC); the Zoho half renders
  the same plan in Zoho's shapes (429 ``TOO_MANY_REQUESTS``, 401 ``INVALID_TOKEN``,
  per-record ``RECORD_LOCKED``; ``crm=zoho`` limits a rule to it).
- **Zoho** is the same org (seeded from the Salesforce rows, ids in Zoho's 19-digit style)
  in ``zoho.db``: the accounts server under ``zoho_accounts_url`` (``/oauth/v2/token``),
  the CRM under ``zoho_api_domain`` (``/crm/v8/…``), the roster in ``engineers-zoho.yaml``.
  `ZohoLimits` lowers Zoho's limits for fast tests; the wire choices are listed in `_zoho`.

Public surface: `Sandbox` (start/stop/serve_forever, url, session_id, session_for, ca_file,
roster_file, consumer_key, private_key_file, integration_username, integration_user_id;
zoho_accounts_url, zoho_api_domain, zoho_client_id, zoho_client_secret, zoho_refresh_token,
zoho_roster_file, zoho_integration_user_id, zoho_token_for, zoho_expire_tokens, zoho_writes,
zoho_credits, zoho_pending_requests), `ZohoLimits` and `describe_banner` (what the CLI prints).
The sandbox imports nothing from rules/, sync/, mappings/ or cli.py.
"""

from presales_sync.sandbox._sandbox import Sandbox, describe_banner
from presales_sync.sandbox.core import (
           Clock,
           FaultPlan,
           FaultRule,
           FaultSpecError,
           ManualClock,
           SystemClock,
           parse_spec,
)
from presales_sync.sandbox.zoho import ZohoLimits

__all__ = ["Clock", "FaultPlan", "FaultRule", "FaultSpecError", "ManualClock", "Sandbox", "SystemClock",
           "ZohoLimits", "describe_banner", "parse_spec"]
