"""The one REST stream every Insightly resource is read through.

URL from ``pod`` / ``api_url``; HTTP Basic with the API key as user name and an empty
password; a client-side throttle shared by all streams; retries with capped exponential
backoff that honour ``Retry-After``; the daily quota; and offset paging that survives
records moving between pages.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime
import email.utils
import functools
import hashlib
import logging
import random
import sys
import threading
import time
import typing as t

import backoff
import msgspec
import requests
from requests.auth import HTTPBasicAuth
from singer_sdk.exceptions import FatalAPIError, MappingError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import PageContext
from typing_extensions import override

from tap_insightly.custom_fields import CustomFieldMapper
from tap_insightly.dates import (
    EARLIEST_YEAR,
    format_query_time,
    format_rfc3339,
    insightly_to_rfc3339,
    make_converter,
    parse_rfc3339,
)
from tap_insightly.output import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_insightly.resources import Resource
    from tap_insightly.tap import TapInsightly

#: State key next to the bookmark: the record versions already emitted at (and after)
#: the bookmark second, so an unchanged rerun emits nothing and a second change in the
#: same second is still emitted.
VERSIONS_KEY = "emitted_versions"
PROGRESS_INTERVAL_SECONDS = 5.0
# Pages read at most to find the records between two pages that stopped overlapping.
BRIDGE_PAGES = 3
# Reads of a query at most, when changes between pages are too large to bridge.
READ_PASSES = 3
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class UserFacingError(Exception):
    """An error the user can act on: printed as one line, no traceback."""


class RecordsKeptMovingError(UserFacingError):
    """Every read of a query was disturbed by changes larger than the bridge can span."""


class StreamMapFailedError(UserFacingError):
    """A stream map expression raised on a record."""


class ApiKeyRejectedError(UserFacingError, FatalAPIError):
    pass


class QuotaExhaustedError(UserFacingError, FatalAPIError):
    pass


class ApiUnreachableError(UserFacingError, FatalAPIError):
    pass


class ApiKeptFailingError(UserFacingError, FatalAPIError):
    """Every try of one request failed (5xx, 429 bursts, bodies cut short)."""


class InvalidStateError(UserFacingError):
    """The --state given holds a bookmark the tap cannot read."""


class EndpointUnavailableError(FatalAPIError):
    """403/404 for one endpoint (a plan gate, or a wrong pod / api_url)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RequestLimiter:
    """At most ``per_second`` request starts in any one-second window, across threads
    and streams (Insightly answers 429 to bursts above its per-second limit)."""

    # Starts are timed here, arrivals at the server a little later: keep a margin.
    WINDOW_SECONDS = 1.02

    def __init__(self, per_second: float) -> None:
        self.unlimited = per_second <= 0
        if self.unlimited:
            return
        self._interval = 1.0 / per_second
        self._burst = max(1, int(per_second))
        self._starts: collections.deque[float] = collections.deque(maxlen=self._burst)
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.unlimited:
            return
        # The lock is held while sleeping: waiting requests start one after another.
        with self._lock:
            while True:
                now = time.monotonic()
                earliest = self._next
                if len(self._starts) == self._burst:
                    earliest = max(earliest, self._starts[0] + self.WINDOW_SECONDS)
                if now >= earliest:
                    break
                time.sleep(earliest - now)
            self._starts.append(now)
            self._next = now + self._interval


class ApiStats:
    """Requests spent in this run and the quota Insightly reports."""

    def __init__(self) -> None:
        self.requests = 0
        self.remaining: int | None = None
        self.limit: int | None = None
        self._lock = threading.Lock()

    def observe(self, response: requests.Response) -> None:
        with self._lock:
            self.requests += 1
            remaining = _int_header(response, "X-RateLimit-Remaining")
            if remaining is not None:
                self.remaining = remaining
            limit = _int_header(response, "X-RateLimit-Limit")
            if limit is not None:
                self.limit = limit


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _server_time(response: requests.Response) -> datetime.datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


@dataclasses.dataclass
class Page:
    skip: int
    records: list[dict]
    total: int | None
    server_time: datetime.datetime | None


class _RecentKeys:
    """Record versions seen in the last few pages: enough to drop the overlap and the
    re-read records, while memory stays flat however many records a stream has."""

    def __init__(self, pages: int = 4) -> None:
        self._seen: dict[t.Any, int] = {}
        self._page = 0
        self._keep = pages

    def new_page(self) -> None:
        self._page += 1
        if self._page % self._keep == 0:
            oldest = self._page - self._keep
            self._seen = {k: p for k, p in self._seen.items() if p >= oldest}

    def add(self, key: t.Any) -> bool:  # noqa: ANN401
        """Remember ``key``; False when it was already seen."""
        if key in self._seen:
            return False
        self._seen[key] = self._page
        return True


class InsightlyStream(RESTStream):
    """Base stream: one Insightly resource (a row of the resource table)."""

    resource: Resource
    # Records are built with the right types here (dates converted, ids kept as
    # integers), so the SDK's per-record type conformance is skipped.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # Insightly documents no order and a live account returned a later page with a
    # lower id: never trust order; the bookmark is the maximum seen.
    is_sorted = False
    # 429 is handled in validate_response (burst vs. daily quota).
    extra_retry_statuses = ()
    allow_redirects = False

    def __init__(
        self,
        tap: TapInsightly,
        *,
        custom_fields: CustomFieldMapper | None = None,
        schema: dict | None = None,
    ) -> None:
        self.custom_fields = custom_fields or CustomFieldMapper([], as_columns=False)
        super().__init__(tap=tap, name=self.resource.name, schema=schema, path=self.resource.path)
        self._insightly_tap = tap
        self.primary_keys = list(self.resource.key)
        if self.resource.incremental:
            self.replication_key = self.resource.updated_field
        self._converters = self._date_converters()
        self._send_with_retries = self.request_decorator(self._send)
        self._last_progress = 0.0
        self._synced_so_far = 0
        self._expected: int | None = None
        # Per state context: the highest replication value handed to the SDK's state.
        self._state_high: dict[tuple, t.Any] = {}

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK logs "An unhandled error occurred while syncing" before re-raising any
        # error of a sync; a user error is reported once, as its own line, by the tap.
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], UserFacingError):
            return
        super().log(message, *args, level=level, **kwargs)

    # -- connection -------------------------------------------------------------------

    @property
    @override
    def url_base(self) -> str:
        return self._insightly_tap.base_url

    @property
    @override
    def authenticator(self) -> HTTPBasicAuth:
        # The API key is the user name; the password is empty.
        return HTTPBasicAuth(self.config["api_key"], "")

    @property
    @override
    def http_headers(self) -> dict:
        headers = {"Accept": "application/json"}
        if self.config.get("user_agent"):
            headers["User-Agent"] = self.config["user_agent"]
        return headers

    @property
    @override
    def timeout(self) -> int:
        return 60

    @property
    def page_size(self) -> int:
        return int(self.resource.page_size or self.config.get("page_size", 500))

    @override
    def get_url(self, context: Context | None) -> str:
        use_search = self.resource.incremental or any(k == "field_name" for k, _ in self.resource.params)
        suffix = "/Search" if use_search and self.resource.searchable else ""
        return f"{self.url_base}/{self.resource.path}{suffix}"

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any | None) -> dict[str, t.Any]:  # noqa: ANN401
        params: dict[str, t.Any] = dict(self.resource.params)
        if self.resource.paged:
            params.update(top=self.page_size, skip=next_page_token or 0, count_total="true")
        if self.resource.incremental and getattr(self, "_query_from", None):
            params["updated_after_utc"] = self._query_from
        if context and "record_type" in context:
            params["record_type"] = context["record_type"]
        return params

    @override
    def get_new_paginator(self) -> None:
        # Paging is done by _pages (overlapping offsets, repaired on shifts).
        return None

    def _send(self, prepared: requests.PreparedRequest) -> Page:
        stats = self._insightly_tap.api_stats
        self._check_quota(stats)
        self._insightly_tap.limiter.wait()
        self._check_quota(stats)
        response = self.requests_session.send(
            prepared, timeout=self.timeout, allow_redirects=self.allow_redirects
        )
        stats.observe(response)
        self.validate_response(response)
        try:
            records = _decode(response.content)
        except msgspec.DecodeError as exc:
            # A body cut short (shorter than announced or invalid JSON): retry.
            msg = f"incomplete response body for {requests.utils.urlparse(response.url).path}"
            raise RetriableAPIError(msg, response) from exc
        if not isinstance(records, list):
            records = [records]
        return Page(
            skip=0,
            records=records,
            total=_int_header(response, "X-Total-Count"),
            server_time=_server_time(response),
        )

    def _check_quota(self, stats: ApiStats) -> None:
        """Stop before a request the daily quota (or the reserve) no longer allows."""
        reserve = int(self.config.get("quota_reserve", 0) or 0)
        remaining = stats.remaining
        if remaining is None or (remaining > 0 and remaining >= reserve):
            return
        if reserve and remaining > 0:
            msg = (
                f"{remaining} API requests left today, below quota_reserve {reserve}: stopping "
                "(state is saved for what was sent); rerun after the quota resets (midnight "
                "UTC), or lower quota_reserve"
            )
        else:
            msg = (
                f"daily API quota exhausted: {remaining} requests left; stopping, state is "
                "saved: rerun after the quota resets (midnight UTC)"
            )
        raise QuotaExhaustedError(msg)

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:  # noqa: PLR2004
            return
        path = requests.utils.urlparse(response.url).path
        if status == 401:  # noqa: PLR2004
            msg = "API key rejected by Insightly (401): check api_key"
            raise ApiKeyRejectedError(msg)
        if status == 429:  # noqa: PLR2004
            remaining = _int_header(response, "X-RateLimit-Remaining")
            reserve = int(self.config.get("quota_reserve", 0) or 0)
            # Remaining 0 is the daily quota, not the per-second burst: retrying is
            # pointless until it resets (midnight UTC, reportedly).
            if remaining is not None and (remaining <= 0 or remaining < reserve):
                msg = (
                    f"daily API quota exhausted ({remaining} requests left"
                    f"{f', quota_reserve {reserve}' if reserve else ''}); stopping, state "
                    "is saved: rerun after the quota resets"
                )
                raise QuotaExhaustedError(msg)
            raise RetriableAPIError(f"429 Too Many Requests for {path}", response)
        if status >= 500:  # noqa: PLR2004
            raise RetriableAPIError(f"{status} {response.reason} for {path}", response)
        if status in {403, 404}:
            msg = f"{status} {response.reason} for {path}"
            raise EndpointUnavailableError(msg, status)
        body = response.text[:200].replace("\n", " ")
        msg = f"{status} {response.reason} for {path}: {body}"
        raise FatalAPIError(msg)

    # -- retries ----------------------------------------------------------------------

    @override
    def request_decorator(self, func: t.Callable) -> t.Callable:
        # As the SDK's, plus truncated bodies; without backoff's own give-up log line
        # (the error is reported once, by the tap).
        return backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)

    @override
    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        def waits() -> t.Generator[float, t.Any, None]:
            exc = yield 0.0
            attempt = 0
            while True:
                attempt += 1
                exc = yield self._wait_after(exc, attempt)

        return waits()

    def _wait_after(self, exc: Exception, attempt: int) -> float:
        response = getattr(exc, "response", None)
        if response is not None:
            retry_after = response.headers.get("Retry-After")
            if retry_after is not None:
                try:
                    return min(max(float(retry_after), 0.0), 300.0)
                except ValueError:
                    when = email.utils.parsedate_to_datetime(retry_after)
                    server = _server_time(response) or datetime.datetime.now(datetime.timezone.utc)
                    return min(max((when - server).total_seconds(), 0.0), 300.0)
        # Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 30 s.
        return min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311

    @override
    def backoff_jitter(self, value: float) -> float:
        return value

    @override
    def backoff_max_tries(self) -> int:
        return 6

    @override
    def backoff_handler(self, details: t.Any) -> None:  # noqa: ANN401
        exc = details.get("exception")
        self.logger.warning(
            "%s: %s; retry %d of %d in %.1f s",
            self.name,
            _describe(exc),
            details.get("tries", 0),
            self.backoff_max_tries() - 1,
            details.get("wait", 0.0),
        )

    # -- paging -----------------------------------------------------------------------

    def fetch_page(self, context: Context | None, skip: int) -> Page:
        """One page at ``skip``, through the throttle and the retries."""
        http_request = self.get_http_request(page=PageContext(stream_context=context, next_page_token=skip))
        prepared = self.build_prepared_request(
            method=http_request.method,
            url=http_request.url,
            params=http_request.encode_params(),
            headers=http_request.headers,
        )
        try:
            page = self._send_with_retries(prepared)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            msg = (
                f"cannot reach Insightly at {self.url_base} ({type(exc).__name__}): "
                "check pod / api_url"
            )
            raise ApiUnreachableError(msg) from None
        except RetriableAPIError as exc:
            msg = (
                f"Insightly kept failing: {exc} after {self.backoff_max_tries()} tries; stopping, "
                "state is saved for what was sent: run again later"
            )
            raise ApiKeptFailingError(msg) from None
        page.skip = skip
        return page

    def _workers(self) -> int:
        rate = float(self.config.get("requests_per_second", 5))
        return 4 if rate <= 0 else max(1, min(8, round(rate)))

    def _pages(self, context: Context | None) -> t.Iterator[Page]:
        """Pages of one query, in offset order, fetched up to ``_workers()`` at a time.

        Pages overlap by one record (skip = k * (top - 1)); see ``records``.
        """
        first = self.fetch_page(context, 0)
        self._on_first_page(context, first)
        yield first
        top = self.page_size
        if not self.resource.paged or len(first.records) < top:
            return
        step = max(1, top - 1)
        total = first.total
        if total is not None and total <= top:
            return
        workers = self._workers()
        if workers == 1 or total is None:
            k = 1
            while True:
                page = self.fetch_page(context, k * step)
                yield page
                if _last(page, top):
                    return
                k += 1
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.name)
        pending: dict[int, concurrent.futures.Future] = {}
        try:
            k = 1
            horizon = total
            while True:
                # Keep a bounded window of requests in flight; the limiter spaces them.
                ahead = k
                while len(pending) < workers + 2 and (ahead * step < horizon or ahead == k):
                    if ahead not in pending:
                        pending[ahead] = pool.submit(self.fetch_page, context, ahead * step)
                    ahead += 1
                page = pending.pop(k).result()
                if page.total is not None:
                    horizon = max(horizon, page.total)
                yield page
                if _last(page, top):
                    return
                k += 1
        finally:
            for future in pending.values():
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def records(self, context: Context | None) -> t.Iterator[dict]:
        """Every record of the query once, surviving inserts and deletes between pages.

        Offset paging shifts when records are deleted (or inserted) on earlier pages: a
        delete moves every later record one place left, so the record at a page boundary
        would be skipped and, if unchanged, never read again. Pages therefore overlap by
        one record: the first record of a page must be the last of the previous one. If
        it is not, the records were shifted and what lies between the two pages is read
        afresh (``_bridge``). When that fails (more moved than a few pages), the query is
        read again, checked the same way, up to READ_PASSES times in all; then the sync
        fails (the bookmark has not moved, so the next run reads everything again).
        """
        recent = _RecentKeys()
        for attempt in range(1, READ_PASSES + 1):
            complete = yield from self._read_pass(context, recent)
            if complete:
                return
            if attempt < READ_PASSES:
                self.logger.warning(
                    "%s: many records moved during the sync; reading the query once more",
                    self.name,
                )
        msg = (
            f"{self.name}: records kept moving during the sync ({READ_PASSES} reads of the query "
            "were each disturbed by more changes than a few pages): run again, when fewer "
            "records are being imported or deleted (state is saved for the other streams)"
        )
        raise RecordsKeptMovingError(msg)

    def _read_pass(self, context: Context | None, recent: _RecentKeys) -> t.Generator[dict, None, bool]:
        """One read of the query; returns False when a gap between pages could not be read."""
        id_field, rk = self.resource.id_field, self.replication_key
        top = self.page_size
        previous: Page | None = None
        complete = True
        for page in self._pages(context):
            recent.new_page()
            records = page.records
            if previous is not None and previous.records and len(previous.records) >= top:
                anchor = previous.records[-1].get(id_field)
                ids = [r.get(id_field) for r in records]
                if not ids or ids[0] != anchor:
                    self._progress_note("page boundary moved (records changed during the sync)")
                    if anchor not in ids:
                        bridge = self._bridge(context, previous, page)
                        if bridge is None:
                            complete = False
                        else:
                            records = [*bridge, *records]
            for record in records:
                if recent.add((record.get(id_field), record.get(rk) if rk else None)):
                    self._synced_so_far += 1
                    yield record
            self._report_progress(page)
            previous = page
        return complete

    def _bridge(self, context: Context | None, previous: Page, page: Page) -> list[dict] | None:
        """Records between two pages that no longer overlap, read afresh; None if they
        cannot be found in a few pages (then the whole query is read once more).

        The two pages may show the query at different moments, in either order (pages are
        fetched concurrently): deletes before the boundary since ``previous`` was read
        make records slip left past ``page``'s start; creates (or records that newly match
        the query) before it since ``page`` was read push ``previous``'s end further
        right than ``page``'s start. Either way the records between them are missing. Both
        pages keep their records' relative order, so in a fresh read the missing records
        are those after the last record of ``previous`` and before the first of ``page``.
        """
        step = max(1, self.page_size - 1)
        id_field = self.resource.id_field
        after = {r.get(id_field) for r in page.records}
        fresh: list[dict] = []
        skip = max(0, page.skip - step)
        for _ in range(BRIDGE_PAGES):
            window = self.fetch_page(context, skip)
            if fresh and window.records and window.records[0].get(id_field) != fresh[-1].get(id_field):
                return None  # the query moved again while it was being bridged
            fresh.extend(window.records[1:] if fresh else window.records)
            ids = [r.get(id_field) for r in fresh]
            where = {rid: i for i, rid in enumerate(ids)}
            # The last record of ``previous`` still there, by ``previous``'s own order.
            last_before = next((where[r.get(id_field)] for r in reversed(previous.records)
                                if r.get(id_field) in where), None)
            if last_before is None:
                return None  # shifted further than a page: not in this window
            first_after = next((i for i, rid in enumerate(ids) if rid in after and i > last_before), None)
            if first_after is not None or _last(window, self.page_size):
                end = len(fresh) if first_after is None else first_after
                return fresh[last_before + 1 : end]
            skip += step
        return None

    def _on_first_page(self, context: Context | None, page: Page) -> None:
        self._expected = page.total
        self._synced_so_far = 0
        self._last_progress = time.monotonic()
        if self.replication_key:
            # The bookmark never runs ahead of the API's own clock (the SDK would cap
            # it at the local clock, which may be ahead of or behind Insightly's).
            # Without a Date header, the local clock is the best there is.
            now = page.server_time or datetime.datetime.now(datetime.timezone.utc)
            self._server_now = format_rfc3339(now)
            self.state_manager.write_replication_key_signpost(self._server_now, context=context)

    def _report_progress(self, page: Page) -> None:
        """At most every few seconds: records so far, of how many, and the percentage."""
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_SECONDS:
            return
        self._last_progress = now
        expected = page.total or self._expected
        done = self._synced_so_far
        if expected:
            self.logger.info(
                "%s: %d of %d records (%d%%)", self.name, done, expected, min(100, 100 * done // expected)
            )
        else:
            self.logger.info("%s: %d records", self.name, done)

    def _progress_note(self, note: str) -> None:
        self.logger.info("%s: %s", self.name, note)

    # -- records ----------------------------------------------------------------------

    def _date_converters(self) -> list[tuple[str, t.Callable[[t.Any], t.Any]]]:
        converters = []
        special = {}
        for side in ("updated", "created"):
            field = getattr(self.resource, f"{side}_field")
            if field:
                special[field] = make_converter(
                    getattr(self.resource, f"{side}_format"), getattr(self.resource, f"{side}_timezone")
                )
        for name, prop in self.schema.get("properties", {}).items():
            if name in special:
                converters.append((name, special.pop(name)))
            elif prop.get("format") == "date-time" and not name.endswith("__c"):
                converters.append((name, insightly_to_rfc3339))
        converters.extend(special.items())
        return converters

    def _nested_date_fields(self) -> list[tuple[str, list[str]]]:
        nested = []
        for name, prop in self.schema.get("properties", {}).items():
            items = prop.get("items") or {}
            dated = [k for k, v in (items.get("properties") or {}).items() if v.get("format") == "date-time"]
            if dated and name != "CUSTOMFIELDS":
                nested.append((name, dated))
        return nested

    def transform(self, record: dict, context: Context | None) -> dict:
        """Insightly record -> Singer record: RFC 3339 dates, typed custom fields."""
        for name, convert in self._converters:
            value = record.get(name)
            if value is None:
                continue
            if convert is insightly_to_rfc3339 and type(value) is str and len(value) == 19:  # noqa: PLR2004
                # Inline fast path: "2025-04-22 20:03:25" -> "2025-04-22T20:03:25+00:00".
                record[name] = f"{value[:10]}T{value[11:]}+00:00"
            else:
                record[name] = convert(value)
        for name, dated in self._nested:
            for item in record.get(name) or ():
                for key in dated:
                    value = item.get(key)
                    if value is not None:
                        item[key] = insightly_to_rfc3339(value)
        self.custom_fields.apply(record)
        if len(record) > self._width:
            self._drop_unknown(record)
        if context and "record_type" in context:
            record["record_type"] = context["record_type"]
        return record

    @functools.cached_property
    def _width(self) -> int:
        return len(self.schema.get("properties", {}))

    def _drop_unknown(self, record: dict) -> None:
        """Fields Insightly added after this tap's schema: dropped (said once), as the
        SDK would, so targets only see declared columns."""
        known = self.schema.get("properties", {})
        extra = [name for name in record if name not in known]
        for name in extra:
            del record[name]
        if extra and not getattr(self, "_warned_unknown", False):
            self._warned_unknown = True
            self.logger.warning("%s: fields not in the schema are left out: %s", self.name, ", ".join(extra))

    @property
    def _nested(self) -> list[tuple[str, list[str]]]:
        nested = getattr(self, "_nested_cache", None)
        if nested is None:
            nested = self._nested_cache = self._nested_date_fields()
        return nested

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        try:
            if self.replication_key:
                yield from self._incremental_records(context)
            else:
                for record in self.records(context):
                    yield self.transform(record, context)
        except EndpointUnavailableError as exc:
            # Lower plans answer 403 or 404 on some endpoints; 403 also means the key's
            # user has no access. A 404 elsewhere means the URL is wrong.
            if exc.status == 403 or self.resource.plan_gated or self.resource.custom_object:  # noqa: PLR2004
                self._insightly_tap.note_unavailable(self.name)
                self.logger.warning(
                    "%s: skipped, /%s answered %d (not in this account's plan, or no access)",
                    self.name,
                    self.resource.path,
                    exc.status,
                )
                return
            msg = (
                f"Insightly answered {exc.status} for /{self.resource.path} at {self.url_base}: "
                "check pod / api_url"
            )
            raise ApiUnreachableError(msg) from None

    def _incremental_records(self, context: Context | None) -> t.Iterator[dict]:
        """Records changed since the bookmark, none of them twice.

        ``updated_after_utc`` is strictly after, at one-second precision: the query starts
        one second before the bookmark (plus any ``pollDelay`` look-back), and the record
        versions already emitted at that second (kept in state next to the bookmark) are
        skipped. A version that changed within the same second hashes differently and is
        emitted.
        """
        rk, id_field = self.replication_key, self.resource.id_field
        state = self.get_context_state(context)
        self._state_high.pop(_state_key(context), None)  # a new sync of this context
        # Unordered results cannot resume mid-stream: an interrupted stream restarts
        # from its bookmark. (Set here so the SDK does not warn once per stream.)
        state["progress_markers"] = {"Note": "Progress is not resumable if interrupted."}
        start = self.get_starting_timestamp(context)
        start_value = format_rfc3339(start) if start else None
        look_back = datetime.timedelta(seconds=self.resource.look_back)
        emitted = self._emitted_at(state, start_value)
        self._query_from = None
        if start is not None:
            self._query_from = format_query_time(start - datetime.timedelta(seconds=1) - look_back)
            # Seed the SDK's unsorted-stream maximum with the bookmark, so a look-back
            # never moves the bookmark backwards.
            self.state_manager.increment_state({rk: start_value}, context=context, replication_key=rk)
        self._server_now = None
        highest = ""  # the highest replication value emitted

        def bookmark_now() -> str:
            # What the SDK will write: max(bookmark, highest emitted), capped at the
            # server's time at the start of the stream.
            value = max(start_value or "", highest)
            cap = self._server_now
            return min(value, cap) if cap and value else value

        def window_start(value: str) -> str:
            if not look_back or not value:
                return value
            return format_rfc3339(parse_rfc3339(value) - look_back)

        candidates: dict[t.Any, tuple[str, dict]] = {}
        threshold = window_start(start_value or "")
        # The SDK's own per-record path may drop deselected properties from the record
        # in place: keep the version as read for the digest.
        copy_needed = self._fast_record_writer is None
        for raw in self.records(context):
            record = self.transform(raw, context)
            value = record.get(rk)
            record_id = record.get(id_field)
            if emitted and value is not None and str(record_id) in emitted:
                before = emitted[str(record_id)]
                if before[0] == value and before[1] == self._digest(record):
                    candidates[record_id] = (value, record)
                    continue
            if value is not None:
                if value > highest:
                    highest = value
                    new_threshold = window_start(bookmark_now())
                    if new_threshold != threshold:
                        threshold = new_threshold
                        if len(candidates) > 1000:  # noqa: PLR2004
                            candidates = {k: v for k, v in candidates.items() if v[0] >= threshold}
                if value >= threshold:
                    candidates[record_id] = (value, record)
                    if copy_needed:
                        record = dict(record)
            yield record
        final = bookmark_now()
        if final:
            threshold = window_start(final)
            versions = {k: v for k, v in emitted.items() if v[0] >= threshold}
            versions.update(
                {str(k): [v, self._digest(rec)] for k, (v, rec) in candidates.items() if v >= threshold}
            )
            state[VERSIONS_KEY] = {"bookmark": final, "versions": versions}

    def _emitted_at(self, state: dict, bookmark: str | None) -> dict[str, list]:
        """The state's memo of versions already sent at the bookmark's second.

        A memo that is not of the tap's making (edited state) is ignored with a warning:
        it only spares re-sending a few versions, so nothing is lost without it.
        """
        memo = state.get(VERSIONS_KEY)
        if not memo:
            return {}
        versions = memo.get("versions") if isinstance(memo, dict) else None
        if not isinstance(versions, dict) or not all(
            isinstance(v, list) and len(v) == 2 for v in versions.values()  # noqa: PLR2004
        ):
            self.logger.warning(
                "%s: ignoring the malformed %s in the state (records at the bookmark's second "
                "may be sent again)",
                self.name,
                VERSIONS_KEY,
            )
            return {}
        return dict(versions) if bookmark and memo.get("bookmark") == bookmark else {}

    @override
    def get_starting_timestamp(self, context: Context | None) -> datetime.datetime | None:
        try:
            start = super().get_starting_timestamp(context)
            if start is not None and start.year < EARLIEST_YEAR:
                raise ValueError
        except (ValueError, TypeError):
            value = self.get_starting_replication_key_value(context)
            msg = (
                f"the state's bookmark for stream {self.name} ({value!r}) is not a date-time "
                f"from {EARLIEST_YEAR} on, such as 2024-01-31T00:00:00Z: correct it (meltano state merge) "
                "or run with --full-refresh"
            )
            raise InvalidStateError(msg) from None
        return start

    @override
    def _process_record(
        self,
        record: dict,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        # SDK hook (private, singer-sdk ~=0.54.9), called once per record: it copies the
        # partition's keys into the record (transform() already did: record_type) and
        # syncs child streams, which no stream here has.
        if self.child_streams or (partition_context and not partition_context.keys() <= record.keys()):
            super()._process_record(record, child_context, partition_context)

    @override
    def _increment_stream_state(self, latest_record: dict, *, context: Context | None = None) -> None:
        # SDK hook (private, singer-sdk ~=0.54.9), called once per record. For an unsorted
        # stream the SDK's state keeps the highest replication value seen, so a record
        # not above that changes nothing: skip the SDK's per-record work for it.
        value = latest_record.get(self.replication_key) if self.replication_key else None
        key = _state_key(context)
        high = self._state_high.get(key)
        if value is not None and high is not None and value <= high:
            return
        super()._increment_stream_state(latest_record, context=context)
        if value is not None:
            self._state_high[key] = value

    @override
    def _write_record_message(self, record: dict) -> None:
        # SDK hook (private, singer-sdk ~=0.54.9): per-record messages without the SDK's
        # per-record work when it would change nothing (no stream maps or flattening,
        # every property selected, records already typed). Otherwise the SDK's path.
        write = self._fast_record_writer
        if write is None:
            try:
                super()._write_record_message(record)
            except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError, MappingError) as exc:
                if all(type(m) is SameRecordTransform for m in self.stream_maps):
                    raise
                # A stream map expression failing on some record (a null, a zero): the
                # SDK lets the evaluator's error through as a traceback naming neither.
                cause = exc.__cause__ if isinstance(exc, MappingError) and exc.__cause__ else exc
                msg = (
                    f"stream_maps for stream '{self.name}' failed on a record "
                    f"({type(cause).__name__}: {str(cause)[:120]}): fix the expression, e.g. for null values"
                )
                raise StreamMapFailedError(msg) from None
            return
        write(record)
        self.state_manager.is_flushed = False

    @functools.cached_property
    def _fast_record_writer(self) -> t.Callable[[dict], None] | None:
        writer = self._tap.message_writer
        if not isinstance(writer, BufferedMsgSpecWriter):
            return None
        maps = self.stream_maps
        if len(maps) != 1 or type(maps[0]) is not SameRecordTransform or maps[0].flattening_enabled:
            return None
        mask = self.mask
        if not all(mask.get(("properties", name), True) for name in self.schema.get("properties", {})):
            return None
        if self.emit_activate_version_messages or self.get_batch_config(self.config):
            return None
        return writer.record_writer(maps[0].stream_alias)

    def _digest(self, record: dict) -> str:
        """A fingerprint of the record's content as Insightly holds it.

        Custom-field columns and empty custom fields are left out: a custom field added
        to the account (a new null column, or a new null entry in CUSTOMFIELDS) is not a
        change of the record.
        """
        columns = self.custom_fields.column_names
        view = {k: v for k, v in record.items() if k not in columns} if columns else dict(record)
        entries = view.get("CUSTOMFIELDS")
        if entries:
            view["CUSTOMFIELDS"] = [e for e in entries if e.get("FIELD_VALUE") is not None]
        return hashlib.blake2b(_encode(view), digest_size=8).hexdigest()

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        # Replaced by the server's Date header (see _on_first_page).
        return None

    @override
    def log_sync_costs(self) -> None:
        self._insightly_tap.stream_finished()




def _state_key(context: Context | None) -> tuple:
    return tuple(context.items()) if context else ()


def _last(page: Page, top: int) -> bool:
    if len(page.records) < top:
        return True
    return page.total is not None and page.skip + len(page.records) >= page.total


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "error"
    response = getattr(exc, "response", None)
    if response is not None:
        return f"{response.status_code} from {requests.utils.urlparse(response.url).path}"
    return type(exc).__name__
