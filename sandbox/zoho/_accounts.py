"""Zoho's accounts server (``/accounts/oauth/v2/token``): refresh-token grants and access tokens.

Kept apart from the CRM API because Zoho keeps it apart: another host (a client that ignores
the ``api_domain`` the grant names fails), its own error shapes (``{"error": …}`` with HTTP
200), and its own limit (ten access tokens per refresh token in ten minutes; the next grant
is HTTP 400 "Access Denied"). The window is read on the sandbox's clock.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from urllib.parse import parse_qs

from presales_sync.sandbox.core._clock import Clock
from presales_sync.sandbox.core._http import Reply, Request
from presales_sync.sandbox.zoho._limits import ZohoLimits
from presales_sync.sandbox.zoho._scopes import DEFAULT_SCOPES
from presales_sync.sandbox.zoho._store import USERS, ZohoStore

SCOPES = DEFAULT_SCOPES
TOKEN_THROTTLED = "You have made too many requests continuously. Please try again after some time."


def new_token() -> str:
    """An access token in Zoho's shape (``1000.<hex>.<hex>``)."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


class AccountsServer:
    """Grants access tokens for the org's OAuth client and counts grants per refresh token."""

    def __init__(self, store: ZohoStore, limits: ZohoLimits, clock: Clock) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, deque[float]] = {}

    def token_for(self, user_id: str, scopes: str | None = None) -> str:
        """A live access token acting as ``user_id`` (tests: edits made by another user);
        with `scopes` (space-separated), a new token holding only those."""
        with self.store.reader() as db:
            known = self.store.rows(db, USERS, [user_id])
        if not known:
            raise KeyError(f"no such Zoho user: {user_id}")
        token = self.store.live_token(user_id) if scopes is None else None
        if token is None:
            token = new_token()
            self.store.add_token(token, user_id, self.clock.now() + self.limits.token_ttl)
            if scopes is not None:
                self.store.set_token_scopes(token, scopes)
        return token

    def token(self, req: Request, api_domain: str) -> Reply:
        """``POST /oauth/v2/token``: a refresh-token grant, at most `ZohoLimits.token_grants`
        per refresh token per window; errors in Zoho's shapes (mostly HTTP 200)."""
        if req.method != "POST":
            return Reply(405, {"error": "invalid_request"}, {"Allow": "POST"})
        params = {k: v[0] for k, v in req.query.items()}
        params.update({k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()})
        grant = params.get("grant_type")
        if grant == "authorization_code":
            return Reply(200, {"error": "invalid_code"})  # the sandbox hands out no grant codes
        if grant != "refresh_token":
            return Reply(200, {"error": "unsupported_grant_type"})
        client_id = self.store.meta("client_id")
        if params.get("client_id") != client_id or params.get("client_secret") != self.store.meta(
            "client_secret"
        ):
            return Reply(200, {"error": "invalid_client"})
        refresh = params.get("refresh_token", "")
        user_id = self.store.refresh_token_user(refresh, client_id or "")
        if user_id is None:
            return Reply(200, {"error": "invalid_code"})
        now = self.clock.now()
        with self._lock:
            grants = self._grants.setdefault(refresh, deque())
            while grants and grants[0] <= now - self.limits.token_window:
                grants.popleft()
            if len(grants) >= self.limits.token_grants:
                return Reply(
                    400,
                    {
                        "error": "Access Denied",
                        "error_description": TOKEN_THROTTLED,
                    },
                )
            grants.append(now)
        token = new_token()
        self.store.add_token(token, user_id, now + self.limits.token_ttl)
        return Reply(
            200,
            {
                "access_token": token,
                "scope": SCOPES,
                "api_domain": api_domain,
                "token_type": "Bearer",
                "expires_in": self.limits.token_ttl,
            },
        )
