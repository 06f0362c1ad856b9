"""The sandbox's shared server core, the part no CRM owns.

- `_http`: the HTTPS server (stdlib `ThreadingHTTPServer` + `ssl`), HTTP/1.1 body framing, and
  the `Request` / `Reply` values every CRM's API takes and returns through one `route`.
- `_tls`: the data dir's key material (a throwaway CA, the server certificate, the OAuth key pair).
- `_faults`: the fault plan (`FaultPlan`, the ``--faults`` SPEC) each CRM renders in its own shapes.
- `_stats`: call accounting per endpoint family (``/_sandbox/stats``).
- `_clock`: the one clock every stamp, expiry and rate window reads (`SystemClock`, `ManualClock`).
- `_db`: one SQLite file in WAL mode, the base of each CRM's store.
- `_datadir`: the data dir's reuse rule (a database seeded once, a half-made one re-seeded).
- `_seed`: the seed data a caller hands in (`OrgSeed`): custom fields, people, a roster.
"""

from presales_sync.sandbox.core._clock import Clock, ManualClock, SystemClock
from presales_sync.sandbox.core._faults import FaultPlan, FaultRule, FaultSpecError, parse_spec
from presales_sync.sandbox.core._seed import CustomField, CustomObject, OrgSeed, Person, SeededPerson
from presales_sync.sandbox.core._stats import CallStats

__all__ = ["CallStats", "Clock", "CustomField", "CustomObject", "FaultPlan", "FaultRule", "FaultSpecError",
           "ManualClock", "OrgSeed", "Person", "SeededPerson", "SystemClock", "parse_spec"]
