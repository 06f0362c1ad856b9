"""The HTTPS server (stdlib `ThreadingHTTPServer` + `ssl`) every CRM of the sandbox is served by.

It knows HTTP framing, not any CRM: a request becomes a `Request`, one `route` callable (the
`Sandbox` handle composes the CRMs' APIs into it) turns it into a `Reply`, and the reply is
written back (or the connection dropped, when a fault plan says the answer is lost).

TLS handshakes happen in the per-connection thread (the listening socket hands out
un-handshaken sockets), so one slow or broken client can't stall the accept loop. Request
logging is off: the server must stay quiet in tests and must never print a session id.
Request bodies are read as HTTP/1.1 frames them, ``Content-Length`` or
``Transfer-Encoding: chunked`` (how jsforce and any streaming client upload Bulk CSV), up to
`MAX_BODY_BYTES`.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


@dataclass
class Reply:
    """An answer: status, a JSON-serialisable body (or raw bytes with their own Content-Type)."""

    status: int
    body: Any = None  # JSON-serialisable; None → no body (204)
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # fault injection: close the connection instead of answering


@dataclass(frozen=True)
class Request:
    """One HTTP request as the APIs see it, already read and split."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    locked: frozenset[str] = frozenset()  # fault injection: records that fail with a row lock


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
        route: Route = self.server.route  # type: ignore[attr-defined]
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
            reply = route(req)
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


#: What serves a request: the CRMs' APIs composed by the `Sandbox` handle.
Route = Callable[[Request], Reply]


class TLSServer(ThreadingHTTPServer):
    """A threading HTTPS server on ``address`` answering every request through ``route``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext, route: Route) -> None:
        super().__init__(address, _Handler)
        self.ctx = ctx
        self.route = route

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections and failed handshakes are the client's business: stay quiet."""


