"""The HTTPS server (stdlib `ThreadingHTTPServer` + `ssl`) and the `Sandbox` handle.

TLS handshakes happen in the per-connection thread (the listening socket hands out
un-handshaken sockets), so one slow or broken client can't stall the accept loop. Request
logging is off: the server must stay quiet in tests and must never print a session id.
Request bodies are read as HTTP/1.1 frames them, ``Content-Length`` or
``Transfer-Encoding: chunked`` (how jsforce and any streaming client upload Bulk CSV), up to
`MAX_BODY_BYTES`.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from presales_sync.connector.sandbox._api import Api, Identity, Reply, Request
from presales_sync.connector.sandbox._faults import FaultPlan, FaultRule, parse_spec
from presales_sync.connector.sandbox._seed import anchor_for, seed_org
from presales_sync.connector.sandbox._store import Store
from presales_sync.connector.sandbox._tls import KeyFiles, ensure_keys, server_context
from presales_sync.connector.sandbox._zoho import ZohoApi, ZohoLimits
from presales_sync.connector.sandbox._zoho_sandbox import ZohoSandboxMixin

_JSON = "application/json;charset=UTF-8"
#: The largest request body read (Bulk 2.0 takes up to 150 MB of CSV a job, plus headroom
#: so its own InvalidBatch answer is reachable); a bigger one is answered 413.
MAX_BODY_BYTES = 160_000_000
#: A chunk-size line or trailer line longer than this is malformed, not read on.
_MAX_LINE = 8192
#: How much of a body past the limit is still read (and dropped) before the 413 goes out:
#: closing on unread input makes TCP reset the connection, and a client still sending then
#: sees the reset instead of the answer (servers linger the same way).
_DRAIN_BYTES = 16 * 1024 * 1024


class BodyError(Exception):
    """A request body the server will not read: HTTP `status` and a Salesforce-style body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reply = Reply(status, [{"errorCode": code, "message": message}])


def _too_large() -> BodyError:
    return BodyError(413, "REQUEST_ENTITY_TOO_LARGE",
                     f"The request body exceeds the limit of {MAX_BODY_BYTES} bytes")


def _bad_chunk(detail: str) -> BodyError:
    return BodyError(400, "BAD_REQUEST", f"Malformed chunked request body: {detail}")


def _line(stream: BufferedIOBase) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _bad_chunk("line too long")
    if not line.endswith(b"\n"):
        raise _bad_chunk("the body ended early")
    return line.rstrip(b"\r\n")


def read_chunked(stream: BufferedIOBase, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (RFC 9112 7.1): size lines in hex (extensions
    ignored), each chunk followed by CRLF, a zero-size chunk, then optional trailers up to an
    empty line. More than `limit` bytes raises 413; any framing error 400."""
    parts: list[bytes] = []
    total = 0
    while True:
        size_text = _line(stream).split(b";", 1)[0].strip()
        if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise _bad_chunk(f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > limit + _DRAIN_BYTES:
            raise _too_large()
        data = stream.read(size)
        if len(data) != size:
            raise _bad_chunk("the body ended early")
        if total <= limit:
            parts.append(data)
        if _line(stream) != b"":
            raise _bad_chunk("a chunk is longer than its size line says")
    while _line(stream) != b"":  # trailer fields: read and ignored
        pass
    if total > limit:  # read to its end, so the answer is not lost to a reset
        raise _too_large()
    return b"".join(parts)


def _discard(stream: BufferedIOBase, size: int) -> None:
    while size > 0:
        data = stream.read(min(size, 1 << 20))
        if not data:
            return
        size -= len(data)


def read_body(headers: Mapping[str, str], stream: BufferedIOBase, limit: int) -> bytes:
    """The request body framed as RFC 9112 6.3 says: chunked wins over Content-Length (a
    client such as jsforce streams Bulk CSV without a length), else Content-Length, else none."""
    coding = (headers.get("transfer-encoding") or "").strip().lower()
    if coding:
        codings = [c.strip() for c in coding.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise BodyError(501, "NOT_IMPLEMENTED", f"Transfer-Encoding {coding!r} is not supported")
        return read_chunked(stream, limit)
    raw = (headers.get("content-length") or "").strip()
    if not raw:
        return b""
    if not raw.isdigit():
        raise BodyError(400, "BAD_REQUEST", f"Invalid Content-Length {raw[:20]!r}")
    length = int(raw)
    if length > limit:
        if length <= limit + _DRAIN_BYTES:
            _discard(stream, length)
        raise _too_large()
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise BodyError(400, "BAD_REQUEST", "The request body ended before Content-Length")
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "presales-sandbox"
    sys_version = ""
    timeout = 60  # idle keep-alive connections give their thread back

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no per-request stderr lines (and so no session ids in logs)."""

    def _serve(self) -> None:
        api: Api = self.server.api  # type: ignore[attr-defined]
        zoho: ZohoApi = self.server.zoho  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = read_body(headers, self.rfile, MAX_BODY_BYTES)
        except BodyError as err:
            # The rest of the body is unread (or unreadable): this connection is done.
            self.close_connection = True
            self._send(err.reply, close=True)
            return
        req = Request(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            headers,
            body,
        )
        try:
            reply = zoho.handle(req) if zoho.owns(req.path) else api.handle(req)
        except Exception:
            reply = Reply(
                500,
                [
                    {
                        "errorCode": "UNKNOWN_EXCEPTION",
                        "message": "An unexpected error occurred. Please include this ErrorId if you "
                        "contact support: sandbox",
                    }
                ],
            )
        self._send(reply)

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        if reply.drop:  # fault injection: the work is done, the answer is lost
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        raw = isinstance(reply.body, bytes)  # e.g. SOAP XML, Content-Type set by the API
        payload: bytes = b"" if reply.body is None else reply.body
        if not raw and reply.body is not None:
            payload = json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is not None and not raw:
            self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext, api: Api, zoho: ZohoApi) -> None:
        super().__init__(address, _Handler)
        self.ctx = ctx
        self.api = api
        self.zoho = zoho

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections and failed handshakes are the client's business: stay quiet."""


class Sandbox(ZohoSandboxMixin):
    """A local Salesforce org, and the same org as Zoho CRM, over HTTPS, kept in ``data_dir``.

    ``seed`` is the number of opportunities of the generated org (the same number always
    gives the same org). ``seed_time`` pins the anchor the seeded timestamps count back
    from (default: the start of today, UTC), for tests that compare two orgs.
    ``zoho_limits`` lowers Zoho's limits (paging reach, token grants, credits) for tests.
    ``accept_my_domain_audience`` lets a JWT name the sandbox's own URL as its audience (a real
    org refuses that: only https://login.salesforce.com / https://test.salesforce.com).
    """

    def __init__(
        self, data_dir: Path, port: int = 0, seed: int = 2000, *, seed_time: datetime | None = None,
        plugin_fields: bool = True, zoho_limits: ZohoLimits | None = None,
        faults: str | list[FaultRule] | None = None, accept_my_domain_audience: bool = False,
    ) -> None:
        #: The fault plan every CRM API of this sandbox consults (see `_faults`).
        self.faults = FaultPlan()
        self.faults.set(parse_spec(faults) if isinstance(faults, str) else faults or ())
        self.data_dir = Path(data_dir)
        self.plugin_fields = plugin_fields
        self.port = port
        self.seed = seed
        self._seed_time = seed_time
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._keys: KeyFiles = KeyFiles.under(self.data_dir)
        self._stopped = threading.Event()
        self._zoho: ZohoApi | None = None
        self._zoho_store = None
        self._zoho_limits = zoho_limits
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
        api = Api(store, identity, self.faults)
        api.accept_my_domain_audience = self.accept_my_domain_audience
        zoho = self._start_zoho(store, api.record_call, self.faults)
        try:
            server = _TLSServer(("127.0.0.1", self.port), server_context(self._keys), api, zoho)
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
        db_path = self.data_dir / "sandbox.db"
        if db_path.exists():
            store = Store(db_path)
            if store.meta("seed") is not None:
                return store
            store.close()  # a seed interrupted half-way: start over
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        store = Store(db_path)
        anchor = anchor_for(self._seed_time or datetime.now(UTC))
        seed_org(store, self.seed, anchor, self.roster_file, plugin_fields=self.plugin_fields)
        return store

    def pending_requests(self) -> list[tuple[str, str, str]]:
        """In an org seeded without the plugin's fields: (opportunity id, owner id, priority)
        of the deals whose sales rep will ask for presales once the fields exist."""
        if self._store is None:
            raise RuntimeError("the sandbox is not started")
        return [tuple(r) for r in json.loads(self._store.meta("presales_requests") or "[]")]

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
        return self.data_dir / "engineers.yaml"

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

    def session_for(self, user_id: str) -> str:
        """A session acting as ``user_id`` (e.g. an engineer signing off in the CRM)."""
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
