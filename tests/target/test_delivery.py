"""Delivery and state against real HTTP receivers on 127.0.0.1.

The sandbox's webhook inbox (which verifies signatures with its own code) is the receiver
wherever it can express the case; the scripted receiver answers per request where the case
needs it (fail exactly one chosen request, redirect, hang, drop the connection).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import random
import typing as t
from pathlib import Path

import pytest

from insightly_sandbox.inbox import InboxClient, running_inbox
from singer_sdk.singerlib.exceptions import InvalidInputLine
from target_webhook import verify
from target_webhook.delivery import DeliveryError
from target_webhook.events import MissingKeyError
from tests.target.conftest import (
    FAST_RETRY,
    contact,
    record,
    run_target,
    schema,
    singer_lines,
    state,
)
from tests.target.receiver import Answer, Receiver

KEY = "test-signing-key"


@pytest.fixture
def inbox() -> t.Iterator[tuple[str, InboxClient]]:
    with running_inbox(signature_key=KEY) as url:
        client = InboxClient(url)
        yield url + "hooks/insightly?token=abc", client
        client.close()


def contacts_with_states(count: int, every: int, **extra: t.Any) -> str:
    """Contacts 1..count with a STATE {"upto": n} after every ``every`` records."""
    messages: list[dict] = [schema("contacts")]
    for cid in range(1, count + 1):
        messages.append(contact(cid, **extra))
        if cid % every == 0:
            messages.append(state({"upto": cid}))
    return singer_lines(*messages)


def test_every_event_arrives_signed_and_state_follows_acknowledgement(inbox) -> None:
    url, client = inbox
    config = {"callback_url": url, "signature_key": KEY, "events_per_request": 3}
    run = run_target(config, contacts_with_states(25, 5))
    assert run.error is None
    assert run.states[-1] == {"upto": 25}
    assert [s["upto"] for s in run.states] == sorted(s["upto"] for s in run.states)
    events = client.events()
    assert sorted(int(e["objectId"]) for e in events) == list(range(1, 26))
    requests = client.requests()
    assert all(len(json.loads(r["body"])["message"]["events"]) <= 3 for r in requests)
    assert all(r["verified"] == {"elements": True, "standard_webhooks": True} for r in requests)
    assert all(r["path"] == "/hooks/insightly" and r["query"] == "token=abc" for r in requests)


def test_raw_records_are_exactly_as_sent(inbox) -> None:
    url, client = inbox
    line = (
        '{"type":"RECORD","stream":"contacts","record":{"CONTACT_ID":1,"FIRST_NAME":"Zoë",'
        '"DATE_CREATED_UTC":"2026-01-01 00:00:00","DATE_UPDATED_UTC":"2026-01-02 03:04:05",'
        '"AMOUNT":10.50,"BIG":123456789012345678901234,"TAGS":[{"n":1.0}]}}\n'
    )
    text = singer_lines(schema("contacts")) + line
    run = run_target({"callback_url": url}, text)
    assert run.error is None
    [request] = client.requests()
    assert (
        '"raw":{"objectType":"contacts","contacts":[{"CONTACT_ID":1,"FIRST_NAME":"Zoë",'
        '"DATE_CREATED_UTC":"2026-01-01 00:00:00","DATE_UPDATED_UTC":"2026-01-02 03:04:05",'
        '"AMOUNT":10.50,"BIG":123456789012345678901234,"TAGS":[{"n":1.0}]}]}'
    ) in request["body"]
    [event] = client.events()
    assert event["date"] == "2026-01-02T03:04:05Z"
    assert event["eventType"] == "UPDATED"


def test_signatures_verify_with_the_helper_and_independently(receiver) -> None:
    run = run_target(
        {"callback_url": receiver.url, "signature_key": ["old-key", "new-key"]},
        singer_lines(schema("contacts"), contact(1)),
    )
    assert run.error is None
    [request] = receiver.requests
    headers = request.headers
    verify(request.body, headers, "new-key")
    verify(request.body, headers, "old-key")
    expected = base64.b64encode(
        hmac.new(b"old-key", request.body, hashlib.sha256).digest(),
    ).decode()
    assert headers["elements-webhook-signature"] == "sha256=" + expected
    assert headers["webhook-id"] == json.loads(request.body)["message"]["eventId"]
    assert headers["elements-webhook-id"] == headers["webhook-id"]
    assert len(headers["webhook-signature"].split(" ")) == 2


def test_server_errors_are_retried_with_the_same_message_id(inbox) -> None:
    url, client = inbox
    client.fail(status=503, count=2)
    run = run_target(
        {"callback_url": url, "signature_key": KEY, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1), state({"upto": 1})),
    )
    assert run.error is None
    assert run.states == [{"upto": 1}]
    requests = client.requests()
    assert [r["status"] for r in requests] == [503, 503, 200]
    assert len({r["headers"]["webhook-id"] for r in requests}) == 1
    assert all(r["verified"]["standard_webhooks"] for r in requests)
    assert len(client.events()) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_retriable_statuses(inbox, status: int) -> None:
    url, client = inbox
    client.fail(status=status, count=1)
    run = run_target({"callback_url": url, **FAST_RETRY}, singer_lines(schema("contacts"), contact(1)))
    assert run.error is None
    assert [r["status"] for r in client.requests()] == [status, 200]


def test_retry_after_is_honoured_and_each_attempt_is_signed_afresh(inbox) -> None:
    url, client = inbox
    client.fail(status=429, count=1, retry_after=1)
    run = run_target(
        {"callback_url": url, "signature_key": KEY, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1)),
    )
    assert run.error is None
    first, second = client.requests()
    # The backoff alone would be a few milliseconds; Retry-After asks for a second.
    assert second["time"] - first["time"] >= 1.0
    # Same message id, a new timestamp (and so a new signature) on the retry.
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert int(second["headers"]["webhook-timestamp"]) > int(first["headers"]["webhook-timestamp"])
    assert first["headers"]["webhook-signature"] != second["headers"]["webhook-signature"]
    assert first["verified"] == second["verified"] == {"elements": True, "standard_webhooks": True}


@pytest.mark.parametrize("status", [400, 401, 404, 410, 413, 422])
def test_client_errors_fail_at_once_and_keep_state(inbox, status: int) -> None:
    url, client = inbox
    client.fail(status=status, count=1)
    run = run_target(
        {"callback_url": url, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1), state({"upto": 1})),
    )
    assert isinstance(run.error, DeliveryError)
    line = str(run.error)
    assert f"HTTP {status}" in line
    assert url.split("/")[2] in line  # the host and port
    assert "token" not in line
    assert "\n" not in line
    assert len(client.requests()) == 1
    assert run.states == []


def test_giving_up_after_max_retries(inbox) -> None:
    url, client = inbox
    client.fail(status=500, count=100)
    run = run_target(
        {"callback_url": url, "max_retries": 2, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1), state({"upto": 1})),
    )
    assert isinstance(run.error, DeliveryError)
    assert "HTTP 500" in str(run.error)
    assert "on 3 attempts" in str(run.error)
    assert len(client.requests()) == 3
    assert run.states == []


def test_failing_a_chosen_request_stops_state_at_the_last_acknowledged_point(receiver) -> None:
    receiver.script[2] = Answer(status=400)
    config = {
        "callback_url": receiver.url,
        "events_per_request": 2,
        "max_concurrent_requests": 1,
        **FAST_RETRY,
    }
    run = run_target(config, contacts_with_states(10, 2))
    assert isinstance(run.error, DeliveryError)
    assert run.states == [{"upto": 2}, {"upto": 4}]
    assert len(receiver.requests) == 3  # nothing is sent after the failure


def test_failure_with_concurrency_never_writes_state_past_unacknowledged_events(
    receiver,
) -> None:
    # The request carrying contact 13 fails; others around it may succeed.
    def answer(index: int, body: bytes) -> Answer:
        ids = {e["objectId"] for e in json.loads(body)["message"]["events"]}
        return Answer(status=400 if "13" in ids else 200, delay_s=random.random() / 100)

    receiver.answer_fn = answer
    config = {
        "callback_url": receiver.url,
        "events_per_request": 2,
        "max_concurrent_requests": 4,
        **FAST_RETRY,
    }
    run = run_target(config, contacts_with_states(40, 1))
    assert isinstance(run.error, DeliveryError)
    acked = {int(e["objectId"]) for e in receiver.acked_events()}
    assert 13 not in acked
    for written in run.states:
        # A state is only written once every record before it was acknowledged.
        assert set(range(1, written["upto"] + 1)) <= acked
    assert all(s["upto"] < 13 for s in run.states)


def test_redirects_are_not_followed(receiver) -> None:
    receiver.script[0] = Answer(status=307, headers={"Location": receiver.url + "/elsewhere"})
    run = run_target(
        {"callback_url": receiver.url, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1)),
    )
    assert isinstance(run.error, DeliveryError)
    assert "redirect" in str(run.error)
    assert len(receiver.requests) == 1


def test_a_timed_out_request_is_retried(receiver) -> None:
    receiver.script[0] = Answer(delay_s=2.5)
    config = {"callback_url": receiver.url, "request_timeout_seconds": 1, **FAST_RETRY}
    run = run_target(config, singer_lines(schema("contacts"), contact(1), state({"upto": 1})))
    assert run.error is None
    assert run.states == [{"upto": 1}]
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    "answer",
    [Answer(body_bytes=200 * 1024, body_pause_s=0.05), Answer(body_bytes=64 << 20)],
    ids=["body-dripping", "body-huge"],
)
def test_an_acknowledgement_with_a_slow_or_huge_body_is_not_read_to_the_end(receiver, answer) -> None:
    # The status is the answer; reading a body sent a KiB at a time (each piece within the
    # read timeout) or without end would hold a worker, and memory.
    receiver.script[0] = answer
    config = {"callback_url": receiver.url, "request_timeout_seconds": 1, "events_per_request": 1,
              "max_concurrent_requests": 1, **FAST_RETRY}
    run = run_target(config, singer_lines(schema("contacts"), contact(1), contact(2), state({"upto": 2})))
    assert run.error is None
    assert run.states == [{"upto": 2}]
    assert [r.status for r in receiver.requests] == [200, 200]
    receiver.wait_idle()
    assert receiver.requests[0].body_cut


def test_an_answer_whose_headers_drip_is_timed_out_and_retried(receiver) -> None:
    # Each byte arrives within the read timeout; the whole answer does not.
    receiver.script[0] = Answer(header_pause_s=0.3)  # about 12 s for the status and headers
    config = {"callback_url": receiver.url, "request_timeout_seconds": 1, **FAST_RETRY}
    run = run_target(config, singer_lines(schema("contacts"), contact(1), state({"upto": 1})))
    assert run.error is None
    assert run.states == [{"upto": 1}]
    assert len(receiver.requests) == 2
    receiver.wait_idle()
    assert receiver.requests[0].body_cut  # the target closed the connection


def test_a_dropped_connection_is_retried(receiver) -> None:
    receiver.script[0] = Answer(drop=True)
    run = run_target(
        {"callback_url": receiver.url, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1), state({"upto": 1})),
    )
    assert run.error is None
    assert run.states == [{"upto": 1}]
    assert len(receiver.requests) == 2


def test_unreachable_receiver_fails_naming_the_host(receiver) -> None:
    url = receiver.url
    receiver.__exit__()  # nothing listens on that port any more
    run = run_target(
        {"callback_url": url, "max_retries": 1, **FAST_RETRY},
        singer_lines(schema("contacts"), contact(1)),
    )
    assert isinstance(run.error, DeliveryError)
    assert "connection failed" in str(run.error)
    assert url.split("/")[2] in str(run.error)


def test_each_object_in_order_and_never_twice_in_flight(receiver) -> None:
    rng = random.Random(4)
    receiver.answer_fn = lambda index, body: Answer(delay_s=rng.random() / 50)
    messages: list[dict] = [schema("contacts")]
    for version in range(8):
        for cid in range(10):
            messages.append(contact(cid, FIRST_NAME=f"v{version}"))
    config = {
        "callback_url": receiver.url,
        "events_per_request": 3,
        "max_concurrent_requests": 8,
    }
    run = run_target(config, singer_lines(*messages))
    assert run.error is None
    seen: dict[str, list[str]] = {}
    for request in receiver.requests:
        raw = request.json["message"]["raw"]["contacts"]
        for rec in raw:
            seen.setdefault(str(rec["CONTACT_ID"]), []).append(rec["FIRST_NAME"])
    assert seen == {str(cid): [f"v{v}" for v in range(8)] for cid in range(10)}
    by_object: dict[str, list[tuple[float, float]]] = {}
    for request in receiver.requests:
        for event in request.json["message"]["events"]:
            by_object.setdefault(event["objectId"], []).append(
                (request.started, request.finished),
            )
    for spans in by_object.values():
        spans.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert receiver.max_active > 1  # requests did run concurrently


def test_same_record_version_is_sent_once_per_run(inbox) -> None:
    url, client = inbox
    text = singer_lines(
        schema("contacts"),
        contact(1),
        contact(2),
        state({"upto": 2}),
        contact(2),  # re-emitted at the bookmark: same version
        contact(2, FIRST_NAME="changed"),  # a new version in the same second
        state({"upto": 3}),
    )
    run = run_target({"callback_url": url}, text)
    assert run.error is None
    events = client.events()
    assert [e["objectId"] for e in events] == ["1", "2", "2"]
    assert len({e["eventId"] for e in events}) == 3
    assert run.states[-1] == {"upto": 3}


def test_event_ids_are_the_same_in_every_run(inbox) -> None:
    url, client = inbox
    text = singer_lines(schema("contacts"), contact(1), contact(2))
    run_target({"callback_url": url}, text)
    run_target({"callback_url": url}, text)
    ids = [e["eventId"] for e in client.events()]
    assert ids[:2] == ids[2:]


def test_missing_key_fails_naming_the_stream_and_nothing_after_it_is_sent(inbox) -> None:
    url, client = inbox
    text = singer_lines(
        schema("contacts"),
        contact(1),
        state({"upto": 1}),
        record("contacts", FIRST_NAME="no id"),
        contact(3),
        state({"upto": 3}),
    )
    run = run_target({"callback_url": url, "events_per_request": 1}, text)
    assert isinstance(run.error, MissingKeyError)
    assert "'contacts'" in str(run.error)
    assert "CONTACT_ID" in str(run.error)
    assert [e["objectId"] for e in client.events()] == ["1"]
    assert run.states == [{"upto": 1}]


def test_requests_are_split_to_fit_max_request_bytes(inbox) -> None:
    url, client = inbox
    run = run_target(
        {"callback_url": url, "events_per_request": 100, "max_request_bytes": 4000},
        contacts_with_states(30, 30, NOTE="n" * 500),
    )
    assert run.error is None
    requests = client.requests()
    assert len(requests) > 1
    assert all(len(r["body"].encode()) <= 4000 for r in requests)
    assert sorted(int(e["objectId"]) for e in client.events()) == list(range(1, 31))


def test_one_record_larger_than_max_request_bytes_fails(inbox) -> None:
    url, client = inbox
    run = run_target(
        {"callback_url": url, "max_request_bytes": 2000},
        singer_lines(schema("contacts"), contact(1, NOTE="n" * 3000)),
    )
    assert run.error is not None
    assert "max_request_bytes" in str(run.error)
    assert client.requests() == []


def test_cloudevents_batches(inbox) -> None:
    url, client = inbox
    run = run_target(
        {
            "callback_url": url,
            "signature_key": KEY,
            "payload_format": "cloudevents",
            "element_key": "crm-x",
            "instance_id": 77,
        },
        singer_lines(schema("contacts"), contact(1), contact(2, updated="2026-01-01 00:00:00")),
    )
    assert run.error is None
    [request] = client.requests()
    assert request["headers"]["Content-Type"] == "application/cloudevents-batch+json"
    assert request["verified"] == {"elements": True, "standard_webhooks": True}
    batch = json.loads(request["body"])
    assert [e["type"] for e in batch] == ["crm-x.contacts.updated", "crm-x.contacts.created"]
    assert batch[0]["source"] == "/elements/crm-x/instances/77"
    assert [e["objectId"] for e in client.events()] == ["1", "2"]


def test_envelope_settings_and_extra_headers(receiver) -> None:
    run = run_target(
        {
            "callback_url": receiver.url,
            "instance_id": 123,
            "instance_name": "prod",
            "instance_tags": ["a", "b"],
            "element_key": "insightly",
            "hub_key": "crm",
            "headers": {"Authorization": "Bearer xyz", "X-Env": "test"},
        },
        singer_lines(schema("contacts"), contact(1)),
    )
    assert run.error is None
    [request] = receiver.requests
    assert request.headers["authorization"] == "Bearer xyz"
    assert request.headers["x-env"] == "test"
    assert request.headers["content-type"] == "application/json"
    message = request.json["message"]
    assert (message["instanceId"], message["instanceName"], message["instanceTags"]) == (
        123,
        "prod",
        ["a", "b"],
    )


def test_stream_overrides(receiver) -> None:
    text = singer_lines(
        schema(
            "people",
            ["ID"],
            ID={"type": "integer"},
            MADE={"type": "string"},
            CHANGED={"type": "string"},
        ),
        record("people", ID=1, MADE="2026-01-01 00:00:00", CHANGED="2026-01-01 00:00:03"),
        schema("tags", [], NAME={"type": "string"}),
        record("tags", NAME="vip"),
    )
    config = {
        "callback_url": receiver.url,
        "streams": {
            "people": {
                "object_type": "contacts",
                "created_date_field": "MADE",
                "updated_date_field": "CHANGED",
                "created_check_tolerance_seconds": 3,
            },
        },
    }
    run = run_target(config, text)
    assert run.error is None
    events = [e for r in receiver.requests for e in r.json["message"]["events"]]
    people, tags = sorted(events, key=lambda e: e["objectType"])
    assert (people["objectType"], people["objectId"], people["eventType"]) == (
        "contacts",
        "1",
        "CREATED",
    )
    assert people["date"] == "2026-01-01T00:00:03Z"
    assert tags["objectType"] == "tags"
    assert tags["date"] is None
    assert len(tags["objectId"]) == 32  # a keyless stream's record hash


def test_state_without_records_is_written_at_once_and_repeats_once(receiver) -> None:
    run = run_target(
        {"callback_url": receiver.url},
        singer_lines(state({"a": 1}), state({"a": 1}), state({"a": 2})),
    )
    assert run.error is None
    assert run.states == [{"a": 1}, {"a": 2}]
    assert receiver.requests == []


def test_a_schema_change_sends_what_came_before_it_first(receiver) -> None:
    changed = schema("contacts")
    changed["schema"]["properties"]["NEW__c"] = {"type": "string"}
    text = singer_lines(
        schema("contacts"),
        contact(1, FIRST_NAME="before"),
        changed,
        contact(1, FIRST_NAME="after", NEW__c="x"),
    )
    run = run_target({"callback_url": receiver.url, "max_concurrent_requests": 4}, text)
    assert run.error is None
    names = [
        rec["FIRST_NAME"]
        for r in receiver.requests
        for rec in r.json["message"]["raw"]["contacts"]
    ]
    assert names == ["before", "after"]


def test_state_values_with_decimals_are_written_as_numbers(receiver) -> None:
    text = '{"type":"STATE","value":{"bookmarks":{"x":{"v":1.50}}}}\n'
    run = run_target({"callback_url": receiver.url}, text)
    assert run.stdout == '{"bookmarks":{"x":{"v":1.50}}}\n'


def test_validate_records_rejects_a_record_that_breaks_its_schema(receiver) -> None:
    text = singer_lines(schema("contacts"), contact(1), contact(2, FIRST_NAME=42))
    run = run_target({"callback_url": receiver.url, "validate_records": True}, text)
    assert run.error is not None
    assert "validation" in str(run.error).lower()
    off = run_target({"callback_url": receiver.url}, text)
    assert off.error is None  # by default records are forwarded as sent


def test_stream_maps_rename_filter_and_add_properties(receiver) -> None:
    config = {
        "callback_url": receiver.url,
        "stream_maps": {
            "contacts": {
                "__alias__": "people",
                "__filter__": "CONTACT_ID != 2",
                "FULL": "FIRST_NAME + '!'",
            },
        },
    }
    run = run_target(config, singer_lines(schema("contacts"), contact(1), contact(2)))
    assert run.error is None
    [request] = receiver.requests
    message = request.json["message"]
    assert message["raw"]["objectType"] == "people"
    assert [r["FULL"] for r in message["raw"]["people"]] == ["Ann1!"]
    assert [e["objectType"] for e in message["events"]] == ["people"]


def test_slow_receiver_many_requests_in_flight_each_object_in_order() -> None:
    with running_inbox() as url:
        client = InboxClient(url)
        client.delay(100)
        messages: list[dict] = [schema("contacts")]
        for version in range(4):
            messages += [contact(cid, FIRST_NAME=f"v{version}") for cid in range(6)]
        config = {"callback_url": url, "events_per_request": 1, "max_concurrent_requests": 10}
        run = run_target(config, singer_lines(*messages))
        assert run.error is None
        events = client.events()
        requests = client.requests()
        client.close()
    order: dict[str, list[str]] = {}
    for event in events:
        order.setdefault(event["objectId"], []).append(event["record"]["FIRST_NAME"])
    assert order == {str(cid): ["v0", "v1", "v2", "v3"] for cid in range(6)}
    # Six objects: up to six requests were in flight together.
    first_answer = min(r["answered"] for r in requests)
    assert sum(1 for r in requests if r["time"] < first_answer) > 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_failures_keep_every_promise(receiver, seed: int) -> None:
    """Random 5xx/429/drops, random delays, random sizes: the invariants always hold."""
    rng = random.Random(seed)
    failures: dict[bytes, int] = {}

    def answer(index: int, body: bytes) -> Answer:
        # Each message fails at most twice, so the run always completes.
        tries = failures.get(body, 0)
        delay = rng.random() / 200
        if tries < 2 and rng.random() < 0.3:
            failures[body] = tries + 1
            kind = rng.choice(["503", "429", "drop"])
            if kind == "drop":
                return Answer(drop=True)
            return Answer(status=int(kind), delay_s=delay)
        return Answer(delay_s=delay)

    receiver.answer_fn = answer
    messages: list[dict] = [schema("contacts")]
    expected: dict[str, list[str]] = {}
    for n in range(120):
        cid = rng.randrange(15)
        messages.append(contact(cid, FIRST_NAME=f"n{n}"))
        expected.setdefault(str(cid), []).append(f"n{n}")
        if rng.random() < 0.2:
            messages.append(state({"upto": n}))
    messages.append(state({"upto": "end"}))
    config = {
        "callback_url": receiver.url,
        "events_per_request": rng.randint(1, 7),
        "max_concurrent_requests": rng.randint(1, 8),
        **FAST_RETRY,
    }
    run = run_target(config, singer_lines(*messages))
    assert run.error is None
    assert run.states[-1] == {"upto": "end"}
    points = [written["upto"] for written in run.states[:-1]]
    assert points == sorted(points)  # states come out in the order the tap sent them
    received: dict[str, list[str]] = {}
    for request in receiver.acknowledged():
        for rec in request.json["message"]["raw"]["contacts"]:
            received.setdefault(str(rec["CONTACT_ID"]), []).append(rec["FIRST_NAME"])
    # Every version exactly once, each object's versions in order (a retried request
    # that was answered with an error does not count: it was not acknowledged).
    assert received == expected


def test_a_repeated_unchanged_schema_does_not_cut_a_request_short(receiver) -> None:
    text = singer_lines(schema("contacts"), contact(1), schema("contacts"), contact(2))
    run = run_target({"callback_url": receiver.url}, text)
    assert run.error is None
    assert len(receiver.requests) == 1
    assert len(receiver.requests[0].json["message"]["events"]) == 2


def batch_message(stream: str, files: list[Path], compression: str = "gzip") -> dict:
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": "jsonl", "compression": compression},
        "manifest": [file.as_uri() for file in files],
    }


def write_batch_file(path: Path, records: list[dict], *, gzipped: bool = True) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes(gzip.compress(text) if gzipped else text)
    return path


def test_batch_message_records_become_events_and_state_follows(inbox, tmp_path) -> None:
    url, client = inbox
    first = write_batch_file(tmp_path / "part-1.jsonl.gz", [contact(c)["record"] for c in range(1, 6)])
    second = write_batch_file(tmp_path / "part-2.jsonl", [contact(c)["record"] for c in range(6, 9)],
                              gzipped=False)
    text = singer_lines(
        schema("contacts"),
        batch_message("contacts", [first]),
        state({"upto": 5}),
        batch_message("contacts", [second], compression="none"),
        contact(9),
        state({"upto": 9}),
    )
    # One request at a time: with several in flight, states acknowledged at the same moment
    # collapse into the latest (by design), and {"upto": 5} could be skipped.
    config = {"callback_url": url, "signature_key": KEY, "events_per_request": 2, "max_concurrent_requests": 1}
    run = run_target(config, text)
    assert run.error is None
    assert sorted(int(e["objectId"]) for e in client.events()) == list(range(1, 10))
    assert run.states == [{"upto": 5}, {"upto": 9}]
    raw = [e["record"] for e in client.events() if e["objectId"] == "3"]
    assert raw == [contact(3)["record"]]


def test_batch_records_go_through_stream_maps_like_records(inbox, tmp_path) -> None:
    url, client = inbox
    part = write_batch_file(tmp_path / "part.jsonl.gz", [contact(c)["record"] for c in range(1, 7)])
    config = {
        "callback_url": url,
        "stream_maps": {"contacts": {"__filter__": "CONTACT_ID > 3", "FIRST_NAME": "__NULL__"}},
    }
    run = run_target(config, singer_lines(schema("contacts"), batch_message("contacts", [part]),
                                          state({"upto": 6})))
    assert run.error is None
    events = client.events()
    assert sorted(int(e["objectId"]) for e in events) == [4, 5, 6]
    assert all("FIRST_NAME" not in e["record"] for e in events)
    assert run.states == [{"upto": 6}]


def test_unreadable_batch_file_fails_naming_it_and_keeps_state(inbox, tmp_path) -> None:
    url, client = inbox
    missing = tmp_path / "gone.jsonl.gz"
    text = singer_lines(
        schema("contacts"),
        contact(1),
        state({"upto": 1}),
        batch_message("contacts", [missing]),
        state({"upto": 9}),
    )
    run = run_target({"callback_url": url, "events_per_request": 1}, text)
    assert isinstance(run.error, InvalidInputLine)
    assert "gone.jsonl.gz" in str(run.error) and "\n" not in str(run.error)
    assert [e["objectId"] for e in client.events()] == ["1"]
    assert run.states == [{"upto": 1}]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"encoding": "jsonl"}, "encoding is not"),
        ({"encoding": {"format": "parquet", "compression": "gzip"}}, "parquet format are not supported"),
        ({"encoding": {"format": "jsonl", "compression": "zstd"}}, "zstd are not supported"),
        ({"manifest": "file:///tmp/one.jsonl"}, "manifest is not a list"),
    ],
)
def test_bad_batch_messages_fail_in_one_line(inbox, change, expected) -> None:
    url, client = inbox
    message = {**batch_message("contacts", []), **change}
    run = run_target({"callback_url": url}, singer_lines(schema("contacts"), message, state({"upto": 1})))
    assert isinstance(run.error, InvalidInputLine)
    assert expected in str(run.error) and "\n" not in str(run.error)
    assert run.states == []
