"""A scripted webhook receiver on 127.0.0.1 for cases the sandbox's inbox cannot express.

Each answer can be chosen per request number (fail exactly the 3rd request, redirect,
hang past the client's timeout, close the connection). Everything received is recorded.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    """How to answer one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering
    body_bytes: int = 0  # a body of this many bytes ...
    body_pause_s: float = 0.0  # ... written in 1 KiB pieces this far apart
    header_pause_s: float = 0.0  # status line and headers written a byte at a time


@dataclass
class Received:
    """One request as received."""

    index: int
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    started: float
    finished: float = 0.0
    body_cut: bool = False  # the client closed the connection before the whole body

    @property
    def json(self) -> t.Any:  # noqa: ANN401
        return json.loads(self.body)


class Receiver:
    """Records requests; answers from a script, then with ``default``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        self.script: dict[int, Answer] = {}  # request index (0-based) -> answer
        self.default = Answer()
        self.answer_fn: t.Callable[[int, bytes], Answer | None] | None = None
        self._active = 0
        self.max_active = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver._handle(self, body)

            def log_message(self, *args: t.Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/in"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            index = len(self.requests)
            answer = None
            if self.answer_fn is not None:
                answer = self.answer_fn(index, body)
            if answer is None:
                answer = self.script.get(index, self.default)
            item = Received(
                index=index,
                path=handler.path,
                headers={k.lower(): v for k, v in handler.headers.items()},
                body=body,
                status=0 if answer.drop else answer.status,
                started=time.monotonic(),
            )
            self.requests.append(item)
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if answer.delay_s:
                time.sleep(answer.delay_s)
            # The request's time in flight ends here, before the answer goes out: once it
            # has, the client may send its next request, whose handler could otherwise
            # record its start before this one records its end.
            with self._lock:
                item.finished = time.monotonic()
            if answer.drop:
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            if answer.header_pause_s:
                handler.close_connection = True
                item.body_cut = not self._drip(handler, f"HTTP/1.1 {answer.status} OK\r\nContent-Length: 0\r\n\r\n",
                                               answer.header_pause_s)
                return
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(answer.body_bytes))
            handler.end_headers()
            item.body_cut = not self._write_body(handler, answer)
        finally:
            with self._lock:
                self._active -= 1

    @staticmethod
    def _drip(handler: BaseHTTPRequestHandler, text: str, pause_s: float) -> bool:
        try:
            for byte in text.encode():
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(pause_s)
        except OSError:
            return False
        return True

    @staticmethod
    def _write_body(handler: BaseHTTPRequestHandler, answer: Answer) -> bool:
        left = answer.body_bytes
        piece = b"x" * 1024
        try:
            while left > 0:
                handler.wfile.write(piece[: min(left, len(piece))])
                handler.wfile.flush()
                left -= len(piece)
                if answer.body_pause_s:
                    time.sleep(answer.body_pause_s)
        except OSError:
            handler.close_connection = True  # the client stopped reading
            return False
        return True

    def wait_idle(self, limit: float = 30) -> None:
        """Until every handler has finished answering (bodies included)."""
        deadline = time.monotonic() + limit
        while self._active and time.monotonic() < deadline:
            time.sleep(0.02)

    def acknowledged(self) -> list[Received]:
        """Requests answered with a 2xx."""
        return [r for r in self.requests if 200 <= r.status <= 299]  # noqa: PLR2004

    def acked_events(self) -> list[dict]:
        """Events of acknowledged open-connectors requests, in arrival order."""
        return [e for r in self.acknowledged() for e in r.json["message"]["events"]]
