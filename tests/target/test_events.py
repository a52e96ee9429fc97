"""Record -> event rules and request bodies (pure functions, no HTTP)."""

from __future__ import annotations

import decimal
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from target_webhook.events import (
    CREATED,
    UPDATED,
    Envelope,
    MissingKeyError,
    OversizedEventError,
    StreamRules,
    build_event,
    build_messages,
    canonical_json,
    message_id_of,
    parse_date,
)

CONTACTS = StreamRules(stream_name="contacts", object_type="contacts", key_properties=("CONTACT_ID",))


def contact(**fields: object) -> dict:
    base = {
        "CONTACT_ID": 7,
        "FIRST_NAME": "Ann",
        "DATE_CREATED_UTC": "2026-01-01 10:00:00",
        "DATE_UPDATED_UTC": "2026-01-01 10:00:00",
    }
    base.update(fields)
    return base


def test_equal_dates_make_a_created_event_with_the_updated_date() -> None:
    event = build_event(CONTACTS, contact())
    assert event.event_type == CREATED
    assert event.object_type == "contacts"
    assert event.object_id == "7"
    assert event.date == "2026-01-01T10:00:00Z"


def test_later_update_makes_an_updated_event() -> None:
    event = build_event(CONTACTS, contact(DATE_UPDATED_UTC="2026-01-01 10:00:01"))
    assert event.event_type == UPDATED
    assert event.date == "2026-01-01T10:00:01Z"


@pytest.mark.parametrize(
    ("tolerance", "updated", "expected"),
    [
        (0, "2026-01-01 10:00:00", CREATED),
        (0, "2026-01-01 10:00:01", UPDATED),
        (5, "2026-01-01 10:00:05", CREATED),
        (5, "2026-01-01 10:00:06", UPDATED),
    ],
)
def test_created_check_tolerance(tolerance: int, updated: str, expected: str) -> None:
    rules = StreamRules(
        stream_name="contacts",
        object_type="contacts",
        key_properties=("CONTACT_ID",),
        created_check_tolerance_seconds=tolerance,
    )
    assert build_event(rules, contact(DATE_UPDATED_UTC=updated)).event_type == expected


def test_missing_created_date_means_updated() -> None:
    event = build_event(CONTACTS, contact(DATE_CREATED_UTC=None))
    assert event.event_type == UPDATED


def test_stream_without_dates_has_null_date_and_updated_type() -> None:
    rules = StreamRules(
        stream_name="tags",
        object_type="tags",
        key_properties=("TAG_NAME",),
        created_date_field=None,
        updated_date_field=None,
    )
    event = build_event(rules, {"TAG_NAME": "vip", "DATE_UPDATED_UTC": "2026-01-01 00:00:00"})
    assert event.date is None
    assert event.event_type == UPDATED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-04 05:06:07", "2026-03-04T05:06:07Z"),
        ("2026-03-04T05:06:07Z", "2026-03-04T05:06:07Z"),
        ("2026-03-04T05:06:07.999+00:00", "2026-03-04T05:06:07Z"),
        ("2026-03-04T07:06:07+02:00", "2026-03-04T05:06:07Z"),
    ],
)
def test_dates_become_utc_seconds(value: str, expected: str) -> None:
    event = build_event(CONTACTS, contact(DATE_UPDATED_UTC=value))
    assert event.date == expected


def test_unreadable_date_is_no_date() -> None:
    assert parse_date("yesterday") is None
    assert build_event(CONTACTS, contact(DATE_UPDATED_UTC="yesterday")).date is None


def test_composite_key_is_joined_with_colon() -> None:
    rules = StreamRules(
        stream_name="links",
        object_type="links",
        key_properties=("A", "B"),
    )
    assert build_event(rules, {"A": 1, "B": "x"}).object_id == "1:x"


def test_keyless_stream_uses_a_record_hash() -> None:
    rules = StreamRules(stream_name="logs", object_type="logs")
    first = build_event(rules, {"m": 1, "n": 2})
    reordered = build_event(rules, {"n": 2, "m": 1})
    other = build_event(rules, {"m": 1, "n": 3})
    assert first.object_id == reordered.object_id
    assert first.object_id != other.object_id
    assert len(first.object_id) == 32


@pytest.mark.parametrize("bad", [{}, {"CONTACT_ID": None}])
def test_missing_or_null_key_names_the_stream(bad: dict) -> None:
    record = contact()
    del record["CONTACT_ID"]
    record.update(bad)
    with pytest.raises(MissingKeyError, match="stream 'contacts'.*'CONTACT_ID'"):
        build_event(CONTACTS, record)


def test_event_id_is_deterministic_and_changes_with_content() -> None:
    first = build_event(CONTACTS, contact(FIRST_NAME="Ann"))
    again = build_event(CONTACTS, dict(reversed(list(contact(FIRST_NAME="Ann").items()))))
    same_second_change = build_event(CONTACTS, contact(FIRST_NAME="Bea"))
    assert first.event_id == again.event_id
    assert same_second_change.date == first.date
    assert same_second_change.event_id != first.event_id


def test_event_id_depends_on_object_type() -> None:
    renamed = StreamRules(
        stream_name="contacts",
        object_type="people",
        key_properties=("CONTACT_ID",),
    )
    assert build_event(renamed, contact()).event_id != build_event(CONTACTS, contact()).event_id


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none()),
        max_size=8,
    ),
)
def test_canonical_json_ignores_key_order_and_null_members(record: dict) -> None:
    reordered = dict(reversed(list(record.items())))
    assert canonical_json(record) == canonical_json(reordered)
    assert json.loads(canonical_json(record)) == {
        k: v for k, v in record.items() if v is not None
    }


def test_a_new_null_column_keeps_the_event_id() -> None:
    # tap-insightly adds a null column to every record for a newly created custom field.
    before = build_event(CONTACTS, contact(CUSTOMFIELDS=[{"FIELD_NAME": "A__c", "FIELD_VALUE": 1}]))
    after = build_event(
        CONTACTS,
        contact(NEW__c=None, CUSTOMFIELDS=[{"FIELD_NAME": "A__c", "FIELD_VALUE": 1, "X": None}]),
    )
    assert after.event_id == before.event_id
    # ...but a value that becomes null is a change, and so is a list in another order.
    cleared = build_event(CONTACTS, contact(FIRST_NAME=None))
    assert cleared.event_id != build_event(CONTACTS, contact()).event_id
    assert build_event(CONTACTS, contact(L=[1, 2])).event_id != build_event(
        CONTACTS,
        contact(L=[2, 1]),
    ).event_id
    # The payload still carries the record as sent, nulls included.
    assert b'"NEW__c":null' in after.record_json


def test_record_json_keeps_values_as_sent() -> None:
    record = contact(AMOUNT=decimal.Decimal("10.50"), BIG=12345678901234567890)
    event = build_event(CONTACTS, record)
    assert b'"AMOUNT":10.50' in event.record_json
    assert b'"BIG":12345678901234567890' in event.record_json
    assert b'"DATE_UPDATED_UTC":"2026-01-01 10:00:00"' in event.record_json
    # Keys keep the tap's order in the payload (only the hash uses sorted keys).
    assert event.record_json.index(b"CONTACT_ID") < event.record_json.index(b"FIRST_NAME")


def test_open_connectors_body_shape() -> None:
    envelope = Envelope(instance_id=123, instance_name="prod", instance_tags=("a",))
    events = [build_event(CONTACTS, contact(CONTACT_ID=i)) for i in (1, 2)]
    [message] = build_messages(envelope, events, 1_000_000)
    body = json.loads(message.body)
    assert message.content_type == "application/json"
    assert list(body) == ["message"]
    inner = body["message"]
    assert inner["eventId"] == message.message_id == message_id_of(events)
    assert inner["elementKey"] == "insightly"
    assert inner["instanceId"] == 123
    assert inner["instanceName"] == "prod"
    assert inner["instanceTags"] == ["a"]
    assert inner["events"] == [
        {
            "eventId": event.event_id,
            "eventType": "CREATED",
            "objectType": "contacts",
            "objectId": event.object_id,
            "date": "2026-01-01T10:00:00Z",
            "elementKey": "insightly",
            "hubKey": "crm",
        }
        for event in events
    ]
    assert inner["raw"] == {
        "objectType": "contacts",
        "contacts": [contact(CONTACT_ID=1), contact(CONTACT_ID=2)],
    }


def test_cloudevents_body_shape() -> None:
    envelope = Envelope(payload_format="cloudevents", instance_id=9)
    events = [
        build_event(CONTACTS, contact(CONTACT_ID=1)),
        build_event(CONTACTS, contact(CONTACT_ID=2, DATE_UPDATED_UTC="2026-02-01 00:00:00")),
    ]
    [message] = build_messages(envelope, events, 1_000_000)
    assert message.content_type == "application/cloudevents-batch+json"
    batch = json.loads(message.body)
    assert batch[0] == {
        "specversion": "1.0",
        "id": events[0].event_id,
        "source": "/elements/insightly/instances/9",
        "type": "insightly.contacts.created",
        "subject": "1",
        "time": "2026-01-01T10:00:00Z",
        "datacontenttype": "application/json",
        "data": contact(CONTACT_ID=1),
    }
    assert batch[1]["type"] == "insightly.contacts.updated"
    assert batch[1]["time"] == "2026-02-01T00:00:00Z"


def test_message_id_follows_the_events() -> None:
    a = build_event(CONTACTS, contact(CONTACT_ID=1))
    b = build_event(CONTACTS, contact(CONTACT_ID=2))
    assert message_id_of([a, b]) == message_id_of([a, b])
    assert message_id_of([a, b]) != message_id_of([b, a])
    assert message_id_of([a]) != message_id_of([a, b])


def test_messages_split_to_fit_max_bytes() -> None:
    events = [build_event(CONTACTS, contact(CONTACT_ID=i, NOTE="x" * 300)) for i in range(10)]
    messages = build_messages(Envelope(), events, 2000)
    assert len(messages) > 1
    assert all(len(message.body) <= 2000 for message in messages)
    sent = [e["objectId"] for m in messages for e in json.loads(m.body)["message"]["events"]]
    assert sent == [str(i) for i in range(10)]


def test_one_event_over_max_bytes_is_an_error() -> None:
    event = build_event(CONTACTS, contact(NOTE="x" * 5000))
    with pytest.raises(OversizedEventError, match="max_request_bytes"):
        build_messages(Envelope(), [event], 2000)
