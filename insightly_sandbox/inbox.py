"""A webhook inbox: the receiver target-webhook delivers to, for tests, the demo and benchmarks.

It accepts a POST on any path (other than ``/_inbox/``), verifies both signature schemes with
its own code (``insightly_sandbox.verify``), stores the request and the events in it, and
answers 200 — unless told to fail or to answer slowly through its control endpoints:

``GET /_inbox/events`` (``?all=1`` also lists events of requests answered with an error),
``GET /_inbox/requests`` (``?bodies=0`` leaves bodies out), ``GET /_inbox/summary`` (counts,
signature results, first arrival and last answer times), ``POST /_inbox/fail`` ``{"status", "count"
(-1: every request), "retry_after"}``, ``POST /_inbox/delay`` ``{"ms"}``, ``POST /_inbox/clear``. ``GET /events`` is
an alias of ``/_inbox/events``.

Two payload formats are understood and normalised to one event shape (the original event is
kept under ``original``):

- open-connectors, ``application/json``: ``{"message": {"events": [...], "raw": {"objectType":
  T, T: [records]}}}``; the n-th record of ``raw`` belongs to the n-th event;
- CloudEvents batch, ``application/cloudevents-batch+json``: a JSON array of events whose
  ``type`` is ``<element>.<objectType>.created|updated``.

Each request is served on its own thread, so a slow inbox still answers many clients at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from insightly_sandbox.verify import as_key_list, standard_webhooks_secret, verify_all

try:  # msgspec comes with singer-sdk[msgspec]: it parses a body in less than half the time,
    # which matters where the inbox shares a small machine with what it benchmarks.
    from msgspec import DecodeError as _DecodeError
    from msgspec.json import decode as _parse_json
except ImportError:  # pragma: no cover - without msgspec, the standard library
    _DecodeError = ValueError
    _parse_json = json.loads

CONTROL_PREFIX = "/_inbox/"
# header values that authenticate the sender: kept in memory for tests, never written out
_REDACTED_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
_MAX_BODY_BYTES = 64 * 1024 * 1024


def normalise_events(payload: Any) -> tuple[str, list[dict[str, Any]]]:
    """Return (format, events in the common shape) for a parsed webhook body.

    Raises ValueError naming what is wrong when the body is neither known format.
    """
    if isinstance(payload, dict) and isinstance(payload.get("message"), dict):
        message = payload["message"]
        events = message.get("events")
        if not isinstance(events, list):
            raise ValueError("open-connectors body has no message.events list")
        raw = message.get("raw") if isinstance(message.get("raw"), dict) else {}
        records = raw.get(raw.get("objectType"), []) if raw else []
        if not isinstance(records, list):
            records = []
        normalised = []
        for position, event in enumerate(events):
            if not isinstance(event, dict):
                raise ValueError("open-connectors message.events holds a non-object")
            normalised.append(
                {
                    "format": "open-connectors",
                    "eventId": event.get("eventId"),
                    "eventType": event.get("eventType"),
                    "objectType": event.get("objectType"),
                    "objectId": event.get("objectId"),
                    "date": event.get("date"),
                    "messageId": message.get("eventId"),
                    "record": records[position] if position < len(records) else None,
                    "original": event,
                }
            )
        return "open-connectors", normalised
    if isinstance(payload, list):
        normalised = []
        for event in payload:
            if not isinstance(event, dict):
                raise ValueError("CloudEvents batch holds a non-object")
            parts = str(event.get("type", "")).split(".")
            normalised.append(
                {
                    "format": "cloudevents",
                    "eventId": event.get("id"),
                    "eventType": parts[-1].upper() if len(parts) >= 3 else None,
                    "objectType": ".".join(parts[1:-1]) if len(parts) >= 3 else None,
                    "objectId": event.get("subject"),
                    "date": event.get("time"),
                    "messageId": None,
                    "record": event.get("data"),
                    "original": event,
                }
            )
        return "cloudevents", normalised
    raise ValueError("body is neither an open-connectors message nor a CloudEvents batch")


class InboxState:
    """Everything the inbox has received, and how it is told to answer. Thread-safe."""

    def __init__(self, keys: str | Sequence[str] | None = None, out: str | Path | None = None,
                 report_failures: bool = False):
        self.keys = as_key_list(keys)
        # The CLI says on stderr when a request fails verification; tests read `verified`.
        self.report_failures = report_failures
        for key in self.keys:
            standard_webhooks_secret(key)  # reject a malformed whsec_ key at start
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.fail_status = 0
        self.fail_count = 0
        self.fail_retry_after: str | None = None
        self.delay_ms = 0
        self.out_path = Path(out) if out else None
        self._out = self.out_path.open("a", encoding="utf-8") if self.out_path else None

    def close(self) -> None:
        if self._out:
            self._out.close()
            self._out = None

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.events.clear()
            self.fail_status = self.fail_count = 0
            self.fail_retry_after = None
            self.delay_ms = 0

    def fail(self, status: int, count: int, retry_after: str | None) -> None:
        with self.lock:
            self.fail_status, self.fail_count, self.fail_retry_after = status, count, retry_after

    def receive(
        self, method: str, target: str, headers: dict[str, str], body: bytes, peer: str = ""
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Store one webhook request; return the status, extra headers and the stored record."""
        verified = verify_all(headers, body, self.keys)
        parsed = urllib.parse.urlsplit(target)
        error = None
        fmt = None
        events: list[dict[str, Any]] = []
        try:
            fmt, events = normalise_events(_parse_json(body))
        except (ValueError, UnicodeDecodeError, _DecodeError) as exc:
            error = f"not a webhook payload: {exc}"
        extra: dict[str, str] = {}
        with self.lock:
            status = 200
            if self.fail_count != 0:
                if self.fail_count > 0:
                    self.fail_count -= 1
                status = self.fail_status
                if self.fail_retry_after is not None:
                    extra["Retry-After"] = self.fail_retry_after
            index = len(self.requests)
            record = {
                "index": index,
                "time": time.time(),
                "method": method,
                "connection": peer,
                "path": parsed.path,
                "query": parsed.query,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
                "format": fmt,
                "error": error,
                "verified": {name: v.ok for name, v in verified.items()},
                "verify_reasons": {name: v.reason for name, v in verified.items()},
                "status": status,
                "event_count": len(events),
                "answered": None,
            }
            self.requests.append(record)
            for event in events:
                event["_request"] = index
                event["_status"] = status
                self.events.append(event)
            failed = [name for name, ok in record["verified"].items() if ok is False]
            if self.report_failures and failed:
                reasons = "; ".join(f"{name}: {record['verify_reasons'][name]}" for name in failed)
                print(f"webhook-inbox: request {index}: signature check failed ({reasons})",
                      file=sys.stderr, flush=True)
            if self._out:
                line = dict(record, events=events)
                line["headers"] = {
                    k: ("<redacted>" if k.lower() in _REDACTED_HEADERS else v)
                    for k, v in headers.items()
                }
                self._out.write(json.dumps(line, default=str) + "\n")
                self._out.flush()
        return status, extra, record

    def answered(self, record: dict[str, Any]) -> None:
        with self.lock:
            record["answered"] = time.time()

    def list_events(self, include_rejected: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if include_rejected or 200 <= e["_status"] < 300]

    def list_requests(self, bodies: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            if bodies:
                return list(self.requests)
            return [dict(r, body=None) for r in self.requests]

    def summary(self) -> dict[str, Any]:
        with self.lock:
            accepted = [r for r in self.requests if 200 <= r["status"] < 300]
            by_type: dict[str, dict[str, int]] = {}
            total = 0
            for event in self.events:
                if 200 <= event["_status"] < 300:
                    per = by_type.setdefault(str(event["objectType"]), {})
                    per[str(event["eventType"])] = per.get(str(event["eventType"]), 0) + 1
                    total += 1
            signatures = {
                scheme: {"verified": 0, "failed": 0, "unchecked": 0}
                for scheme in ("elements", "standard_webhooks")
            }
            for r in self.requests:
                for scheme, ok in r["verified"].items():
                    bucket = {True: "verified", False: "failed", None: "unchecked"}[ok]
                    signatures[scheme][bucket] += 1
            answered = [r["answered"] for r in accepted if r["answered"] is not None]
            return {
                "requests": len(self.requests),
                "first_arrival": self.requests[0]["time"] if self.requests else None,
                "last_answered": max(answered) if answered else None,
                "accepted": len(accepted),
                "rejected": len(self.requests) - len(accepted),
                "unparsable": sum(1 for r in self.requests if r["error"]),
                "events": total,
                "by_object_type": by_type,
                "signatures": signatures,
            }


def format_summary(summary: dict[str, Any]) -> str:
    """The printed form of ``InboxState.summary()`` / ``InboxClient.summary()``."""
    lines = [
        f"webhook-inbox: {summary['requests']} requests "
        f"({summary['accepted']} accepted, {summary['rejected']} answered with an error, "
        f"{summary['unparsable']} unparsable), {summary['events']} events accepted"
    ]
    for object_type in sorted(summary["by_object_type"]):
        counts = summary["by_object_type"][object_type]
        detail = ", ".join(f"{kind} {counts[kind]}" for kind in sorted(counts))
        lines.append(f"  {object_type}: {detail}")
    for scheme, label in (("elements", "Elements-Webhook-Signature"), ("standard_webhooks", "Standard Webhooks")):
        s = summary["signatures"][scheme]
        lines.append(
            f"  {label}: {s['verified']} verified, {s['failed']} failed, {s['unchecked']} unchecked (no key)"
        )
    return "\n".join(lines)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy would
    server: _InboxServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm holds
        # the second until the client's delayed ACK (about 40 ms per request on Linux).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:
        return  # one line per request would flood the demo's terminal

    def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._read_chunked()
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0 or size > _MAX_BODY_BYTES:
            return None
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def do_GET(self) -> None:
        state = self.server.state
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.path in ("/_inbox/events", "/events"):
            include = query.get("all", ["0"])[0] not in ("0", "false", "")
            self._send(200, state.list_events(include_rejected=include))
        elif parsed.path == "/_inbox/requests":
            bodies = query.get("bodies", ["1"])[0] not in ("0", "false", "")
            self._send(200, state.list_requests(bodies=bodies))
        elif parsed.path == "/_inbox/summary":
            self._send(200, state.summary())
        elif parsed.path.startswith(CONTROL_PREFIX):
            self._send(404, {"error": f"unknown inbox endpoint {parsed.path}"})
        else:
            self._send(200, {"inbox": "webhook-inbox", "post_webhooks_here": True})

    def do_POST(self) -> None:
        state = self.server.state
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(400, {"error": "Content-Length missing or too large"})
            return
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX):
            self._control(path, body)
            return
        headers = {name: value for name, value in self.headers.items()}
        peer = "%s:%s" % self.client_address[:2]
        status, extra, record = state.receive("POST", self.path, headers, body, peer)
        if state.delay_ms:
            time.sleep(state.delay_ms / 1000)
        if 200 <= status < 300:
            self._send(status, {"received": True}, extra)
        else:
            self._send(status, {"error": f"inbox told to answer {status}"}, extra)
        state.answered(record)

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        try:
            args = json.loads(body) if body.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("control body must be a JSON object")
            if path == "/_inbox/fail":
                status = int(args.get("status", 500))
                count = int(args.get("count", 1))
                if not 100 <= status <= 599 or count < -1:
                    raise ValueError("status must be 100-599 and count >= 0 (or -1: every request)")
                retry_after = args.get("retry_after")
                state.fail(status, count, None if retry_after is None else str(retry_after))
            elif path == "/_inbox/delay":
                ms = int(args.get("ms", 0))
                if ms < 0:
                    raise ValueError("ms must be >= 0")
                state.delay_ms = ms
            elif path == "/_inbox/clear":
                state.clear()
            else:
                self._send(404, {"error": f"unknown inbox endpoint {path}"})
                return
        except (ValueError, TypeError) as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, {"ok": True})


class _InboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender killed mid-request (a stopped target) hangs up before the answer: the
        # request is already stored, and that is all there is to it.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], state: InboxState):
        super().__init__(address, _Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


@contextlib.contextmanager
def running_inbox(
    signature_key: str | Sequence[str] | None = None,
    out: str | Path | None = None,
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """Run an inbox on a free port in a thread; yield its URL (``http://127.0.0.1:PORT/``)."""
    state = InboxState(signature_key, out)
    server = _InboxServer((host, 0), state)
    thread = threading.Thread(target=server.serve_forever, name="webhook-inbox", daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        state.close()


class InboxClient:
    """Talks HTTP to an inbox's ``/_inbox/`` control endpoints."""

    def __init__(self, url: str, timeout: float = 30):
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout
        self.session = requests.Session()

    def _get(self, endpoint: str, **params: Any) -> Any:
        response = self.session.get(self.url + "_inbox/" + endpoint, params=params, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def _post(self, endpoint: str, payload: dict[str, Any]) -> None:
        response = self.session.post(self.url + "_inbox/" + endpoint, json=payload, timeout=self.timeout)
        response.raise_for_status()

    def events(self, include_rejected: bool = False) -> list[dict[str, Any]]:
        """Events of requests answered 2xx (and of the others too with include_rejected)."""
        return self._get("events", all=int(include_rejected))

    def requests(self, bodies: bool = True) -> list[dict[str, Any]]:
        """Every webhook request, in arrival order (``body`` None when bodies=False)."""
        return self._get("requests", bodies=int(bodies))

    def summary(self) -> dict[str, Any]:
        return self._get("summary")

    def summary_text(self) -> str:
        return format_summary(self.summary())

    def fail(self, status: int = 500, count: int = 1, retry_after: int | str | None = None) -> None:
        """The next ``count`` webhook POSTs answer ``status`` (with Retry-After if given).

        ``count=-1`` fails every POST until ``fail(count=0)`` or ``clear()``.
        """
        self._post("fail", {"status": status, "count": count, "retry_after": retry_after})

    def delay(self, ms: int) -> None:
        """Every webhook POST from now on is answered after ``ms`` milliseconds (0: none)."""
        self._post("delay", {"ms": ms})

    def clear(self) -> None:
        """Forget every request and event, and any fail or delay instruction."""
        self._post("clear", {})

    def close(self) -> None:
        self.session.close()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="webhook-inbox",
        description=(
            "Receive, verify and list webhook deliveries (open-connectors and CloudEvents). "
            "What arrived: GET /_inbox/events, /_inbox/requests, /_inbox/summary; a summary is "
            "printed on exit; a request whose signature fails is reported on stderr."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument(
        "--signature-key",
        action="append",
        default=[],
        help="key to verify signatures with; repeat it during a key rotation",
    )
    parser.add_argument("--out", help="append every request, with its events, to this JSON-lines file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"webhook-inbox: --port must be 0-65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        state = InboxState(args.signature_key, args.out, report_failures=True)
    except ValueError as exc:
        print(f"webhook-inbox: --signature-key: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"webhook-inbox: cannot open --out {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        server = _InboxServer((args.host, args.port), state)
    except OSError as exc:
        print(f"webhook-inbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        state.close()
        return 2

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    thread = threading.Thread(target=server.serve_forever, name="webhook-inbox", daemon=True)
    thread.start()
    print(server.url, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    state.close()
    print(format_summary(state.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
