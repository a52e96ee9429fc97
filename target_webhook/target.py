"""target-webhook: Singer records become signed change events POSTed to a callback URL.

The tap's STATE is written to stdout only once every event from the records received
before it has been acknowledged by the receiver with a 2xx, and as soon as that happens;
stdout carries nothing else (Meltano stores each line as the pipeline's state).
"""

from __future__ import annotations

import copy
import decimal
import gzip
import ipaddress
import json
import os
import re
import select
import sys
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import click
import msgspec
from typing_extensions import override

from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchFileFormat, StorageTarget
from singer_sdk.exceptions import (
    ConfigValidationError,
    InvalidJSONSchema,
    InvalidRecord,
    MappingError,
    RecordsWithoutSchemaException,
)
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.plugin_base import JSONSchemaValidator, _ConfigInput
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.target_base import Target
from target_webhook.delivery import Deliverer, DeliveryError, RetryPolicy
from target_webhook.events import (
    OPEN_CONNECTORS,
    PAYLOAD_FORMATS,
    Envelope,
    MissingKeyError,
    OversizedEventError,
    StreamRules,
    build_messages,
    to_json,
)
from target_webhook.signing import InvalidKeyError, Signer, keys_of
from target_webhook.sinks import WebhookSink

if t.TYPE_CHECKING:
    from types import FrameType

    from jsonschema import ValidationError

    from target_webhook.events import Event

# How long SIGTERM waits for requests already in flight before writing the last
# acknowledged state and exiting.
SHUTDOWN_GRACE_SECONDS = 5.0
# How long a run that failed goes on reading (and dropping) the tap's output, so that the
# tap can finish writing (see discard_input).
DISCARD_INPUT_SECONDS = 60.0
# After a signal: the tap was most likely signalled too and stops writing at once.
SIGNAL_DISCARD_INPUT_SECONDS = 5.0

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "elements-webhook-signature",
    "elements-webhook-id",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
}

_STREAM_SETTINGS = th.ObjectType(
    th.Property(
        "object_type",
        th.StringType(min_length=1),
        description="objectType of this stream's events (default: the stream name).",
    ),
    th.Property(
        "created_date_field",
        th.StringType,
        description=(
            "Record field with the creation date (default DATE_CREATED_UTC; empty: none)."
        ),
    ),
    th.Property(
        "updated_date_field",
        th.StringType,
        description=(
            "Record field with the last-update date (default DATE_UPDATED_UTC; empty: "
            "none, and events carry a null date)."
        ),
    ),
    th.Property(
        "created_check_tolerance_seconds",
        th.IntegerType(minimum=0),
        description="This stream's override of created_check_tolerance_seconds.",
    ),
    additional_properties=False,
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "callback_url",
        th.StringType(min_length=1),
        required=True,
        title="Callback URL",
        description=(
            "URL that receives the events by POST. Must be https, or http to a loopback "
            "host (127.0.0.1, ::1, localhost) unless allow_insecure_http is true. "
            "Redirects are not followed. Proxies and CA bundles come from the standard "
            "HTTPS_PROXY, HTTP_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE environment "
            "variables."
        ),
    ),
    th.Property(
        "allow_insecure_http",
        th.BooleanType,
        title="Allow insecure HTTP",
        default=False,
        description=(
            "Allow a plain http callback_url to a host other than loopback (events and "
            "signatures then travel unencrypted)."
        ),
    ),
    th.Property(
        "signature_key",
        # One type list, not oneOf: the SDK cannot read a oneOf setting from the
        # environment (--config ENV), and reads this one as a JSON list or a single key.
        th.CustomType({"type": ["string", "array"], "items": {"type": "string"}}),
        title="Signature key",
        secret=True,
        description=(
            "HMAC key signing every request (Elements-Webhook-Signature and Standard "
            "Webhooks webhook-signature). A key written whsec_BASE64 is base64-decoded for "
            "Standard Webhooks. During a key rotation give a list (in an environment "
            "variable, a JSON list; a single key there must not contain a comma): each "
            "key adds a Standard Webhooks signature, the first key makes the Elements "
            "signature."
        ),
    ),
    th.Property(
        "payload_format",
        th.StringType,
        title="Payload format",
        default=OPEN_CONNECTORS,
        allowed_values=list(PAYLOAD_FORMATS),
        description=(
            "open-connectors (the Open Connectors polling callback body) or cloudevents "
            "(a CloudEvents 1.0 JSON batch)."
        ),
    ),
    th.Property(
        "events_per_request",
        th.IntegerType(minimum=1, maximum=1000),
        title="Events per request",
        default=10,
        description=(
            "Most events in one request, 1 to 1000 (Open Connectors sent 10). Each "
            "request carries events of one objectType."
        ),
    ),
    th.Property(
        "max_request_bytes",
        th.IntegerType(minimum=1024),
        title="Max request bytes",
        default=1000000,
        description=(
            "Largest request body in bytes; a group of events that would exceed it is "
            "split. A single event larger than this fails the run."
        ),
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1, maximum=64),
        title="Max concurrent requests",
        default=4,
        description=(
            "Requests in flight at once. Events of one object are never in two requests "
            "at once and arrive in the order received."
        ),
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType(minimum=1, maximum=600),
        title="Request timeout (seconds)",
        default=30,
        description="Seconds to wait for the receiver to connect and to answer.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=100),
        title="Max retries",
        default=8,
        description=(
            "Retries of a request after a connection error, timeout, 408, 429 or 5xx "
            "before the run fails. Other answers (redirects, 410, other 4xx) fail at once."
        ),
    ),
    th.Property(
        "retry_initial_delay_ms",
        th.IntegerType(minimum=0),
        title="Initial retry delay (ms)",
        default=1000,
        description=(
            "Wait before the first retry in milliseconds; it doubles on each retry up to "
            "retry_max_delay_ms, with random jitter, and never shorter than Retry-After."
        ),
    ),
    th.Property(
        "retry_max_delay_ms",
        th.IntegerType(minimum=0),
        title="Max retry delay (ms)",
        default=60000,
        description=(
            "Longest backoff between retries in milliseconds (a receiver's Retry-After "
            "may ask for longer, up to an hour)."
        ),
    ),
    th.Property(
        "headers",
        th.ObjectType(additional_properties=th.StringType),
        title="Extra headers",
        secret=True,
        description=(
            "Extra request headers, name to value, such as Authorization. Values are "
            "secret and never logged."
        ),
    ),
    th.Property(
        "element_key",
        th.StringType(min_length=1),
        title="Element key",
        default="insightly",
        description="elementKey of messages and events (and the CloudEvents type prefix).",
    ),
    th.Property(
        "hub_key",
        th.StringType(min_length=1),
        title="Hub key",
        default="crm",
        description="hubKey of events.",
    ),
    th.Property(
        "instance_id",
        th.IntegerType,
        title="Instance ID",
        description="instanceId of messages (and the CloudEvents source).",
    ),
    th.Property(
        "instance_name",
        th.StringType,
        title="Instance name",
        description="instanceName of messages.",
    ),
    th.Property(
        "instance_tags",
        th.ArrayType(th.StringType),
        title="Instance tags",
        default=[],
        description="instanceTags of messages.",
    ),
    th.Property(
        "created_check_tolerance_seconds",
        th.IntegerType(minimum=0),
        title="Created check tolerance (seconds)",
        default=0,
        description=(
            "A record is CREATED when its created and updated dates differ by at most "
            "this many seconds, else UPDATED."
        ),
    ),
    th.Property(
        "streams",
        th.ObjectType(additional_properties=_STREAM_SETTINGS),
        title="Per-stream settings",
        default={},
        description=(
            "Per-stream overrides keyed by stream name: object_type, created_date_field, "
            "updated_date_field, created_check_tolerance_seconds."
        ),
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        title="Validate records",
        default=False,
        description=(
            "Check records against their stream schema before sending (slower). Records "
            "are always forwarded as the tap sent them."
        ),
    ),
).to_dict()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def signature_keys(value: str | list[str] | None) -> tuple[str, ...]:
    """The signature_key setting as keys.

    An environment variable can only hold a string, so a string that is a JSON list is
    read as the list of keys of a rotation.

    Raises:
        ValueError: a string that starts like a JSON list but is not a list of strings.
    """
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(k, str) for k in parsed):
            msg = "a value starting with '[' must be a JSON list of keys"
            raise ValueError(msg)
        return tuple(parsed)
    keys = keys_of(value)
    if any(key.lstrip().startswith("[") for key in keys):
        # What the SDK makes of a broken JSON list in an environment variable.
        msg = "a key starts with '[': give a list of keys as a valid JSON list"
        raise ValueError(msg)
    return keys


def settings_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with schema-valid settings (never quoting secret values)."""
    problems = []
    url = config.get("callback_url", "")
    parts = urlsplit(url)
    try:
        _ = parts.port
    except ValueError:
        problems.append("callback_url has an invalid port")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.append(
            "callback_url must be an absolute http(s) URL such as "
            "https://example.com/events",
        )
    elif parts.scheme == "http" and not (
        _is_loopback(parts.hostname) or config.get("allow_insecure_http")
    ):
        problems.append(
            "callback_url uses plain http to a host that is not loopback: use https, "
            "or set allow_insecure_http to true",
        )
    if any(char.isspace() for char in url):
        problems.append("callback_url must not contain spaces")
    if "@" in parts.netloc:
        # Credentials in the URL are not sent (no Basic auth from userinfo) and would be
        # logged with the URL.
        problems.append(
            "callback_url must not contain a user name or password: send credentials with "
            "the headers setting, e.g. {\"Authorization\": \"Basic ...\"}",
        )
    initial, ceiling = config.get("retry_initial_delay_ms", 1000), config.get("retry_max_delay_ms", 60000)
    if isinstance(initial, int) and isinstance(ceiling, int) and initial > ceiling:
        problems.append(
            f"retry_initial_delay_ms ({initial}) is larger than retry_max_delay_ms ({ceiling}): "
            "the first wait would be cut to the ceiling; raise the ceiling or lower the first wait",
        )
    if config.get("signature_key") in ("", []):
        # An unset secret expanded to nothing: signing would be off without a word.
        problems.append(
            "signature_key is empty: set the key, or leave the setting out to send unsigned "
            "requests",
        )
    try:
        keys = signature_keys(config.get("signature_key"))
    except ValueError as exc:
        problems.append(f"signature_key: {exc}")
        keys = ()
    for one in keys:
        try:
            Signer([one])
        except InvalidKeyError as exc:
            problems.append(f"signature_key: {exc}")
    if any(not one for one in keys):
        problems.append("signature_key: a key in the list is empty")
    for name, value in (config.get("headers") or {}).items():
        if not _HEADER_NAME.match(name):
            problems.append(f"headers: '{name}' is not a valid header name")
        elif name.lower() in _RESERVED_HEADERS:
            problems.append(
                f"headers: '{name}' is set by target-webhook itself and cannot be "
                "overridden",
            )
        elif "\r" in value or "\n" in value:
            problems.append(f"headers: the value of '{name}' contains a line break")
        elif not value.isascii() and not _latin_1(value):
            problems.append(
                f"headers: the value of '{name}' has characters an HTTP header cannot carry "
                "(only Latin-1): encode it, e.g. as base64",
            )
    return problems


def _latin_1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def unreadable_environment_settings(schema: dict, prefix: str) -> list[str]:
    """The environment variables whose text cannot become their setting's type.

    The SDK reads an integer setting with int() and an object or list as JSON, and fails
    without saying which variable: this names them (never their values).
    """
    names = []
    for name, prop in schema.get("properties", {}).items():
        variable = prefix + name.upper().replace("-", "_")
        text = os.environ.get(variable)
        if text is None:
            continue
        types = prop.get("type", [])
        types = [types] if isinstance(types, str) else types
        try:
            if "integer" in types:
                int(text)
            elif "object" in types or (types == ["array"]):
                json.loads(text)
        except ValueError:
            names.append(variable)
    return names


def _schema_problem(error: ValidationError, secret_settings: set[str]) -> str:
    """A JSON-schema error as one clause that names the setting, never its value."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        where = ".".join([*path, missing])
        return f"setting '{where}' is required"
    where = ".".join(path) or "settings"
    rule = error.validator_value
    if error.validator == "additionalProperties":
        return f"'{where}' has an unknown setting ({error.message.split('(')[-1]}"
    if path and path[0] in secret_settings:
        return f"setting '{where}' must be a {_secret_shape(path[0])}"
    explanations = {
        "type": f"must be of type {rule}",
        "minimum": f"must be at least {rule}",
        "maximum": f"must be at most {rule}",
        "enum": f"must be one of {rule}",
        "minLength": "must not be empty",
    }
    return f"setting '{where}' {explanations.get(str(error.validator), error.message)}"


def _secret_shape(name: str) -> str:
    if name == "headers":
        return "JSON object of header names to string values"
    return "string, or a list of non-empty strings"


@dataclass(frozen=True)
class Settings:
    """The validated settings, in the shapes the code uses."""

    callback_url: str
    signature_keys: tuple[str, ...]
    envelope: Envelope
    events_per_request: int
    max_request_bytes: int
    max_concurrent_requests: int
    request_timeout_seconds: int
    retry: RetryPolicy
    headers: dict[str, str]
    created_check_tolerance_seconds: int
    streams: dict[str, dict[str, t.Any]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Read settings (defaults applied by the schema validator)."""
        return cls(
            callback_url=config["callback_url"],
            signature_keys=signature_keys(config.get("signature_key")),
            envelope=Envelope(
                payload_format=config.get("payload_format") or OPEN_CONNECTORS,
                element_key=config.get("element_key") or "insightly",
                hub_key=config.get("hub_key") or "crm",
                instance_id=config.get("instance_id"),
                instance_name=config.get("instance_name"),
                instance_tags=tuple(config.get("instance_tags") or ()),
            ),
            events_per_request=config.get("events_per_request", 10),
            max_request_bytes=config.get("max_request_bytes", 1000000),
            max_concurrent_requests=config.get("max_concurrent_requests", 4),
            request_timeout_seconds=config.get("request_timeout_seconds", 30),
            retry=RetryPolicy(
                max_retries=config.get("max_retries", 8),
                base_delay_ms=config.get("retry_initial_delay_ms", 1000),
                max_delay_ms=config.get("retry_max_delay_ms", 60000),
            ),
            headers=dict(config.get("headers") or {}),
            created_check_tolerance_seconds=config.get(
                "created_check_tolerance_seconds",
                0,
            ),
            streams=dict(config.get("streams") or {}),
        )

    @property
    def envelope_bytes(self) -> int:
        """Bytes the envelope's own values add to every request."""
        envelope = self.envelope
        return len(to_json([envelope.instance_name, list(envelope.instance_tags)]))

    def rules_for(self, stream_name: str, key_properties: tuple[str, ...]) -> StreamRules:
        """How the stream's records become events (with its overrides)."""
        override = self.streams.get(stream_name, {})
        created = override.get("created_date_field", "DATE_CREATED_UTC")
        updated = override.get("updated_date_field", "DATE_UPDATED_UTC")
        return StreamRules(
            stream_name=stream_name,
            object_type=override.get("object_type") or stream_name,
            key_properties=key_properties,
            created_date_field=created or None,
            updated_date_field=updated or None,
            created_check_tolerance_seconds=override.get(
                "created_check_tolerance_seconds",
                self.created_check_tolerance_seconds,
            ),
        )


class Terminated(BaseException):  # noqa: N818 - a signal, not an error
    """SIGTERM or SIGINT arrived: unwinds the main thread to the shutdown path."""

    def __init__(self, signum: int) -> None:
        """Remember which signal."""
        super().__init__(signum)
        self.signum = signum


# Numbers with a fraction become Decimal, so they are written back with the same digits.
_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)


class _Reader(MsgSpecReader):
    """msgspec's fast reader, reporting a bad line in one line instead of a traceback."""

    @override
    def deserialize_json(self, line: str) -> dict:
        try:
            message = _DECODER.decode(line)
        except UnicodeEncodeError as exc:
            # Under a C or POSIX locale Python reads stdin with surrogateescape: bytes that
            # are not UTF-8 arrive as lone surrogates, which only fail here.
            raise InvalidInputLine(_not_utf8(ord(line[exc.start]) & 0xFF)) from None
        except msgspec.DecodeError:
            excerpt = line.strip()[:80]
            msg = f"An input line is not a JSON Singer message: {excerpt!r}"
            raise InvalidInputLine(msg) from None
        if not isinstance(message, dict) or not isinstance(message.get("type", ""), str):
            excerpt = line.strip()[:80]
            msg = f"An input line is not a JSON object with a text 'type', as Singer messages are: {excerpt!r}"
            raise InvalidInputLine(msg)
        return message

    @override
    def _process_unknown_message(self, message_dict: dict) -> None:
        msg = (
            f"An input line has the unknown message type {message_dict['type'][:40]!r}: a Singer "
            "tap sends SCHEMA, RECORD, STATE, BATCH and ACTIVATE_VERSION messages"
        )
        raise InvalidInputLine(msg)


def batch_file_records(encoding: dict, manifest: t.Sequence[str]) -> t.Iterator[dict]:
    """The records of a BATCH message's files (JSON lines, gzipped or not), one at a time.

    Raises:
        InvalidInputLine: a file cannot be read, or is not JSON lines.
    """
    try:
        file_encoding = BaseBatchFileEncoding.from_dict(encoding)
    except TypeError:
        msg = f"A BATCH message's encoding is not {{'format': ..., 'compression': ...}}: {encoding!r:.80}"
        raise InvalidInputLine(msg) from None
    if file_encoding.format != BatchFileFormat.JSONL:
        msg = f"BATCH files in {file_encoding.format} format are not supported: have the tap write jsonl"
        raise InvalidInputLine(msg)
    if file_encoding.compression not in (None, "none", "gzip"):
        msg = f"BATCH files compressed with {file_encoding.compression} are not supported: gzip or none"
        raise InvalidInputLine(msg)
    if not isinstance(manifest, list) or not all(isinstance(url, str) for url in manifest):
        msg = f"A BATCH message's manifest is not a list of file URLs: {manifest!r:.80}"
        raise InvalidInputLine(msg)
    for url in manifest:
        try:
            head, tail = StorageTarget.split_url(url)
            with StorageTarget.from_url(head).open(tail, mode="rb") as file:
                lines = gzip.open(file) if file_encoding.compression == "gzip" else file
                for line in lines:
                    if line.strip():
                        yield _DECODER.decode(line)
        except (OSError, EOFError, msgspec.DecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            msg = f"BATCH file {url} cannot be read ({reason}): check the tap's batch_config storage"
            raise InvalidInputLine(msg) from None


# Errors that end a run with one line on stderr and exit code 1: bad input or delivery.
USER_ERRORS = (
    DeliveryError,
    MissingKeyError,
    OversizedEventError,
    RecordsWithoutSchemaException,
    InvalidInputLine,
    InvalidRecord,
    MappingError,  # a stream map that cannot apply to a stream's records
)


class TargetWebhook(Target):
    """Delivers Singer records as signed change events to a webhook (Open Connectors or CloudEvents), writing state only after the receiver acknowledged them."""  # noqa: E501

    name = "target-webhook"
    package_name = "tap-insightly"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = WebhookSink
    message_reader_class = _Reader
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    def __init__(self, **kwargs: t.Any) -> None:
        """Validate settings; delivery starts with the first event."""
        super().__init__(**kwargs)
        self.settings = Settings.from_config(self.config)
        self.sent_event_ids: set[str] = set()
        self.streams_seen: set[str] = set()  # names of the sinks made (after stream maps)
        self._deliverer: Deliverer | None = None
        self._last_state: t.Any = None
        self._terminating = False

    # Settings

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        # Only what this target honours: stream maps (validate_records is ours, with
        # default false). Batch size, load method and record metadata do not apply.
        super(Target, cls).append_builtin_config(config_jsonschema)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        secret = {
            name
            for name, prop in schema["properties"].items()
            if prop.get("secret") or prop.get("writeOnly")
        }
        validator = JSONSchemaValidator(schema)  # also fills in defaults
        errors = [
            _schema_problem(error, secret) for error in validator.iter_errors(self._config)
        ]
        if not errors:
            errors = settings_problems(self._config)
        if errors and raise_errors:
            raise ConfigValidationError("Invalid settings", errors=errors, schema=schema)
        return errors

    # Delivery

    @property
    def deliverer(self) -> Deliverer:
        """The HTTP side, created on first use."""
        if self._deliverer is None:
            settings = self.settings
            self._deliverer = Deliverer(
                settings.callback_url,
                signer=Signer(settings.signature_keys),
                extra_headers=settings.headers,
                timeout_seconds=settings.request_timeout_seconds,
                concurrency=settings.max_concurrent_requests,
                retry=settings.retry,
                on_checkpoint=self._write_state_message,
                logger=self.logger,
                user_agent=f"{self.name}/{self.plugin_version}",
            )
        return self._deliverer

    def send_events(self, events: list[Event]) -> None:
        """Queue events of one objectType as one or more requests."""
        settings = self.settings
        for message in build_messages(
            settings.envelope,
            events,
            settings.max_request_bytes,
        ):
            self.deliverer.submit(message)

    def _flush_sinks(self) -> None:
        for sink in [*self._sinks_to_clear, *self._sinks_active.values()]:
            t.cast("WebhookSink", sink).flush()

    # Messages

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        # A leaner path than the SDK's: no date-time parsing (records are forwarded as
        # sent) and no per-record drain checks; validation only when asked for.
        if self._deliverer is not None and self._deliverer.failure is not None:
            raise self._deliverer.failure
        stream_name = message_dict.get("stream")
        record = message_dict.get("record")
        if stream_name is None or record is None:
            self._assert_line_requires(message_dict, requires={"stream", "record"})
        if type(record) is not dict:
            msg = f"A RECORD message's record is not a JSON object (stream '{stream_name}'): {record!r:.60}"
            raise InvalidInputLine(msg)
        stream_maps = self.mapper.stream_maps.get(stream_name)
        if stream_maps is None:
            self._assert_sink_exists(stream_name)
            return
        for stream_map in stream_maps:
            try:
                transformed = stream_map.transform(copy.copy(record))
            except Exception as exc:  # noqa: BLE001
                # An expression that fails on some record (a null, a zero, an unknown
                # name): the SDK lets the evaluator's error through, naming no stream.
                cause = exc.__cause__ if isinstance(exc, MappingError) and exc.__cause__ else exc
                msg = (
                    f"stream_maps for stream '{stream_name}' failed on a record "
                    f"({type(cause).__name__}: {str(cause)[:120]}): fix the expression, e.g. "
                    "for null values"
                )
                raise MappingError(msg) from None
            if transformed is None:
                continue
            sink = self._sinks_active.get(stream_map.stream_alias)
            if sink is None:
                self._assert_sink_exists(stream_map.stream_alias)
            t.cast("WebhookSink", sink).add(transformed)

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        keys = message_dict.get("key_properties")
        if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            # The SDK would take a string as its characters ("id" as keys "i" and "d").
            msg = (
                f"The SCHEMA message of stream '{message_dict.get('stream')}' has key_properties "
                f"{str(keys)[:60]!r}, not a list of property names (e.g. [\"id\"]): fix the tap"
            )
            raise InvalidInputLine(msg)
        # A changed schema replaces the stream's sink: send what the old one holds first
        # (a repeated, unchanged SCHEMA changes nothing and sends nothing).
        stream_maps = self.mapper.stream_maps.get(message_dict.get("stream"), [])
        if stream_maps and (
            stream_maps[0].raw_schema != message_dict.get("schema")
            or stream_maps[0].raw_key_properties != message_dict.get("key_properties")
        ):
            for stream_map in stream_maps:
                sink = self._sinks_active.get(stream_map.stream_alias)
                if sink is not None:
                    t.cast("WebhookSink", sink).flush()
        try:
            super()._process_schema_message(message_dict)
        except InvalidJSONSchema as exc:
            # Only with validate_records: the SDK's message holds the whole metaschema.
            reason = getattr(exc.__cause__, "message", "")[:120]
            msg = (
                f"The SCHEMA message of stream '{message_dict.get('stream')}' is not a valid "
                f"JSON Schema ({reason}): fix the tap's schema, or turn validate_records off"
            )
            raise InvalidInputLine(msg) from None
        for sink in self._sinks_to_clear:
            sink.clean_up()
        self._sinks_to_clear = []

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        self._assert_line_requires(message_dict, requires={"value"})
        state = message_dict["value"]
        if state == self._last_state:
            return
        self._last_state = state
        # Everything received before this STATE goes out now, so that the state can be
        # written as soon as the receiver has acknowledged it.
        self._flush_sinks()
        self.deliverer.checkpoint(state)

    @override
    def _process_batch_message(self, message_dict: dict) -> None:
        # The SDK hands a BATCH message's records to each mapped stream's sink as they are
        # in the files, past stream maps. Here each record takes the RECORD path instead:
        # stream maps, validation, events, state only after acknowledgement.
        self._assert_line_requires(message_dict, requires={"stream", "encoding", "manifest"})
        stream_name = message_dict["stream"]
        for record in batch_file_records(message_dict["encoding"], message_dict["manifest"]):
            self._process_record_message({"type": "RECORD", "stream": stream_name, "record": record})

    @override
    def _process_activate_version_message(self, message_dict: dict) -> None:
        # Table versions mean nothing to change events: nothing to send, nothing to warn.
        self.logger.debug("Ignoring ACTIVATE_VERSION for '%s'", message_dict.get("stream"))

    @override
    def process_endofpipe(self) -> None:
        unused = sorted(set(self.settings.streams) - self.streams_seen)
        if unused:
            self.logger.warning(
                "the streams setting names %s, but no such stream came from the tap (streams "
                "seen: %s): check the names (after stream maps, the alias)",
                ", ".join(repr(name) for name in unused),
                ", ".join(sorted(self.streams_seen)) or "none",
            )
        self._flush_sinks()
        if self._deliverer is not None:
            self._deliverer.wait_all()
            self._deliverer.stop(grace_seconds=0)
            self.logger.info(
                "Delivered %d events in %d requests to the callback",
                self._deliverer.events_acknowledged,
                self._deliverer.requests_sent,
            )
        for sink in self._sinks_active.values():
            sink.clean_up()

    def shutdown(self, grace_seconds: float, *, send_pending: bool = False) -> None:
        """Stop delivery, giving requests up to grace_seconds to finish.

        With ``send_pending`` (bad input, not a signal or a failed delivery) the events
        received before the problem are still sent within that time; otherwise nothing
        new is sent. States are written as acknowledgements arrive, so when this returns
        the last acknowledged state is on stdout and nothing later is.
        """
        if send_pending:
            try:
                self._flush_sinks()
                if self._deliverer is not None:
                    self._deliverer.settle(grace_seconds)
            except USER_ERRORS:
                pass  # the error that ends the run has been reported
        if self._deliverer is not None:
            self._deliverer.stop(grace_seconds)
        sys.stdout.flush()

    @override
    def _write_state_message(self, state: dict) -> None:
        # Called by the delivery threads, one at a time, once a state is acknowledged.
        # JSON via msgspec: state values may hold Decimals from the reader.
        sys.stdout.write(to_json(state).decode() + "\n")
        sys.stdout.flush()

    # Signals and the command line

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        # The SDK drains everything inside the handler and exits 0; against a failing
        # receiver that would block for the whole retry schedule. Unwind instead, and
        # let invoke() stop delivery, keep the acknowledged state and exit non-zero.
        if self._terminating:
            return
        self._terminating = True
        raise Terminated(signum)

    @classmethod
    @override
    def cb_config(
        cls,
        ctx: click.Context,
        param: click.Option,
        value: tuple[str, ...],
    ) -> _ConfigInput:
        try:
            return super().cb_config(ctx, param, value)
        except (OSError, ValueError) as exc:
            msg = f"cannot read the config file ({type(exc).__name__}: {exc})"
            raise click.BadParameter(msg) from None

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        try:
            target = cls(
                config=config.config,
                validate_config=True,
                parse_env_config=config.parse_env,
            )
        except ConfigValidationError as exc:
            cls.logger.error("Invalid settings: %s", "; ".join(exc.errors))  # noqa: TRY400
            _exit_after_input(file_input, 1)
        except ValueError as exc:
            # Settings from environment variables: an integer that is not a whole
            # number, or an object that is not JSON (the value is never shown).
            schema = copy.deepcopy(cls.config_jsonschema)
            cls.append_builtin_config(schema)
            named = unreadable_environment_settings(schema, cls._env_var_prefix)
            cls.logger.error(  # noqa: TRY400
                "Invalid settings: %s cannot be read (%s): integers must be whole numbers, "
                "objects and lists JSON",
                ", ".join(named) or f"a {cls._env_var_prefix}* environment variable",
                type(exc).__name__,
            )
            _exit_after_input(file_input, 1)
        try:
            target.listen(file_input)
        except Terminated as stop:
            target.shutdown(SHUTDOWN_GRACE_SECONDS)
            cls.logger.error(  # noqa: TRY400
                "Stopped by signal %d: nothing new was sent; the state written is the "
                "last one the receiver acknowledged",
                stop.signum,
            )
            _exit_after_input(file_input, 128 + stop.signum, SIGNAL_DISCARD_INPUT_SECONDS)
        except (*USER_ERRORS, UnicodeDecodeError) as exc:
            target.shutdown(
                SHUTDOWN_GRACE_SECONDS,
                send_pending=not isinstance(exc, DeliveryError),
            )
            cls.logger.error("%s", _one_line(exc))  # noqa: TRY400
            _exit_after_input(file_input, 1)


def _exit_after_input(file_input: t.IO[str] | None, code: int, seconds: float = DISCARD_INPUT_SECONDS) -> t.NoReturn:
    discard_input(file_input, seconds)
    sys.exit(code)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return _not_utf8(exc.object[exc.start])
    return str(exc).replace("\n", " ")


def _not_utf8(byte: int) -> str:
    return f"The input is not UTF-8 text (byte 0x{byte:02x} cannot be read): a Singer tap writes JSON lines in UTF-8"


def discard_input(file_input: t.IO[str] | None, seconds: float) -> None:
    """Read and drop what the tap still writes, until it ends or ``seconds`` pass.

    A runner that pipes the tap into the target (``meltano run``) fails with its own
    BrokenPipeError traceback when the target stops reading first (meltano/meltano#7047),
    which buries the one line that says what went wrong. Nothing read here is sent and no
    state is written. Reads the file descriptor directly, so no Python-level buffer or
    lock is held when the process exits.
    """
    stream = file_input or sys.stdin
    try:
        descriptor = stream.fileno()
        if stream.isatty():
            return  # a person at a terminal, not a tap: nothing would end the input
    except (AttributeError, OSError, ValueError):
        return  # not a real file (an in-process test): nothing is waiting on it
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            ready, _, _ = select.select([descriptor], [], [], left)
            if not ready or not os.read(descriptor, 1 << 16):
                return
        except OSError:
            return


if __name__ == "__main__":
    TargetWebhook.cli()
