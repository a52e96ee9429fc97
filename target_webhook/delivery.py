"""HTTP delivery: messages to the callback URL, acknowledgements to checkpoints.

Promises kept here:

- one keep-alive ``requests.Session`` (TLS verified; ``REQUESTS_CA_BUNDLE``,
  ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured as ``requests`` reads them);
- at most ``concurrency`` requests in flight, and never two carrying events of the same
  (objectType, objectId): a message waits behind every earlier message that shares an object
  with it, so each object's events arrive in the order they were received;
- connection errors, timeouts, 408, 429 and 5xx are retried with capped exponential backoff
  and jitter, never sooner than ``Retry-After``; a redirect, 410 or any other 4xx fails at
  once; redirects are never followed (a redirected callback could leak signed events);
- a checkpoint (the tap's STATE) is handed to ``on_checkpoint`` only once every message
  submitted before it has been acknowledged with a 2xx, and as soon as that happens.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import socket
import threading
import time
import typing as t
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

if t.TYPE_CHECKING:
    from target_webhook.events import Message
    from target_webhook.signing import Signer

_RETRY_AFTER_CEILING_SECONDS = 3600.0
# How much of an answer's body is read (and dropped) before the connection is closed
# instead of reused, and in what pieces.
ANSWER_BODY_LIMIT = 1 << 20
ANSWER_READ_CHUNK = 1 << 16


class AnswerWatchdog:
    """Closes connections whose answer (status line and headers) takes too long.

    The read timeout applies to each read: a receiver sending its headers a byte at a
    time would never trip it and would hold a worker forever. One thread checks the
    connections waiting for an answer twice a second.
    """

    def __init__(self, limit_seconds: float) -> None:
        self.limit_seconds = limit_seconds
        self._waiting: dict[t.Any, float] = {}  # socket -> deadline
        self._fired: set[t.Any] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: t.Any) -> None:  # noqa: ANN401
        with self._lock:
            self._waiting[sock] = time.monotonic() + self.limit_seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="answer-watchdog", daemon=True)
                self._thread.start()

    def done(self, sock: t.Any) -> bool:  # noqa: ANN401
        """Stop watching; True if the watchdog closed the connection."""
        with self._lock:
            self._waiting.pop(sock, None)
            if sock in self._fired:
                self._fired.discard(sock)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:
                late = [sock for sock, deadline in self._waiting.items() if deadline <= now]
                for sock in late:
                    del self._waiting[sock]
                    self._fired.add(sock)
            for sock in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def answer_deadline_connection(base: type, watchdog: AnswerWatchdog) -> type:
    """``base`` (a urllib3 connection class) whose answers must arrive within the limit."""

    def getresponse(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:  # noqa: ANN401
        sock = self.sock
        if sock is None:
            return base.getresponse(self, *args, **kwargs)
        watchdog.watch(sock)
        try:
            response = base.getresponse(self, *args, **kwargs)
        except Exception:
            if watchdog.done(sock):
                raise urllib3.exceptions.ReadTimeoutError(
                    None, None, "the answer took longer than request_timeout_seconds"  # type: ignore[arg-type]
                ) from None
            raise
        watchdog.done(sock)
        return response

    return type(f"AnswerDeadline{base.__name__}", (base,), {"getresponse": getresponse})


class DeliveryError(Exception):
    """Delivery failed for good; the message is one line without secrets."""


def is_retriable(status: int) -> bool:
    """408 (timeout), 429 (slow down) and every 5xx are worth another attempt."""
    return status in {408, 429} or 500 <= status <= 599  # noqa: PLR2004


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def host_of(url: str) -> str:
    """The callback's host (and port): what errors may name. No user info, no query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter."""

    max_retries: int = 8
    base_delay_ms: int = 1000
    max_delay_ms: int = 60000

    def delay(
        self,
        retry_number: int,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based).

        The backoff doubles from ``base_delay_ms`` up to ``max_delay_ms`` and is jittered
        down to half of that, so that many senders do not retry in lockstep. A receiver's
        ``Retry-After`` is a floor (honoured up to an hour).
        """
        exponent = min(retry_number - 1, 30)
        backoff = min(self.max_delay_ms, self.base_delay_ms * (2**exponent)) / 1000
        jitter = (rng or random).random()
        wait = backoff * (0.5 + jitter / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, _RETRY_AFTER_CEILING_SECONDS))
        return wait


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: int | None = None
    reason: str = ""
    retry_after: float | None = None
    error: str | None = None  # exception class name: its text may contain the URL
    fatal_error: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299  # noqa: PLR2004

    @property
    def retriable(self) -> bool:
        if self.status is not None:
            return is_retriable(self.status)
        return not self.fatal_error

    def describe(self) -> str:
        if self.status is not None:
            return f"HTTP {self.status} {self.reason}".rstrip()
        return f"no answer ({self.error})"


@dataclass(slots=True)
class _Batch:
    seq: int
    message: Message
    keys: frozenset[tuple[str, str]]
    headers: dict[str, str]


class Deliverer:
    """Sends messages on a bounded pool of threads and tracks what is acknowledged."""

    def __init__(  # noqa: PLR0913
        self,
        url: str,
        *,
        signer: Signer,
        extra_headers: t.Mapping[str, str],
        timeout_seconds: float,
        concurrency: int,
        retry: RetryPolicy,
        on_checkpoint: t.Callable[[t.Any], None],
        logger: logging.Logger,
        user_agent: str = "target-webhook",
    ) -> None:
        """Set up the session; threads start with the first message."""
        self._url = url
        self._host = host_of(url)
        self._signer = signer
        self._extra_headers = dict(extra_headers)
        self._concurrency = concurrency
        self._retry = retry
        self._on_checkpoint = on_checkpoint
        self._logger = logger
        self._rng = random.Random()  # noqa: S311 - jitter, not security

        # urllib3 logs each request line, query string included, at DEBUG: a callback URL
        # may carry a token there, so its logs stay at WARNING even when ours are DEBUG.
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = user_agent
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, ...) is read once, as
        # requests reads it, for the one callback URL. The session's adapter then gives the
        # keep-alive pool for that URL (through the proxy, with that CA bundle), and each
        # request goes straight to it: requests' per-call work (re-reading the environment
        # and ~/.netrc, building Response objects) cost more CPU than a loopback request.
        environment = self._session.merge_environment_settings(url, {}, None, None, None)
        prepared = requests.Request("POST", url).prepare()
        self._pool = adapter.get_connection_with_tls_context(
            prepared,
            environment["verify"],
            environment["proxies"],
            environment["cert"],
        )
        self._request_url = adapter.request_url(prepared, environment["proxies"])
        self._base_headers = {"User-Agent": user_agent, "Accept": "*/*"}
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
        self._timeout_seconds = timeout_seconds
        self._pool.ConnectionCls = answer_deadline_connection(
            self._pool.ConnectionCls, AnswerWatchdog(timeout_seconds)
        )

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here
        self._progress = threading.Condition(self._lock)  # the main thread waits here
        self._queue: deque[_Batch] = deque()
        self._busy: set[tuple[str, str]] = set()  # objects in flight
        self._in_flight = 0
        self._next_seq = 0
        self._acked_below = 0  # every seq below this is acknowledged
        self._acked_ahead: set[int] = set()
        self._checkpoints: deque[tuple[int, t.Any]] = deque()
        self._failure: DeliveryError | None = None
        self._halt = threading.Event()  # set on failure or stop: no new attempts
        self._threads: list[threading.Thread] = []
        self._backlog = max(2 * concurrency, 4)
        self.requests_sent = 0
        self.events_acknowledged = 0

    # The producer side (the target's main thread)

    @property
    def failure(self) -> DeliveryError | None:
        """The error that stopped delivery, if any."""
        return self._failure

    def submit(self, message: Message) -> None:
        """Queue a message (blocks while the backlog is full).

        Raises:
            DeliveryError: delivery has already failed.
        """
        # The message id goes out signed or not: receivers deduplicate retries with it.
        headers = {
            "Content-Type": message.content_type,
            "Elements-Webhook-Id": message.message_id,
            "webhook-id": message.message_id,
        }
        headers.update(self._extra_headers)
        headers.update(self._signer.body_headers(message.body))
        keys = frozenset((message.object_type, oid) for oid in message.object_ids)
        with self._lock:
            while self._failure is None and len(self._queue) >= self._backlog:
                self._progress.wait(0.5)
            if self._failure is not None:
                raise self._failure
            if self._halt.is_set():
                msg = "Delivery is stopping: no new messages are accepted"
                raise DeliveryError(msg)
            self._queue.append(_Batch(self._next_seq, message, keys, headers))
            self._next_seq += 1
            if len(self._threads) < self._concurrency:
                self._start_worker()
            self._work.notify()

    def checkpoint(self, state: t.Any) -> None:  # noqa: ANN401
        """Hand ``state`` to on_checkpoint once everything submitted so far is acked.

        Raises:
            DeliveryError: delivery has already failed.
        """
        with self._lock:
            if self._failure is not None:
                raise self._failure
            self._checkpoints.append((self._next_seq, state))
            self._release_checkpoints()

    def wait_all(self) -> None:
        """Block until every submitted message is acknowledged.

        Raises:
            DeliveryError: delivery failed.
        """
        with self._lock:
            while self._failure is None and self._acked_below < self._next_seq:
                self._progress.wait(0.5)
            if self._failure is not None:
                raise self._failure

    def settle(self, timeout_seconds: float) -> None:
        """Give everything submitted up to ``timeout_seconds`` to be acknowledged."""
        deadline = time.monotonic() + timeout_seconds
        with self._lock:
            while (
                self._failure is None
                and self._acked_below < self._next_seq
                and (remaining := deadline - time.monotonic()) > 0
            ):
                self._progress.wait(min(remaining, 0.2))

    def stop(self, grace_seconds: float) -> None:
        """Send nothing new, wait up to ``grace_seconds`` for requests in flight, close."""
        deadline = time.monotonic() + grace_seconds
        with self._lock:
            self._halt.set()
            self._work.notify_all()
            while self._in_flight and (remaining := deadline - time.monotonic()) > 0:
                self._progress.wait(min(remaining, 0.2))
            abandoned = self._in_flight
        if abandoned:
            self._logger.warning(
                "%d request(s) still in flight were abandoned; their events will be "
                "sent again by the next run",
                abandoned,
            )
        else:
            self._session.close()

    # The worker side

    def _start_worker(self) -> None:
        thread = threading.Thread(
            target=self._run,
            name=f"webhook-sender-{len(self._threads)}",
            daemon=True,  # a request stuck past the shutdown grace must not block exit
        )
        self._threads.append(thread)
        thread.start()

    def _take(self) -> _Batch | None:
        """The first queued message that shares no object with anything before it."""
        blocked: set[tuple[str, str]] | None = None
        for index, batch in enumerate(self._queue):
            if self._busy.isdisjoint(batch.keys) and (
                blocked is None or blocked.isdisjoint(batch.keys)
            ):
                del self._queue[index]
                self._busy.update(batch.keys)
                self._in_flight += 1
                return batch
            if blocked is None:
                blocked = set()
            blocked.update(batch.keys)
        return None

    def _run(self) -> None:
        while True:
            with self._lock:
                batch = None
                while not self._halt.is_set():
                    batch = self._take()
                    if batch is not None:
                        break
                    self._work.wait()
                if batch is None:
                    return
            acknowledged = False
            try:
                acknowledged = self._deliver(batch)
            except Exception as exc:  # noqa: BLE001 - a worker must always report back
                self._fail(
                    f"Delivery to callback host {self._host} failed unexpectedly "
                    f"({type(exc).__name__})",
                )
            with self._lock:
                self._finish(batch, acknowledged=acknowledged)

    def _finish(self, batch: _Batch, *, acknowledged: bool) -> None:
        self._busy.difference_update(batch.keys)
        self._in_flight -= 1
        if acknowledged:
            self.events_acknowledged += batch.message.event_count
            self._acked_ahead.add(batch.seq)
            while self._acked_below in self._acked_ahead:
                self._acked_ahead.remove(self._acked_below)
                self._acked_below += 1
            self._release_checkpoints()
        # This worker takes the next message itself; wake others only for the rest of
        # the queue (the objects just freed may have unblocked some of it).
        if len(self._queue) > 1:
            self._work.notify(min(len(self._queue) - 1, self._concurrency))
        self._progress.notify_all()

    def _release_checkpoints(self) -> None:
        # States acknowledged at the same moment collapse into the latest one.
        latest = None
        released = False
        while self._checkpoints and self._checkpoints[0][0] <= self._acked_below:
            latest = self._checkpoints.popleft()[1]
            released = True
        if released:
            try:
                self._on_checkpoint(latest)
            except OSError as exc:
                self._fail_locked(
                    f"Cannot write the state to stdout ({type(exc).__name__}): the "
                    "process reading it has gone",
                )

    def _fail(self, message: str) -> None:
        with self._lock:
            self._fail_locked(message)

    def _fail_locked(self, message: str) -> None:
        if self._failure is None:
            self._failure = DeliveryError(message)
        self._halt.set()
        self._work.notify_all()
        self._progress.notify_all()

    def _deliver(self, batch: _Batch) -> bool:
        """Send one message until acknowledged; False when given up (failure recorded)."""
        message = batch.message
        attempts = 0
        while True:
            attempts += 1
            outcome = self._attempt(batch)
            if outcome.ok:
                return True
            if self._halt.is_set():
                return False
            retries_left = self._retry.max_retries - (attempts - 1)
            if not outcome.retriable or retries_left <= 0:
                self._fail(self._failure_line(outcome, attempts))
                return False
            wait = self._retry.delay(attempts, outcome.retry_after, self._rng)
            self._logger.warning(
                "Callback host %s: %s for %d %s event(s); retry %d of %d in %.2f s",
                self._host,
                outcome.describe(),
                message.event_count,
                message.object_type,
                attempts,
                self._retry.max_retries,
                wait,
            )
            if self._halt.wait(wait):
                return False

    def _failure_line(self, outcome: _Outcome, attempts: int) -> str:
        where = f"Delivery to callback host {self._host} failed"
        status = outcome.status
        if status is not None and 300 <= status <= 399:  # noqa: PLR2004
            return (
                f"{where}: it answered {outcome.describe()}, a redirect, which is not "
                "followed: set callback_url to the final address"
            )
        if outcome.fatal_error:
            hint = ""
            if outcome.error == "TLS error":
                hint = (
                    " (is its TLS certificate trusted? set REQUESTS_CA_BUNDLE to your "
                    "CA bundle)"
                )
            return f"{where}: {outcome.error}{hint}"
        if not outcome.retriable:
            return (
                f"{where}: it answered {outcome.describe()}, which is not retried: fix "
                "the receiver (or callback_url and headers) and run again"
            )
        return (
            f"{where}: {outcome.describe()} on {attempts} attempt"
            f"{'s' if attempts != 1 else ''}: check the "
            "receiver and run again (unacknowledged events will be sent again)"
        )

    def _finish_reading(self, response: urllib3.BaseHTTPResponse) -> None:
        """Read the answer's body so the connection can be used again, within limits.

        The status line is the answer; the body means nothing to us. A receiver that
        sends a huge body, or sends it a byte at a time (each byte within the read
        timeout), would hold a worker and memory: past ANSWER_BODY_LIMIT bytes or the
        request timeout, the connection is closed instead of reused.
        """
        deadline = time.monotonic() + self._timeout_seconds
        received = 0
        try:
            while received <= ANSWER_BODY_LIMIT and time.monotonic() < deadline:
                chunk = response.read1(ANSWER_READ_CHUNK)
                if not chunk:
                    response.release_conn()
                    return
                received += len(chunk)
        except (urllib3.exceptions.HTTPError, OSError):
            pass
        response.close()  # not returned to the pool: the pool opens a new one
        response.release_conn()

    def _attempt(self, batch: _Batch) -> _Outcome:
        message = batch.message
        headers = {**self._base_headers, **batch.headers}
        if self._signer:
            headers.update(self._signer.attempt_headers(message.message_id, message.body))
        try:
            response = self._pool.urlopen(
                "POST",
                self._request_url,
                body=message.body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                retries=False,  # retries are ours, with backoff and per-object order
                timeout=self._timeout,
                preload_content=False,  # the body is read by _finish_reading
            )
            self._finish_reading(response)
        except urllib3.exceptions.SSLError:
            return _Outcome(error="TLS error", fatal_error=True)
        except urllib3.exceptions.ProxyError:
            return _Outcome(error="proxy error")
        except urllib3.exceptions.NewConnectionError:
            return _Outcome(error="connection failed")
        except urllib3.exceptions.TimeoutError:
            return _Outcome(error="timed out")
        except (urllib3.exceptions.ProtocolError, OSError):
            return _Outcome(error="connection dropped")
        except urllib3.exceptions.HTTPError as exc:
            return _Outcome(error=type(exc).__name__, fatal_error=True)
        finally:
            with self._lock:
                self.requests_sent += 1
        return _Outcome(
            status=response.status,
            reason=response.reason or "",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
