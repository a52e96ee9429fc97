"""Record -> change event, and events -> request bodies (pure: no I/O, no clock).

How a Singer record becomes an event (the same rules Open Connectors' poller applied):

- ``objectType`` is the stream name, or the stream's ``object_type`` override;
- ``objectId`` is the record's key properties as a string (a composite key joined with
  ``:``); a stream without key properties uses a hash of the record's canonical JSON;
- ``eventType`` is ``CREATED`` when the created and updated dates are both present and
  differ by at most the tolerance, else ``UPDATED`` (polling cannot see deletions);
- ``date`` is the updated date as ``YYYY-MM-DDTHH:MM:SSZ`` (naive dates are UTC, as
  Insightly's ``DATE_UPDATED_UTC`` is), or null when the stream has none;
- ``eventId`` is derived from (objectType, objectId, date, hash of the canonical record), so
  the same record version has the same id in every run, while a second change within the
  same second (same date, different content) gets a new id. The canonical record has its
  keys sorted and null members left out (see ``canonical_json``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import typing as t
from dataclasses import dataclass

import msgspec

from singer_sdk.exceptions import MissingKeyPropertiesError

CREATED = "CREATED"
UPDATED = "UPDATED"
OPEN_CONNECTORS = "open-connectors"
CLOUDEVENTS = "cloudevents"
PAYLOAD_FORMATS = (OPEN_CONNECTORS, CLOUDEVENTS)
CONTENT_TYPES = {
    OPEN_CONNECTORS: "application/json",
    CLOUDEVENTS: "application/cloudevents-batch+json",
}

_ID_LENGTH = 32  # hex characters (128 bits) of a SHA-256


def _enc_hook(value: t.Any) -> t.Any:  # noqa: ANN401
    # Records come from JSON, so this only sees values a stream map produced.
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


# The Singer reader parses JSON numbers with a fraction as Decimal: writing them back as
# numbers keeps the digits exactly as the tap sent them ("1.10" stays 1.10).
_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")
_CANONICAL = msgspec.json.Encoder(
    enc_hook=_enc_hook,
    decimal_format="number",
    order="sorted",
)


def to_json(value: t.Any) -> bytes:  # noqa: ANN401
    """Compact JSON, keys in their original order, numbers as sent."""
    return _ENCODER.encode(value)


# Values with nothing inside to strip: not worth a call each (most of a record).
_SCALARS = frozenset({str, int, float, bool, decimal.Decimal})


def _without_nulls(value: t.Any) -> t.Any:  # noqa: ANN401
    scalars = _SCALARS
    if isinstance(value, dict):
        return {
            k: v if type(v) in scalars else _without_nulls(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [item if type(item) in scalars else _without_nulls(item) for item in value]
    return value


def canonical_json(value: t.Any) -> bytes:  # noqa: ANN401
    """The form a record version is identified by: compact JSON, keys sorted, and members
    whose value is null left out (lists keep their order).

    A field that is null and a field that is absent say the same, and taps switch between
    them without any change to the record: tap-insightly gives every record a null column
    for a custom field created since the last run. Such a record is the same version and
    must keep its eventId.
    """
    return _CANONICAL.encode(_without_nulls(value))


class MissingKeyError(MissingKeyPropertiesError):
    """A record lacks (or has null in) a key property its SCHEMA message declared."""


@dataclass(frozen=True, slots=True)
class StreamRules:
    """How the records of one stream become events."""

    stream_name: str
    object_type: str
    key_properties: tuple[str, ...] = ()
    created_date_field: str | None = "DATE_CREATED_UTC"
    updated_date_field: str | None = "DATE_UPDATED_UTC"
    created_check_tolerance_seconds: int = 0


@dataclass(slots=True)
class Event:
    """One change event, with the record's JSON exactly as the tap sent it."""

    event_id: str
    event_type: str
    object_type: str
    object_id: str
    date: str | None
    record_json: bytes

    @property
    def object_key(self) -> tuple[str, str]:
        """What per-object ordering is about."""
        return (self.object_type, self.object_id)


def parse_date(value: t.Any) -> dt.datetime | None:  # noqa: ANN401
    """A record's date value as an aware UTC datetime, or None when absent or unreadable.

    Accepts ISO 8601 with ``T`` or a space (Insightly writes ``2026-01-01 12:00:00``),
    with or without fractional seconds and offset; a date without offset is UTC.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def format_date(value: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form Open Connectors put in ``date``."""
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
    )


def _key_text(value: t.Any) -> str:  # noqa: ANN401
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, decimal.Decimal, float)):
        return str(value)
    return to_json(value).decode()


def object_id_of(rules: StreamRules, record: t.Mapping[str, t.Any], digest: str) -> str:
    """The record's key properties as a string, or the record digest for keyless streams.

    Raises:
        MissingKeyError: a declared key property is missing or null.
    """
    keys = rules.key_properties
    if not keys:
        return digest
    parts = []
    for key in keys:
        value = record.get(key)
        if value is None:
            msg = (
                f"A record in stream '{rules.stream_name}' has no value for its key "
                f"property '{key}' (declared by the stream's SCHEMA message): fix the "
                "tap or its stream maps so every record carries its key"
            )
            raise MissingKeyError(msg)
        parts.append(_key_text(value))
    return parts[0] if len(parts) == 1 else ":".join(parts)


def event_id_of(object_type: str, object_id: str, date: str | None, digest: str) -> str:
    """Deterministic event id: same record version, same id, in every run."""
    material = f"{object_type}\x1f{object_id}\x1f{date or ''}\x1f{digest}"
    return hashlib.sha256(material.encode()).hexdigest()[:_ID_LENGTH]


def build_event(rules: StreamRules, record: t.Mapping[str, t.Any]) -> Event:
    """Turn one record (as the tap sent it) into its change event.

    Raises:
        MissingKeyError: a declared key property is missing or null.
    """
    digest = hashlib.sha256(canonical_json(record)).hexdigest()[:_ID_LENGTH]
    object_id = object_id_of(rules, record, digest)
    updated = (
        parse_date(record.get(rules.updated_date_field))
        if rules.updated_date_field
        else None
    )
    created = (
        parse_date(record.get(rules.created_date_field))
        if rules.created_date_field
        else None
    )
    event_type = UPDATED
    if (
        updated is not None
        and created is not None
        and abs((updated - created).total_seconds())
        <= rules.created_check_tolerance_seconds
    ):
        event_type = CREATED
    date = format_date(updated) if updated is not None else None
    return Event(
        event_id=event_id_of(rules.object_type, object_id, date, digest),
        event_type=event_type,
        object_type=rules.object_type,
        object_id=object_id,
        date=date,
        record_json=to_json(record),
    )


def message_id_of(events: t.Sequence[Event]) -> str:
    """A message's id, derived from its events' ids: a retried message keeps its id."""
    material = "\n".join(event.event_id for event in events)
    return hashlib.sha256(material.encode()).hexdigest()[:_ID_LENGTH]


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who is sending: the values every message carries besides its events."""

    payload_format: str = OPEN_CONNECTORS
    element_key: str = "insightly"
    hub_key: str = "crm"
    instance_id: int | str | None = None
    instance_name: str | None = None
    instance_tags: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """CloudEvents ``source``: the element and the instance."""
        instance = self.instance_id
        if instance is None:
            instance = self.instance_name or "default"
        return f"/elements/{self.element_key}/instances/{instance}"


def open_connectors_body(
    envelope: Envelope,
    events: t.Sequence[Event],
    message_id: str,
) -> bytes:
    """The Open Connectors polling callback: events of one objectType plus raw records."""
    object_type = events[0].object_type
    message = {
        "message": {
            "eventId": message_id,
            "elementKey": envelope.element_key,
            "instanceId": envelope.instance_id,
            "instanceName": envelope.instance_name,
            "instanceTags": list(envelope.instance_tags),
            "events": [
                {
                    "eventId": event.event_id,
                    "eventType": event.event_type,
                    "objectType": event.object_type,
                    "objectId": event.object_id,
                    "date": event.date,
                    "elementKey": envelope.element_key,
                    "hubKey": envelope.hub_key,
                }
                for event in events
            ],
            "raw": {
                "objectType": object_type,
                object_type: [msgspec.Raw(event.record_json) for event in events],
            },
        },
    }
    return _ENCODER.encode(message)


def cloudevents_body(envelope: Envelope, events: t.Sequence[Event]) -> bytes:
    """A CloudEvents 1.0 JSON batch: one CloudEvent per record."""
    source = envelope.source
    element = envelope.element_key
    batch = []
    for event in events:
        cloudevent: dict[str, t.Any] = {
            "specversion": "1.0",
            "id": event.event_id,
            "source": source,
            "type": f"{element}.{event.object_type}.{event.event_type.lower()}",
            "subject": event.object_id,
        }
        if event.date is not None:
            cloudevent["time"] = event.date
        cloudevent["datacontenttype"] = "application/json"
        cloudevent["data"] = msgspec.Raw(event.record_json)
        batch.append(cloudevent)
    return _ENCODER.encode(batch)


@dataclass(frozen=True, slots=True)
class Message:
    """One request body ready to send, and the events it acknowledges."""

    message_id: str
    object_type: str
    body: bytes
    content_type: str
    object_ids: frozenset[str]
    event_count: int


class OversizedEventError(ValueError):
    """One event alone does not fit in ``max_request_bytes``."""


def build_messages(
    envelope: Envelope,
    events: t.Sequence[Event],
    max_bytes: int,
) -> list[Message]:
    """Bodies for events of one objectType, split in halves until each fits max_bytes.

    Raises:
        OversizedEventError: a single event's body is larger than max_bytes.
    """
    message_id = message_id_of(events)
    if envelope.payload_format == CLOUDEVENTS:
        body = cloudevents_body(envelope, events)
    else:
        body = open_connectors_body(envelope, events, message_id)
    if len(body) > max_bytes:
        if len(events) == 1:
            event = events[0]
            msg = (
                f"The event for {event.object_type} '{event.object_id}' alone makes a "
                f"request of {len(body)} bytes, more than max_request_bytes "
                f"({max_bytes}): raise max_request_bytes"
            )
            raise OversizedEventError(msg)
        half = len(events) // 2
        return build_messages(envelope, events[:half], max_bytes) + build_messages(
            envelope,
            events[half:],
            max_bytes,
        )
    return [
        Message(
            message_id=message_id,
            object_type=events[0].object_type,
            body=body,
            content_type=CONTENT_TYPES[envelope.payload_format],
            object_ids=frozenset(event.object_id for event in events),
            event_count=len(events),
        ),
    ]
