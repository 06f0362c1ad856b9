"""The sandbox: a local HTTPS server speaking documented subsets of the Salesforce REST API and
of Zoho CRM's v8 API (with Zoho's accounts server for OAuth).

It is a *CRM*, not a connector and not a copy of the product: the real connectors
(simple-salesforce over requests, TLS verified against the sandbox's own throwaway CA) talk
to it exactly as they would to a real org, so end-to-end tests and the demo exercise the real
wire format — JSON shapes, error bodies (JSON lists), ``nextRecordsUrl`` paging,
``Sforce-Limit-Info``, the JWT bearer token flow. It imports nothing else of presales_sync
(importing it loads no connector), and it knows nothing of the product it serves.

The tree:

- `core` — what no CRM owns: the HTTPS server and its `route`, TLS keys, the fault plan,
  call accounting, the clock, the SQLite base, and the seed data types.
- `salesforce` — REST, SOQL, Bulk 2.0, Metadata SOAP; its store, catalogue, security, seeder.
- `zoho` — the v8 API and the accounts server; its store, fields and seeder (built from the
  Salesforce org, so both CRMs hold the same org).
- `_sandbox` — the `Sandbox` handle that composes them.

Concepts:

- A **data dir** holds everything: ``sandbox.db`` and ``zoho.db`` (SQLite: each CRM's records
  and field catalogue, sessions and tokens), ``ca.pem`` + ``server.pem`` (TLS), the OAuth
  client's key pair and consumer key, and the seed's roster file (and its Zoho twin).
  Created on the first start, reused afterwards, so ids, sessions and the CA survive restarts.
- The **seed** N is the number of opportunities; the same N always gives the same org, ids
  included (timestamps count back from the start of the seeding day, UTC).
- **Seed data** (`OrgSeed`, ``Sandbox(org=…)``) is what a caller adds to the generic sample
  org: custom fields with their picklist values (`CustomField`), people (`Person`) and the
  values their draws give, values for the opportunities' custom fields, and a roster file
  rendered per CRM (`SeededPerson`). The demo builds its own from the plugin's field catalogue,
  the tests theirs; without it the org is a bare sample org.
- The **clock** (``Sandbox(clock=…)``, `SystemClock` by default) is read by every stamp, token
  expiry, Bulk job timing, cursor idle time, rate and credit window; a test passes a
  `ManualClock` and advances it instead of sleeping. `Sandbox.settle_bulk_jobs` waits for
  Bulk jobs deterministically.
- **Stats** (``GET /_sandbox/stats``, ``POST /_sandbox/stats/reset``) count calls per
  endpoint family of both CRMs, for benchmarks and "a quiet run writes nothing" checks.
- A **fault plan** (``Sandbox(faults=…)``, ``sandbox serve --faults SPEC``,
  ``POST /_sandbox/faults``) makes chosen calls fail the way a real CRM does: rate limits,
  5xx bursts, a session expiring mid-run, row locks on chosen records, latency, a response
  lost after the write was committed (`core._faults` describes the SPEC); the Zoho half renders
  the same plan in Zoho's shapes (429 ``TOO_MANY_REQUESTS``, 401 ``INVALID_TOKEN``,
  per-record ``RECORD_LOCKED``; ``crm=zoho`` limits a rule to it).
- **Zoho** is the same org (seeded from the Salesforce rows, ids in Zoho's 19-digit style):
  the accounts server under ``zoho_accounts_url`` (``/oauth/v2/token``), the CRM under
  ``zoho_api_domain`` (``/crm/v8/…``). `ZohoLimits` lowers Zoho's limits for fast tests; the
  wire choices are listed in `zoho._api`.

Public surface: `Sandbox` (start/stop/serve_forever, url, session_id, session_for, ca_file,
roster_file, consumer_key, private_key_file, integration_username, integration_user_id,
pending_values, settle_bulk_jobs, clock, org; zoho_accounts_url, zoho_api_domain,
zoho_client_id, zoho_client_secret, zoho_refresh_token, zoho_roster_file,
zoho_integration_user_id, zoho_token_for, zoho_expire_tokens, zoho_writes, zoho_credits,
zoho_pending_values), the seed types, the clocks, the fault plan, `ZohoLimits`,
`SAMPLE_INDUSTRIES` and `describe_banner` (what the CLI prints).
"""

from presales_sync.sandbox._sandbox import Sandbox, describe_banner
from presales_sync.sandbox.core import (
    Clock,
    CustomField,
    CustomObject,
    FaultPlan,
    FaultRule,
    FaultSpecError,
    ManualClock,
    OrgSeed,
    Person,
    SeededPerson,
    SystemClock,
    parse_spec,
)
from presales_sync.sandbox.salesforce import SAMPLE_INDUSTRIES
from presales_sync.sandbox.zoho import ZohoLimits

__all__ = ["SAMPLE_INDUSTRIES", "Clock", "CustomField", "CustomObject", "FaultPlan", "FaultRule",
           "FaultSpecError", "ManualClock", "OrgSeed", "Person", "Sandbox", "SeededPerson", "SystemClock",
           "ZohoLimits",
           "describe_banner", "parse_spec"]
