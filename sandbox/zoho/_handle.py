"""The Zoho half of the `Sandbox` handle: its store's lifecycle and what Zoho clients need.

`Sandbox` (in `sandbox._sandbox`) mixes this in and calls `_start_zoho` / `_stop_zoho`. The
Zoho org lives in ``zoho.db`` next to the Salesforce org and is seeded from it on first start
(see `zoho._seed`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from presales_sync.sandbox.core._clock import Clock
from presales_sync.sandbox.core._datadir import open_seeded
from presales_sync.sandbox.core._faults import FaultPlan
from presales_sync.sandbox.core._seed import OrgSeed
from presales_sync.sandbox.salesforce._store import Store
from presales_sync.sandbox.zoho._api import ACCOUNTS_PREFIX, ZohoApi
from presales_sync.sandbox.zoho._limits import ZohoLimits
from presales_sync.sandbox.zoho._seed import seed_zoho
from presales_sync.sandbox.zoho._store import ZohoStore


class ZohoSandboxMixin:
    """Zoho attributes of `Sandbox` (which provides ``data_dir``, ``clock``, ``org``, ``url``)."""

    data_dir: Path
    clock: Clock
    org: OrgSeed
    _zoho: ZohoApi | None
    _zoho_store: ZohoStore | None
    _zoho_limits: ZohoLimits | None

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def roster_file(self) -> Path:
        raise NotImplementedError

    def _start_zoho(self, store: Store, count: Callable[[str], None], faults: FaultPlan) -> ZohoApi:
        zstore = open_seeded(self.data_dir / "zoho.db", lambda path: ZohoStore(path, self.clock),
                             lambda z: z.meta("seeded") is not None,  # set last by seed_zoho
                             lambda z: seed_zoho(z, store, self.org, self.zoho_roster_file))
        self._zoho_store = zstore
        self._zoho = ZohoApi(zstore, count, self._zoho_limits, faults)
        return self._zoho

    def _stop_zoho(self) -> None:
        if self._zoho_store is not None:
            self._zoho_store.close()
        self._zoho_store = None
        self._zoho = None

    def _require_zoho(self) -> ZohoApi:
        if self._zoho is None:
            raise RuntimeError("the sandbox is not started")
        return self._zoho

    def _zoho_meta(self, key: str) -> str:
        return self._require_zoho().store.meta(key) or ""

    # -- what Zoho clients need --------------------------------------------------------------

    @property
    def zoho_accounts_url(self) -> str:
        """The accounts server (token URL = this + ``/oauth/v2/token``)."""
        return self.url + ACCOUNTS_PREFIX

    @property
    def zoho_api_domain(self) -> str:
        """What the token response names as ``api_domain`` (the CRM base: ``/crm/v8/…``)."""
        return self.url

    @property
    def zoho_client_id(self) -> str:
        return self._zoho_meta("client_id")

    @property
    def zoho_client_secret(self) -> str:
        return self._zoho_meta("client_secret")

    @property
    def zoho_refresh_token(self) -> str:
        """The integration user's refresh token (stable for the data dir)."""
        return self._zoho_meta("refresh_token")

    @property
    def zoho_integration_user_id(self) -> str:
        return self._zoho_meta("integration_user_id")

    @property
    def zoho_roster_file(self) -> Path:
        """The seed's roster with Zoho's ids (``<roster stem>-zoho<suffix>``)."""
        name = Path(self.org.roster_name)
        return self.data_dir / f"{name.stem}-zoho{name.suffix}"

    def zoho_token_for(self, user_id: str, scopes: str | None = None) -> str:
        """An access token acting as ``user_id`` (e.g. a user editing a record in Zoho); with
        `scopes`, a new token holding only those (``OAUTH_SCOPE_MISMATCH`` tests)."""
        return self._require_zoho().token_for(user_id, scopes)

    def zoho_expire_tokens(self) -> int:
        """Expire every access token now; a client's next call gets ``INVALID_TOKEN``."""
        return self._require_zoho().store.expire_tokens()

    def zoho_credits(self, used: int | None = None) -> dict[str, int]:
        """The Zoho org's credits (``{"used", "total"}``); ``used`` sets how many other
        integrations already spent in the rolling 24 hours (also ``POST /_sandbox/zoho/credits``)."""
        zoho = self._require_zoho()
        if used is not None:
            zoho.set_credits_used(used)
        return zoho.credits()

    def zoho_writes(self) -> list[dict[str, Any]]:
        """Every Zoho record/user write so far: module, ``trigger`` as sent, record count, user."""
        return self._require_zoho().writes()

    def zoho_pending_values(self) -> list[tuple[str, str, dict[str, Any]]]:
        """In an org seeded without its custom fields (``OrgSeed.installed`` false): (deal id,
        owner id, {Zoho field name: value}) of each deal the seed gave values, for a caller to
        write once the fields exist."""
        return [(r[0], r[1], dict(r[2])) for r in json.loads(self._zoho_meta("pending_values") or "[]")]
