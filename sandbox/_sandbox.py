"""The `Sandbox` handle: one data dir, one HTTPS server, the Salesforce org and the same org as
Zoho CRM, all on one clock.

It composes the pieces and owns their lifecycle: the core (`core`: TLS keys, the server, the
fault plan, call stats, the clock) and one package per CRM's API (`salesforce`, `zoho`), whose
routes it joins into the server's one `route`. Nothing here knows what the org is used for:
what a caller's plugin needs in it comes in as seed data.
"""

from __future__ import annotations

import json
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from presales_sync.sandbox.core._clock import Clock, SystemClock, utcnow
from presales_sync.sandbox.core._datadir import open_seeded
from presales_sync.sandbox.core._faults import FaultPlan, FaultRule, parse_spec
from presales_sync.sandbox.core._http import Reply, Request, TLSServer
from presales_sync.sandbox.core._seed import OrgSeed
from presales_sync.sandbox.core._stats import CallStats
from presales_sync.sandbox.core._tls import KeyFiles, ensure_keys, server_context
from presales_sync.sandbox.salesforce._api import Api, Identity
from presales_sync.sandbox.salesforce._seed import anchor_for, seed_org
from presales_sync.sandbox.salesforce._store import Store
from presales_sync.sandbox.zoho._api import ZohoApi
from presales_sync.sandbox.zoho._handle import ZohoSandboxMixin
from presales_sync.sandbox.zoho._limits import ZohoLimits


class Sandbox(ZohoSandboxMixin):
    """A local Salesforce org, and the same org as Zoho CRM, over HTTPS, kept in ``data_dir``.

    ``seed`` is the number of opportunities of the generated org (the same number always
    gives the same org). ``seed_time`` pins the anchor the seeded timestamps count back
    from (default: the start of today, UTC), for tests that compare two orgs.
    ``org`` is what the caller adds to the generated sample org (`OrgSeed`: custom fields,
    people, their values, a roster file); without it the org is a bare sample org.
    ``zoho_limits`` lowers Zoho's limits (paging reach, token grants, credits) for tests.
    ``clock`` is what every stamp, expiry and rate window reads (default: the machine's clock;
    a test passes a `ManualClock` and advances it instead of sleeping).
    ``accept_my_domain_audience`` lets a JWT name the sandbox's own URL as its audience (a real
    org refuses that: only https://login.salesforce.com / https://test.salesforce.com).
    """

    def __init__(
        self, data_dir: Path, port: int = 0, seed: int = 2000, *, seed_time: datetime | None = None,
        org: OrgSeed | None = None, zoho_limits: ZohoLimits | None = None,
        faults: str | list[FaultRule] | None = None, accept_my_domain_audience: bool = False,
        clock: Clock | None = None,
    ) -> None:
        #: The one clock of this sandbox (see `core._clock`).
        self.clock: Clock = clock or SystemClock()
        #: Calls per endpoint family, both CRMs together (``/_sandbox/stats``); each start
        #: counts afresh.
        self.calls = CallStats()
        #: The fault plan every CRM API of this sandbox consults (see `_faults`).
        self.faults = FaultPlan()
        self.faults.set(parse_spec(faults) if isinstance(faults, str) else faults or ())
        self.data_dir = Path(data_dir)
        #: What the caller adds to the generated org (custom fields, people, a roster).
        self.org = org if org is not None else OrgSeed()
        self.port = port
        self.seed = seed
        self._seed_time = seed_time
        self._server: TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._keys: KeyFiles = KeyFiles.under(self.data_dir)
        self._stopped = threading.Event()
        self._zoho: ZohoApi | None = None
        self._zoho_store = None
        self._zoho_limits = zoho_limits
        self._api: Api | None = None
        self.accept_my_domain_audience = accept_my_domain_audience

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Create keys and seed on first use, then serve in a background thread."""
        if self._server is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._keys = ensure_keys(self.data_dir)
        self._store = self._open_store()
        store = self._store
        identity = Identity(
            org_id=store.meta("org_id") or "",
            consumer_key=self.consumer_key,
            public_key_pem=self._keys.public_key_file.read_bytes(),
        )
        self.calls = CallStats()
        api = Api(store, identity, self.faults, stats=self.calls, clock=self.clock)
        api.accept_my_domain_audience = self.accept_my_domain_audience
        zoho = self._start_zoho(store, api.record_call, self.faults)

        def route(req: Request) -> Reply:
            return zoho.handle(req) if zoho.owns(req.path) else api.handle(req)

        self._api = api
        try:
            server = TLSServer(("127.0.0.1", self.port), server_context(self._keys), route)
        except OSError:
            store.close()
            self._store = None
            self._stop_zoho()
            raise
        self._server = server
        self.port = server.server_address[1]
        api.base_url = zoho.base_url = self.url
        self._stopped.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _open_store(self) -> Store:
        anchor = anchor_for(self._seed_time or utcnow(self.clock))
        return open_seeded(self.data_dir / "sandbox.db", lambda path: Store(path, self.clock),
                           lambda store: store.meta("seed") is not None,
                           lambda store: seed_org(store, self.seed, anchor, self.org, self.roster_file))

    def pending_values(self) -> list[tuple[str, str, dict[str, Any]]]:
        """In an org seeded without its custom fields (``OrgSeed.installed`` false):
        (opportunity id, owner id, {field: value}) of each opportunity the seed gave values,
        for a caller to write once the fields exist."""
        store = self._require_store()
        return [(r[0], r[1], dict(r[2])) for r in json.loads(store.meta("pending_values") or "[]")]

    def stop(self) -> None:
        """Stop serving and close the database (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._api = None
        self._stop_zoho()
        self._stopped.set()

    def serve_forever(self) -> None:
        """Serve in the foreground until SIGINT/SIGTERM (or `stop()` from another thread)."""
        self.start()
        previous = {}

        def on_signal(signum: int, _frame: Any) -> None:
            self._stopped.set()

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------

    def _require_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the sandbox is not started")
        return self._store

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self._keys.ca_file

    @property
    def roster_file(self) -> Path:
        """The seed's roster (`OrgSeed.roster`) with Salesforce ids, in the data dir."""
        return self.data_dir / self.org.roster_name

    @property
    def private_key_file(self) -> Path:
        return self._keys.private_key_file

    @property
    def consumer_key(self) -> str:
        return self._keys.consumer_key_file.read_text(encoding="ascii").strip()

    @property
    def integration_user_id(self) -> str:
        return self._require_store().meta("integration_user_id") or ""

    @property
    def integration_username(self) -> str:
        return self._require_store().meta("integration_username") or ""

    @property
    def org_id(self) -> str:
        return self._require_store().meta("org_id") or ""

    @property
    def session_id(self) -> str:
        """The integration user's session (stable for the data dir)."""
        return self.session_for(self.integration_user_id)

    def settle_bulk_jobs(self, timeout: float = 60.0) -> None:
        """Wait until every Bulk 2.0 job handed to a worker is done, so its next poll shows a
        final state (tests read it once instead of polling with sleeps)."""
        if self._api is None:
            raise RuntimeError("the sandbox is not started")
        if not self._api.bulk.settle(timeout):
            raise TimeoutError(f"a Bulk job still runs after {timeout} s")

    def session_for(self, user_id: str) -> str:
        """A session acting as ``user_id`` (e.g. a user editing a record in the CRM)."""
        store = self._require_store()
        if store.get_row(store.objects["user"], user_id) is None:
            raise KeyError(f"no such user: {user_id}")
        return store.session_for(user_id, self.org_id)


def describe_banner(sb: Sandbox) -> dict[str, str]:
    """What a client needs to connect, for the CLI to print (one JSON line with --json)."""
    return {
        "salesforce_url": sb.url,
        "session_id": sb.session_id,
        "ca_file": str(sb.ca_file),
        "roster_file": str(sb.roster_file),
        "consumer_key": sb.consumer_key,
        "private_key_file": str(sb.private_key_file),
        "username": sb.integration_username,
        "zoho_accounts_url": sb.zoho_accounts_url,
        "zoho_api_domain": sb.zoho_api_domain,
        "zoho_client_id": sb.zoho_client_id,
        "zoho_client_secret": sb.zoho_client_secret,
        "zoho_refresh_token": sb.zoho_refresh_token,
        "zoho_roster_file": str(sb.zoho_roster_file),
    }
