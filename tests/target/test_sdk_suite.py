"""The SDK's built-in target tests, plus what their sample streams must produce here.

The SDK's tests only check that a run does not raise; the receiver lets us also check
that every sample record (keyless streams, streams without dates, schema updates, odd
characters) became an event.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import typing as t

import pytest

from singer_sdk.testing import get_target_test_class, target_test_streams
from target_webhook.target import TargetWebhook
from tests.target.conftest import run_target
from tests.target.receiver import Receiver

# The SDK builds its test class from a fixed config, so the receiver runs for the module.
RECEIVER = Receiver()
RECEIVER.__enter__()
CONFIG = {"callback_url": RECEIVER.url, "max_concurrent_requests": 2}

TestTargetWebhookSDK = get_target_test_class(TargetWebhook, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def _stop_receiver() -> t.Iterator[None]:
    yield
    RECEIVER.__exit__()


def sample(name: str) -> str:
    return (importlib.resources.files(target_test_streams) / f"{name}.singer").read_text()


def records_in(text: str) -> list[dict]:
    messages = [json.loads(line) for line in io.StringIO(text) if line.strip()]
    return [m for m in messages if m["type"] == "RECORD"]


@pytest.mark.parametrize(
    "name",
    [
        "array_data",
        "camelcase",
        "camelcase_complex_schema",
        "encoded_string_data",
        "no_primary_keys",
        "optional_attributes",
        "pk_updates",
        "record_missing_fields",
        "schema_no_properties",
        "schema_updates",
        "special_chars_in_attributes",
        "user_location_data",
    ],
)
def test_every_sample_record_becomes_an_event(name: str) -> None:
    with Receiver() as receiver:
        text = sample(name)
        run = run_target({"callback_url": receiver.url}, text)
        assert run.error is None
        raw = []
        for request in receiver.requests:
            payload = request.json["message"]["raw"]
            stream = payload["objectType"]
            raw += [(stream, json.dumps(rec, sort_keys=True)) for rec in payload[stream]]
    sent = records_in(text)
    distinct = {(m["stream"], json.dumps(m["record"], sort_keys=True)) for m in sent}
    assert len(raw) == len(distinct)  # an identical record version is sent once
    assert sorted(raw) == sorted(distinct)


def test_each_version_of_a_record_is_an_event_in_order() -> None:
    with Receiver() as receiver:
        run = run_target({"callback_url": receiver.url}, sample("duplicate_records"))
        assert run.error is None
        metrics: dict[int, list[int]] = {}
        for request in receiver.requests:
            raw = request.json["message"]["raw"]
            for rec in raw[raw["objectType"]]:
                metrics.setdefault(rec["id"], []).append(rec["metric"])
    assert metrics == {1: [1, 10, 100], 2: [2, 20]}
