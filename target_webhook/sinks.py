"""The one sink: records of a stream become events, grouped into requests."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from singer_sdk.sinks import Sink
from target_webhook.events import UPDATED, Event, StreamRules, build_event, parse_date

if t.TYPE_CHECKING:
    from target_webhook.target import TargetWebhook

# What one event adds to a request besides its record: its entry in "events" (or the
# CloudEvents attributes). Used to cut a request before it outgrows max_request_bytes.
_EVENT_OVERHEAD_BYTES = 260
_ENVELOPE_OVERHEAD_BYTES = 512


class WebhookSink(Sink):
    """Turns each record into an event; hands groups of events to the target to send.

    Records arrive here exactly as the tap sent them (the target bypasses the SDK's
    date-time parsing), so the payload's ``raw`` part keeps the tap's values.
    """

    def __init__(
        self,
        target: TargetWebhook,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Prepare the stream's event rules from its SCHEMA message and settings."""
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        settings = target.settings
        self.rules = settings.rules_for(stream_name, tuple(self.key_properties))
        self._events: list[Event] = []
        self._bytes = _ENVELOPE_OVERHEAD_BYTES + settings.envelope_bytes
        self._empty_bytes = self._bytes
        self._max_events = settings.events_per_request
        self._max_bytes = settings.max_request_bytes
        self._seen = target.sent_event_ids
        self._counter = self.record_counter_metric
        self._dates_warned = False
        target.streams_seen.add(stream_name)
        self._check_date_fields(settings.streams.get(stream_name, {}), schema)

    @property
    @override
    def max_size(self) -> int:
        return self._max_events

    @property
    @override
    def current_size(self) -> int:
        return len(self._events)

    def _check_date_fields(self, override: dict[str, t.Any], schema: dict) -> None:
        properties = schema.get("properties") or {}
        created, updated = self.rules.created_date_field, self.rules.updated_date_field
        if properties and created and updated and (created in properties) != (updated in properties):
            # One date without the other (e.g. the created date deselected in the tap's
            # catalog): creations cannot be told from updates.
            self.logger.warning(
                "%s: the schema has %s but not %s: every event is UPDATED (select both "
                "fields in the tap, or set them in the target's streams setting)",
                self.stream_name,
                updated if updated in properties else created,
                created if updated in properties else updated,
            )
        for setting in ("updated_date_field", "created_date_field"):
            field = override.get(setting)
            if field and properties and field not in properties:
                self._dates_warned = True
                self.logger.warning(
                    "%s: streams.%s.%s %r is not a property of the stream's schema: its "
                    "events carry no date and are all UPDATED (properties: %s)",
                    self.stream_name,
                    self.stream_name,
                    setting,
                    field,
                    ", ".join(list(properties)[:12]),
                )

    def _check_dates(self, record: dict[str, t.Any], event: Event) -> None:
        # A date the target cannot read leaves an event without its date and makes it
        # UPDATED: worth one warning per stream, since every event is still sent. The
        # updated date was read by build_event (an event without a date is one it could
        # not read); the created date is read again here.
        for setting, field in (
            ("updated_date_field", self.rules.updated_date_field),
            ("created_date_field", self.rules.created_date_field),
        ):
            value = record.get(field) if field else None
            if value is None:
                continue
            unreadable = event.date is None if setting == "updated_date_field" else parse_date(value) is None
            if unreadable:
                self._dates_warned = True
                self.logger.warning(
                    "%s: %s %r is not an ISO 8601 date-time (%s): its events carry no date "
                    "and are all UPDATED; set %s in the target's streams setting if the "
                    "stream dates its records in another field",
                    self.stream_name,
                    field,
                    str(value)[:40],
                    type(value).__name__,
                    setting,
                )
                return

    def add(self, record: dict[str, t.Any]) -> None:
        """Make the record's event; send a request's worth once it is complete.

        Raises:
            MissingKeyError: the record lacks a key property.
        """
        if self._validator is not None:
            self._validator.validate(record)
        event = build_event(self.rules, record)
        if not self._dates_warned and event.event_type == UPDATED:
            self._check_dates(record, event)
        self._counter.increment()
        if event.event_id in self._seen:
            # The same record version again (a tap re-reads its bookmark's second):
            # it was already sent in this run.
            self._total_dupe_records_merged += 1
            return
        self._seen.add(event.event_id)
        size = len(event.record_json) + _EVENT_OVERHEAD_BYTES
        if self._events and self._bytes + size > self._max_bytes:
            self.flush()
        self._events.append(event)
        self._bytes += size
        if len(self._events) >= self._max_events:
            self.flush()

    def flush(self) -> None:
        """Send the events collected so far, even if fewer than a full request."""
        if not self._events:
            return
        events = self._events
        self._events = []
        self._bytes = self._empty_bytes
        self._total_records_written += len(events)
        self._target.send_events(events)

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self.add(record)

    @override
    def process_batch(self, context: dict) -> None:
        self.flush()
