"""The HTTP server: authentication, limits, latency, faults, plan gates, scheduled changes and
the request log around :class:`insightly_sandbox.api.Api`, plus the control API under
``/_sandbox/``.

Limits as Insightly's (see API-NOTES): every API response carries ``X-RateLimit-Limit`` (the
daily quota) and ``X-RateLimit-Remaining``. More than ``rate_limit`` admitted requests in any
sliding one-second window, by arrival time, answers 429 with Remaining > 0; a spent daily
quota answers 429 with Remaining 0. Requests answered 429 or 401 are not admitted: they use
no quota and do not fill the window. ``Retry-After`` is sent only by injected faults that ask
for it (whether Insightly sends it is unknown). The window uses the machine's monotonic clock,
not the sandbox clock, so freezing the sandbox clock does not stop time for the limiter.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .api import Api, Reply
from .clock import SandboxClock
from .seed import seed_store
from .spec import load_spec
from .store import ApiError, Store, dumps

API_PREFIX = "/v3.1"
CONTROL_PREFIX = "/_sandbox"
FAULT_KINDS = ("status", "drop", "truncate_short", "truncate_length", "delay")


def normalize_prefix(prefix: str | None) -> str:
    """``Contacts``, ``/Contacts`` and ``/v3.1/Contacts`` all mean the API path ``/Contacts``."""
    if not prefix:
        return "/"
    prefix = "/" + prefix.strip().lstrip("/")
    if prefix == API_PREFIX or prefix.startswith(API_PREFIX + "/"):
        prefix = prefix[len(API_PREFIX):] or "/"
    return prefix


@dataclass
class Fault:
    path_prefix: str
    status: int = 429
    count: int = 1  # -1: every matching request
    retry_after: Any = None
    kind: str = "status"
    delay_ms: int = 0
    method: str | None = "GET"

    def matches(self, method: str, api_path: str) -> bool:
        if self.count == 0:
            return False
        if self.method not in (None, "*", "") and self.method.upper() != method:
            return False
        return _segment_prefix(self.path_prefix, api_path)


@dataclass
class ScheduledChange:
    path_prefix: str
    after_requests: int
    changes: list[dict]
    seen: int = 0
    applied: bool = False
    error: str | None = None


def _segment_prefix(prefix: str, api_path: str) -> bool:
    """Whole-segment prefix match on the API path: ``/Contacts`` matches ``/Contacts`` and
    ``/Contacts/Search``, not ``/ContactsX``; ``/`` matches everything."""
    stem = prefix.rstrip("/")
    return not stem or api_path == stem or api_path.startswith(stem + "/")


@dataclass
class Options:
    api_key: str
    seed: int = 1
    scale: float = 1
    rate_limit: int | None = None
    daily_limit: int = 100000
    latency_ms: int = 0
    scrambled: bool = False


@dataclass
class SandboxState:
    """Everything one running sandbox knows; shared by the request threads."""

    options: Options
    clock: SandboxClock = field(default_factory=SandboxClock)
    lock: threading.Lock = field(default_factory=threading.Lock)
    used: int = 0
    window: deque = field(default_factory=deque)
    log: list[dict] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    plan_gates: dict[str, int] = field(default_factory=dict)
    schedule: list[ScheduledChange] = field(default_factory=list)
    store: Store | None = None
    api: Api | None = None
    quota_day: str = ""

    def __post_init__(self) -> None:
        self.reset_data()

    def reset_data(self) -> None:
        store = Store(load_spec(), self.clock, self.options.seed)
        seed_store(store, self.options.seed, self.options.scale)
        self.store = store
        self.api = Api(store, lambda: self.options.scrambled)

    # -- admission ----------------------------------------------------------------------------
    def admit(self, arrival: float) -> tuple[int | None, str]:
        """None when admitted, else the refusal status and reason."""
        opts = self.options
        today = self.clock.now_record()[:10]
        with self.lock:
            if today != self.quota_day:
                # The daily quota reportedly resets at midnight UTC: here, the sandbox clock's.
                self.quota_day, self.used = today, 0
            if self.used >= opts.daily_limit:
                return 429, "API daily request limit reached"
            if opts.rate_limit is not None:
                window = self.window
                while window and window[0] <= arrival - 1.0:
                    window.popleft()
                if len(window) >= opts.rate_limit:
                    return 429, "API rate limit exceeded: too many requests per second"
                window.append(arrival)
            self.used += 1
            return None, ""

    def limit_headers(self) -> dict[str, str]:
        limit = self.options.daily_limit
        return {"X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - self.used))}

    def take_fault(self, method: str, api_path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, api_path):
                    if fault.count > 0:
                        fault.count -= 1
                    return fault
        return None

    def gate(self, api_path: str) -> int | None:
        with self.lock:
            for prefix, status in self.plan_gates.items():
                if _segment_prefix(prefix, api_path):
                    return status
        return None

    def after_request(self, api_path: str) -> None:
        """Count requests towards scheduled changes; apply those that are due."""
        due = []
        with self.lock:
            for change in self.schedule:
                if not change.applied and _segment_prefix(change.path_prefix, api_path):
                    change.seen += 1
                    if change.seen >= change.after_requests:
                        change.applied = True
                        due.append(change)
        for change in due:
            try:
                apply_changes(self.store, change.changes)
            except ApiError as error:
                change.error = error.reason  # shown by GET /_sandbox/schedule

    def record(self, method: str, path: str, query: dict[str, list[str]], status: int) -> None:
        entry = {"method": method, "path": path,
                 "query": {k: v[0] if len(v) == 1 else v for k, v in query.items()},
                 "status": status, "time": self.clock.now_record(), "wall": time.time()}
        with self.lock:
            self.log.append(entry)


def apply_changes(store: Store, changes: list[dict]) -> list[dict]:
    """Apply ``[{"op": "update"|"delete"|"create", "resource", "id", "fields"}]`` as users would."""
    done = []
    for change in changes:
        op, resource = change.get("op"), change.get("resource")
        if resource is None or (resource not in store.spec.resources
                                and resource not in store.custom_objects):
            raise ApiError(400, f"Unknown resource {resource!r} in a change")
        fields = dict(change.get("fields") or {})
        if op == "create":
            done.append(store.create(resource, store.flat_to_body(resource, fields)
                                     if resource in store.custom_objects else fields))
        elif op == "update":
            id_field = store.resource_of(resource).id_field
            fields[id_field] = change.get("id", fields.get(id_field))
            done.append(store.update(resource, fields))
        elif op == "delete":
            store.delete(resource, change.get("id"))
            done.append({"deleted": change.get("id")})
        else:
            raise ApiError(400, f"Unknown op {op!r}: one of create, update, delete")
    return done


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "insightly-sandbox"
    sys_version = ""
    state: SandboxState  # set on the subclass made per server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # the request log is the control API's, not stderr noise

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header comes from the sandbox clock, as dates in records do.
        return self.state.clock.http_date()

    def version_string(self) -> str:
        return "insightly-sandbox"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- plumbing -------------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ApiError(400, f"Invalid Content-Length {length!r}") from None
        return self.rfile.read(size)

    def _send(self, reply: Reply, extra: dict[str, str] | None = None, *,
              truncate: str | None = None) -> None:
        body = reply.body
        self.send_response(reply.status)
        headers = {}
        if reply.content_type and (body or reply.status < 300):
            headers["Content-Type"] = reply.content_type
        headers.update(extra or {})
        headers.update(reply.headers)
        declared = len(body)
        if truncate == "truncate_short":
            body = body[: max(1, len(body) // 2)]
            declared = len(body)
        elif truncate == "truncate_length":
            body = body[: max(1, len(body) // 2)]
            headers["Connection"] = "close"
            self.close_connection = True
        headers["Content-Length"] = str(declared)
        for name, value in headers.items():
            self.send_header(name, value)
        # Headers and body leave in one write: two small writes on a keep-alive connection
        # meet Nagle's algorithm and the client's delayed ACK (a 40 ms stall per response).
        self._headers_buffer.append(b"\r\n")
        if body:
            self._headers_buffer.append(body)
        self.flush_headers()
        if truncate == "truncate_length":
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _dispatch(self, method: str) -> None:
        arrival = time.monotonic()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            body = self._body()
        except ApiError as error:
            self.close_connection = True
            self._send(_text(error.status, error.reason))
            return
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            self._control(method, path[len(CONTROL_PREFIX):], query, body)
            return
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            self._send(Reply(404, f"No endpoint at {path}; the API is under {API_PREFIX}/".encode(),
                             content_type="text/plain; charset=utf-8"))
            return
        self._api(method, path, path[len(API_PREFIX):] or "/", query, body, arrival)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, _password = decoded.partition(":")
        return hmac.compare_digest(user.encode(), self.state.options.api_key.encode())

    def _api(self, method: str, path: str, api_path: str, query: dict[str, list[str]],
             body: bytes, arrival: float) -> None:
        state = self.state
        if state.options.latency_ms:
            # The real API's round trip; each request sleeps in its own thread.
            time.sleep(state.options.latency_ms / 1000)
        truncate = None
        extra: dict[str, str] = {}
        if not self._authorized():
            reply = _text(401, "Authentication failed: send HTTP Basic with the API key as "
                               "the user name and an empty password")
        else:
            refused, reason = state.admit(arrival)
            if refused is not None:
                reply = _text(refused, reason)
            else:
                reply, truncate, extra = self._admitted(method, api_path, query, body)
                # Scheduled changes and the log entry land before the answer leaves, so a
                # client's next request (or log read) always sees them.
                state.after_request(api_path)
        state.record(method, path, query, 0 if reply is None else reply.status)
        if reply is None:  # an injected dropped connection
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply, {**state.limit_headers(), **extra}, truncate=truncate)

    def _admitted(self, method: str, api_path: str, query: dict[str, list[str]],
                  body: bytes) -> tuple[Reply | None, str | None, dict[str, str]]:
        """The answer to an admitted request: (reply or None to drop, truncation, headers)."""
        state = self.state
        gate = state.gate(api_path)
        if gate is not None:
            return _text(gate, "This feature is not available on your plan" if gate == 403
                         else f"No endpoint {api_path}"), None, {}
        fault = state.take_fault(method, api_path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_ms / 1000)
            fault = None
        if fault is not None and fault.kind == "drop":
            return None, None, {}
        if fault is not None and fault.kind == "status":
            extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return _text(fault.status, f"Injected fault: HTTP {fault.status}"), None, extra
        segments = [s for s in api_path.split("/") if s]
        try:
            reply = state.api.handle(method, segments, query, body)
        except ApiError as error:
            reply = _text(error.status, error.reason)
        except Exception as error:  # a sandbox bug: answer 500, and say so loudly
            traceback.print_exc(file=sys.stderr)
            reply = _text(500, f"Internal sandbox error: {type(error).__name__}: {error}")
        return reply, (fault.kind if fault is not None else None), {}

    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        from .control import handle_control

        try:
            payload = json.loads(body) if body else {}
            status, result = handle_control(self.state, method, path, query, payload)
            reply = Reply(status, dumps(result))
        except ApiError as error:
            reply = Reply(error.status, dumps({"error": error.reason}))
        except (ValueError, TypeError, KeyError) as error:
            reply = Reply(400, dumps({"error": f"{type(error).__name__}: {error}"}))
        self._send(reply)


def _text(status: int, reason: str) -> Reply:
    return Reply(status, reason.encode("utf-8"), content_type="text/plain; charset=utf-8")


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, dropped-connection tests) are normal, not errors.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """A sandbox on a real socket, served from a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.state = SandboxState(Options(**options))
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = SandboxHTTPServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="insightly-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextlib.contextmanager
def running_sandbox(api_key: str = "test-key", seed: int = 1, scale: float = 1,
                    rate_limit: int | None = None, daily_limit: int = 100000,
                    latency_ms: int = 0, scrambled: bool = False,
                    host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run a sandbox on a free port for the block; yields ``http://127.0.0.1:PORT/v3.1``."""
    server = SandboxServer(host, port, api_key=api_key, seed=seed, scale=scale,
                           rate_limit=rate_limit, daily_limit=daily_limit,
                           latency_ms=latency_ms, scrambled=scrambled).start()
    try:
        yield server.base_url
    finally:
        server.stop()
