"""The sandbox: a local HTTPS server speaking a documented subset of the Salesforce REST API.

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

Public surface: `Sandbox` (start/stop/serve_forever, url, session_id, session_for, ca_file,
roster_file, consumer_key, private_key_file, integration_username, integration_user_id)
and `describe_banner` (what the CLI prints). The sandbox imports nothing from rules/,
sync/, mappings/ or cli.py.
"""

from connector.sandbox._server import Sandbox, describe_banner

__all__ = ["Sandbox", "describe_banner"]
