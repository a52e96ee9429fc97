"""tap-insightly: every Insightly CRM resource as an incremental Singer stream."""

from __future__ import annotations

import contextlib
import decimal
import functools
import io
import json
import math
import os
import sys
import threading
import typing as t
from urllib.parse import urlsplit

from singer_sdk.tap_base import CliTestOptionValue, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers._classproperty import classproperty
from typing_extensions import override

from tap_insightly import custom_fields as cf
from tap_insightly.client import (
    ApiStats,
    ApiUnreachableError,
    EndpointUnavailableError,
    InsightlyStream,
    RequestLimiter,
    UserFacingError,
)
from tap_insightly.dates import EARLIEST_YEAR, parse_rfc3339
from tap_insightly.output import BufferedMsgSpecWriter
from tap_insightly.poller_config import PollerConfigError, parse_poller_configuration
from tap_insightly.resources import RESOURCES, Resource, custom_object_resource
from tap_insightly.streams import make_stream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

MAX_REQUESTS_PER_SECOND = 10
MAX_PAGE_SIZE = 500
# Pages overlap by one record to detect shifts between requests: at least two per page.
MIN_PAGE_SIZE = 2
MIN_REQUESTS_PER_SECOND = 0.1


class SettingError(UserFacingError, ConfigValidationError):
    """A setting is wrong: the message names it and says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, errors=[message])


class _DiscoveryStream(InsightlyStream):
    """Reads the metadata endpoints (``/CustomObjects``, ``/CustomFields/{object}``)."""

    resource = Resource(
        name="discovery", path="CustomObjects", key=("OBJECT_NAME",), searchable=False,
        updated_field=None, created_field=None, paged=False,
    )

    def read(self, path: str) -> list[dict]:
        self.resource = self.resource.replace(path=path)
        self.path = path
        return self.fetch_page(None, 0).records


class TapInsightly(Tap):
    """Singer tap for Insightly CRM (API v3.1)."""

    name = "tap-insightly"
    # Streams depend on the account (custom objects), so --discover validates settings.
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            title="API key",
            description=(
                "Insightly API key (User Settings, API section of the web app). Sent as the "
                "HTTP Basic user name with an empty password; never logged."
            ),
        ),
        th.Property(
            "pod",
            th.StringType,
            default="na1",
            title="Pod",
            description=(
                "The pod of the Insightly account, as in https://api.POD.insightly.com "
                "(na1, eu1, au1, ...). Ignored when api_url is set."
            ),
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API URL",
            description=(
                "Full base URL of the API including /v3.1, e.g. https://api.eu1.insightly.com/v3.1. "
                "Overrides pod. Point it at a local sandbox for tests and demos."
            ),
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description=(
                "RFC 3339 date-time: on a first run, read only records updated after it. "
                "Absent: all history."
            ),
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=MAX_PAGE_SIZE,
            title="Page size",
            description="Records per request (top), 2 to 500. Fewer requests with larger pages.",
        ),
        th.Property(
            "requests_per_second",
            th.NumberType,
            default=5,
            title="Requests per second",
            description=(
                "Client-side limit on API requests started per second, shared by all streams; "
                "at most 10 (Insightly's per-account limit). Pages are fetched concurrently "
                "within it. 0 turns the limit off: for the local sandbox or behind your own "
                "rate-limiting proxy (Insightly answers bursts with 429, which are retried)."
            ),
        ),
        th.Property(
            "quota_reserve",
            th.IntegerType,
            default=0,
            title="Quota reserve",
            description=(
                "Stop cleanly, with state saved, when X-RateLimit-Remaining (requests left of "
                "the daily quota) falls below this number, leaving them for other integrations."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            title="User agent",
            description="User-Agent header sent with every request.",
        ),
        th.Property(
            "custom_fields_as_columns",
            th.BooleanType,
            default=True,
            title="Custom fields as columns",
            description=(
                "Also emit each custom field as a typed top-level property named after it "
                "(e.g. Hobby__c), so database targets get real columns. CUSTOMFIELDS is kept."
            ),
        ),
        th.Property(
            "poller_configuration",
            th.CustomType({"type": ["object", "string"]}),
            title="Poller configuration",
            description=(
                "Open Connectors event.poller.configuration (an object, or the same as a JSON "
                "string) keyed by resource: url, idField, datesConfiguration, pageSize, "
                "pollDelay. Overrides the defaults or adds resources; its keys become stream "
                "names (accounts, contacts, leads, opportunities)."
            ),
        ),
    ).to_dict()

    # -- settings ---------------------------------------------------------------------

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:  # noqa: N805
        # The SDK turns integer settings from the environment into int() (a bad value
        # ends in a traceback) and leaves numbers as text: read them all as text here
        # and let _validate_config convert them with a clear message.
        schema = json.loads(json.dumps(cls.config_jsonschema))
        cls.append_builtin_config(schema)
        for name in ("page_size", "requests_per_second", "quota_reserve", "poller_configuration"):
            schema["properties"][name] = {"type": ["string"]}
        from singer_sdk.configuration._dict_config import parse_environment_config  # noqa: PLC0415

        return parse_environment_config(schema, cls._env_var_prefix)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        try:
            self._check_settings()
        except SettingError as exc:
            if raise_errors:
                raise
            self.logger.warning("%s", exc)
            return [str(exc)]
        return super()._validate_config(raise_errors=raise_errors)

    def _check_settings(self) -> None:  # noqa: C901, PLR0912
        """Check (and normalise) every setting before any request is made."""
        config = self._config
        key = config.get("api_key")
        if not isinstance(key, str) or not key.strip():
            msg = "setting api_key is missing: set it to the Insightly API key (User Settings > API)"
            raise SettingError(msg)
        for name in ("pod", "api_url", "user_agent"):
            if config.get(name) is not None and not isinstance(config[name], str):
                msg = f"setting {name} must be text"
                raise SettingError(msg)
        pod = config.get("pod") or "na1"
        if not config.get("api_url") and not all(c.isalnum() or c == "-" for c in pod):
            msg = f"setting pod {pod!r} is not a pod name such as na1, eu1 or au1"
            raise SettingError(msg)
        if config.get("api_url"):
            parts = urlsplit(config["api_url"])
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                msg = (
                    "setting api_url is not an http(s) URL: give the full base URL including "
                    "/v3.1, e.g. https://api.na1.insightly.com/v3.1"
                )
                raise SettingError(msg)
            # Not echoed: a user name, password or token in the URL would be a secret.
            # The API key goes in api_key; Insightly takes no query on the base URL.
            if "@" in parts.netloc or parts.query or parts.fragment:
                msg = (
                    "setting api_url must not carry a user name, password, query or fragment: "
                    "give only the base URL, e.g. https://api.na1.insightly.com/v3.1, and the key "
                    "in api_key"
                )
                raise SettingError(msg)
        if config.get("start_date") is not None:
            try:
                start = parse_rfc3339(str(config["start_date"]))
            except ValueError:
                msg = (
                    f"setting start_date {config['start_date']!r} is not an RFC 3339 date-time "
                    "such as 2024-01-31T00:00:00Z"
                )
                raise SettingError(msg) from None
            if start.year < EARLIEST_YEAR:
                msg = (
                    f"setting start_date {config['start_date']!r} is before {EARLIEST_YEAR}: "
                    "leave start_date out to read all history"
                )
                raise SettingError(msg)
        config["page_size"] = _number(config, "page_size", int, MIN_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        config["requests_per_second"] = _number(
            config, "requests_per_second", float, 0, MAX_REQUESTS_PER_SECOND, 5
        )
        if 0 < config["requests_per_second"] < MIN_REQUESTS_PER_SECOND:
            # Slower than one request every ten seconds: a sync that seems to hang.
            msg = (
                f"setting requests_per_second is {config['requests_per_second']:g}: give at least "
                f"{MIN_REQUESTS_PER_SECOND:g}, or 0 for no client-side limit"
            )
            raise SettingError(msg)
        config["quota_reserve"] = _number(config, "quota_reserve", int, 0, None, 0)
        if isinstance(config.get("custom_fields_as_columns"), str):
            config["custom_fields_as_columns"] = config["custom_fields_as_columns"].lower() in {
                "true", "1", "yes", "on",
            }
        try:
            rows, warnings = parse_poller_configuration(config.get("poller_configuration"))
        except PollerConfigError as exc:
            msg = f"setting {exc}"
            raise SettingError(msg) from None
        self._poller_rows = rows
        self._poller_warnings = warnings

    # -- shared by all streams -----------------------------------------------------------

    @functools.cached_property
    def base_url(self) -> str:
        url = self.config.get("api_url") or f"https://api.{self.config.get('pod') or 'na1'}.insightly.com/v3.1"
        return url.rstrip("/")

    @functools.cached_property
    def limiter(self) -> RequestLimiter:
        return RequestLimiter(float(self.config.get("requests_per_second", 5)))

    @functools.cached_property
    def api_stats(self) -> ApiStats:
        return ApiStats()

    @functools.cached_property
    def _run_lock(self) -> threading.Lock:
        return threading.Lock()

    def note_unavailable(self, stream_name: str) -> None:
        with self._run_lock:
            self._unavailable = [*getattr(self, "_unavailable", []), stream_name]

    def stream_finished(self) -> None:
        """Called once per stream at the end of a sync (the SDK's cost-logging hook)."""
        with self._run_lock:
            self._finished = getattr(self, "_finished", 0) + 1
            last = self._finished == len(self.streams)
        if not last:
            return
        self.log_run_summary()
        selected = [s.name for s in self.streams.values() if s.selected]
        unavailable = set(getattr(self, "_unavailable", []))
        if selected and unavailable >= set(selected):
            msg = (
                f"every selected stream was refused by Insightly at {self.base_url} (403/404): "
                "check pod / api_url and the key's permissions"
            )
            raise ApiUnreachableError(msg)

    def log_run_summary(self) -> None:
        stats = self.api_stats
        remaining = "unknown" if stats.remaining is None else f"{stats.remaining}"
        limit = "" if stats.limit is None else f" of {stats.limit}"
        self.logger.info(
            "Run used %d API requests; daily quota remaining: %s%s", stats.requests, remaining, limit
        )

    # -- streams ------------------------------------------------------------------------

    def resource_rows(self) -> list[Resource]:
        """The resource table with the poller_configuration's rows applied."""
        if not hasattr(self, "_poller_rows"):
            self._check_settings()
        for warning in self._poller_warnings:
            self.logger.warning("%s", warning)
        self._poller_warnings = []
        rows = {row.name: row for row in RESOURCES}
        for row in self._poller_rows:
            rows[row.name] = row
        return list(rows.values())

    def _discovery(self) -> _DiscoveryStream:
        return _DiscoveryStream(self, schema={"type": "object", "properties": {}})

    def _read_metadata(self, reader: _DiscoveryStream, path: str, *, optional: bool) -> list[dict]:
        try:
            return reader.read(path)
        except EndpointUnavailableError as exc:
            if optional:
                return []
            msg = f"Insightly answered {exc.status} for /{path} at {self.base_url}: check pod / api_url"
            raise ApiUnreachableError(msg) from None

    @override
    def discover_streams(self) -> list[Stream]:
        rows = self.resource_rows()
        as_columns = bool(self.config.get("custom_fields_as_columns", True))
        catalog = self.input_catalog
        known = {row.name for row in rows}
        reader = None
        if catalog is not None:
            # Sync with a catalog: take custom fields from its schemas (no requests) and
            # look custom objects up only when the catalog selects streams we do not know
            # (a custom object's path keeps its case, e.g. Fruit__c, which the catalog lacks).
            # Unselected unknown entries are left out: they would not be synced anyway.
            unknown = [entry.tap_stream_id for entry in catalog.streams
                       if entry.tap_stream_id not in known and _selected(catalog, entry.tap_stream_id)]
            # Open Connectors polled what its poller configuration listed; here selection
            # decides, so a configured stream left unselected is a likely mistake.
            for row in self._poller_rows:
                if not _selected(catalog, row.name):
                    self.logger.warning(
                        "poller_configuration configures %r, but the catalog does not select it, "
                        "so it is not polled: select it (meltano select tap-insightly %s '*')",
                        row.name,
                        row.name,
                    )
            objects: list[dict] = []
            if unknown:
                reader = self._discovery()
                objects = self._read_metadata(reader, "CustomObjects", optional=False)
            by_name = {o["OBJECT_NAME"].lower(): o["OBJECT_NAME"] for o in objects if o.get("OBJECT_NAME")}
            for name in unknown:
                if name in by_name:
                    rows.append(custom_object_resource(by_name[name]))
                elif _selected(catalog, name):
                    msg = (
                        f"the catalog selects stream {name!r}, which this account does not have "
                        "(no such resource or custom object): refresh the catalog (--discover)"
                    )
                    raise SettingError(msg)
            streams = []
            for row in rows:
                entry = catalog.get_stream(row.name)
                schema = entry.schema.to_dict() if entry is not None else {}
                fields = cf.from_schema(schema) if row.has_custom_fields else []
                if row.has_custom_fields and not as_columns and _selected(catalog, row.name):
                    # Without columns the catalog does not carry the custom fields' types.
                    reader = reader or self._discovery()
                    fields = cf.from_metadata(
                        self._read_metadata(reader, f"CustomFields/{row.path}", optional=True)
                    )
                streams.append(make_stream(self, row, cf.CustomFieldMapper(fields, as_columns=as_columns)))
            return streams
        reader = self._discovery()
        objects = self._read_metadata(reader, "CustomObjects", optional=False)
        for definition in objects:
            name = definition.get("OBJECT_NAME")
            if name and name.lower() not in known:
                rows.append(custom_object_resource(name))
        streams = []
        fields_by_path: dict[str, list[cf.CustomField]] = {}
        for row in rows:
            fields: list[cf.CustomField] = []
            if row.has_custom_fields:
                if row.path not in fields_by_path:
                    fields_by_path[row.path] = cf.from_metadata(
                        self._read_metadata(reader, f"CustomFields/{row.path}", optional=True)
                    )
                fields = fields_by_path[row.path]
            streams.append(make_stream(self, row, cf.CustomFieldMapper(fields, as_columns=as_columns)))
        return streams

    # -- signals -------------------------------------------------------------------------

    @override
    def sync_all(self) -> None:
        self._syncing = True
        super().sync_all()

    @override
    def _handle_termination(self, signum: int, frame: t.Any) -> None:  # noqa: ANN401
        # The SDK writes the state and exits 0, during discovery too: Meltano then takes
        # that STATE line for the catalog, selects nothing and reports success (and caches
        # the catalog). Stopped, the tap exits 128 + signal, writing state only mid-sync
        # (it holds progress markers only: the bookmark does not move past unread records).
        syncing = getattr(self, "_syncing", False)
        if syncing:
            with contextlib.suppress(Exception):
                if isinstance(self.message_writer, BufferedMsgSpecWriter):
                    self.message_writer.drop_partial_record()
                self._state_writer.write_state(self.state)
        self.logger.error(
            "Stopped by signal %d during %s: run again to continue",
            signum,
            "the sync" if syncing else "discovery",
        )
        sys.stdout.flush()
        os._exit(128 + signum)

    # -- command line -------------------------------------------------------------------

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,  # noqa: ANN401
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        with _user_errors(cls):
            if state is not None:
                state = io.StringIO(_read_json_file(state, "--state", "a state file from a previous run"))
            if catalog is not None:
                catalog = io.StringIO(_read_json_file(catalog, "--catalog", "a catalog from --discover"))
            super().invoke(
                about=about, about_format=about_format, config=config, state=state, catalog=catalog
            )

    @classmethod
    @override
    def cb_config(cls, ctx: t.Any, param: t.Any, value: tuple[str, ...]) -> t.Any:  # noqa: ANN401
        for path in value:
            if path == "ENV":
                continue
            try:
                with open(path, encoding="utf-8") as handle:  # noqa: PTH123
                    _read_json_file(handle, "--config", "a JSON object of settings")
            except OSError as exc:
                cls.logger.error("--config %s cannot be read (%s)", path, exc.strerror or exc)  # noqa: TRY400
                ctx.exit(1)
            except UserFacingError as exc:
                cls.logger.error("%s", exc)  # noqa: TRY400
                ctx.exit(1)
        return super().cb_config(ctx, param, value)

    @classmethod
    @override
    def cb_discover(cls, ctx: t.Any, param: t.Any, value: bool) -> None:  # noqa: ANN401, FBT001
        if value:
            _close_file_options(ctx)
        with _user_errors(cls):
            super().cb_discover(ctx, param, value)

    @classmethod
    @override
    def cb_test(cls, ctx: t.Any, param: t.Any, value: str) -> None:  # noqa: ANN401
        if value != CliTestOptionValue.Disabled.value:
            _close_file_options(ctx)
        with _user_errors(cls):
            super().cb_test(ctx, param, value)


def _close_file_options(ctx: t.Any) -> None:  # noqa: ANN401
    # --discover and --test exit from their callbacks: a --state or --catalog file that
    # click opened before them would be left open (Meltano discovers with --state given).
    for value in ctx.params.values():
        if hasattr(value, "close") and hasattr(value, "read"):
            value.close()


def _selected(catalog: t.Any, name: str) -> bool:  # noqa: ANN401
    entry = catalog.get_stream(name)
    if entry is None:
        return False
    metadata = entry.metadata.root
    return bool(metadata.selected or (metadata.selected is None and metadata.selected_by_default))


def _number(
    config: dict, name: str, kind: type, low: float, high: float | None, default: float
) -> t.Any:  # noqa: ANN401
    value = config.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        value = None
    try:
        # Meltano hands `decimal` settings from meltano.yml over as Decimal.
        number = kind(value) if isinstance(value, (int, float, str, decimal.Decimal)) else None
        if kind is int and isinstance(value, (float, decimal.Decimal)) and value != int(value):
            number = None
        if number is not None and not math.isfinite(number):
            number = None
        if kind is int and isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            number = None
    except ValueError:
        number = None
    if number is None:
        noun = "a whole number" if kind is int else "a number"
        msg = f"setting {name} must be {noun}, got {value!r}"
        raise SettingError(msg)
    if number < low or (high is not None and number > high):
        bound = f"{low:g} to {high:g}" if high is not None else f"{low:g} or more"
        msg = f"setting {name} is {number:g}, out of range ({bound})"
        raise SettingError(msg)
    return number


def _read_json_file(handle: t.IO[str], option: str, what: str) -> str:
    name = getattr(handle, "name", option)
    with handle:
        text = handle.read()
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{option} {name} is not JSON ({exc.msg} at line {exc.lineno}): give {what}"
        raise UserFacingError(msg) from None
    return text


@contextlib.contextmanager
def _user_errors(cls: type[TapInsightly]) -> t.Iterator[None]:
    """User errors end the command with one line on stderr and exit code 1."""
    try:
        yield
    except ConfigValidationError as exc:
        errors = exc.errors or [str(exc)]
        for error in errors[:1] if isinstance(exc, SettingError) else errors:
            cls.logger.error("%s", error)
        sys.exit(1)
    except UserFacingError as exc:
        cls.logger.error("%s", exc)
        sys.exit(1)
    except FatalAPIError as exc:
        cls.logger.error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    TapInsightly.cli()
