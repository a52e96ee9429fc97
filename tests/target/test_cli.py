"""The target-webhook command: exit codes, the one error line, stdout, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

from insightly_sandbox.inbox import InboxClient, running_inbox
from tests.target.conftest import (
    FAST_RETRY,
    FIXTURES,
    TARGET_BIN,
    cli,
    contact,
    record,
    schema,
    singer_lines,
    state,
)
from tests.target.receiver import Answer, Receiver

SECRETS = ("SIGNING-SECRET-1", "Bearer HEADER-SECRET-2", "QUERY-SECRET-3")


def write_config(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "Traceback" in line]


def fixture_states(name: str) -> list[dict]:
    lines = (FIXTURES / name).read_text().splitlines()
    return [json.loads(line)["value"] for line in lines if '"STATE"' in line]


@pytest.fixture
def inbox() -> t.Iterator[tuple[str, InboxClient]]:
    with running_inbox() as url:
        client = InboxClient(url)
        yield url, client
        client.close()


def test_fixture_file_runs_and_stdout_has_only_states(tmp_path: Path, inbox) -> None:
    url, client = inbox
    config = write_config(tmp_path, {"callback_url": url, "events_per_request": 4})
    done = cli("--config", config, "--input", str(FIXTURES / "insightly_contacts_leads.singer"))
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in done.stdout.splitlines()]
    expected = fixture_states("insightly_contacts_leads.singer")
    assert written[-1] == expected[-1]
    assert all(state in expected for state in written)
    events = client.events()
    assert len(events) == 17
    by_type = {(e["objectType"], e["eventType"]) for e in events}
    assert by_type == {
        ("contacts", "CREATED"),
        ("contacts", "UPDATED"),
        ("leads", "UPDATED"),
    }
    zoe = next(e for e in events if e["objectId"] == "1001")
    assert zoe["record"]["LAST_NAME"] == "Zoë"
    assert zoe["record"]["DATE_UPDATED_UTC"] == "2026-01-01 09:00:00"


def test_settings_from_environment_variables(inbox) -> None:
    url, client = inbox
    done = cli(
        "--config",
        "ENV",
        stdin=singer_lines(schema("contacts"), contact(1), contact(2), state({"s": 1})),
        env={
            "TARGET_WEBHOOK_CALLBACK_URL": url,
            "TARGET_WEBHOOK_EVENTS_PER_REQUEST": "1",
            "TARGET_WEBHOOK_MAX_CONCURRENT_REQUESTS": "1",
            "TARGET_WEBHOOK_HEADERS": '{"X-From-Env": "yes"}',
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"s":1}\n'
    requests = client.requests()
    assert len(requests) == 2
    assert requests[0]["headers"]["X-From-Env"] == "yes"


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({}, "callback_url"),
        ({"callback_url": "ftp://example.com/x"}, "callback_url"),
        ({"callback_url": "http://example.com/x"}, "allow_insecure_http"),
        ({"callback_url": "https://"}, "callback_url"),
        ({"events_per_request": 0}, "events_per_request"),
        ({"events_per_request": 1001}, "events_per_request"),
        ({"payload_format": "xml"}, "payload_format"),
        ({"max_concurrent_requests": 0}, "max_concurrent_requests"),
        ({"request_timeout_seconds": "30"}, "request_timeout_seconds"),
        ({"signature_key": 12345}, "signature_key"),
        ({"signature_key": "whsec_%%%"}, "signature_key"),
        ({"headers": {"Bad Name": "v"}}, "headers"),
        ({"headers": {"Content-Type": "text/plain"}}, "headers"),
        ({"streams": {"contacts": {"object_typo": "x"}}}, "streams"),
    ],
)
def test_invalid_settings_one_line_nothing_posted(
    tmp_path: Path,
    receiver: Receiver,
    config: dict,
    named: str,
) -> None:
    full = {"callback_url": receiver.url, **config}
    if "callback_url" in config or config == {}:
        full = dict(config)
    done = cli(
        "--config",
        write_config(tmp_path, full),
        stdin=singer_lines(schema("contacts"), contact(1)),
    )
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "Invalid settings" in line
    assert named in line
    assert "12345" not in line
    assert done.stdout == ""
    assert receiver.requests == []


def test_secrets_never_appear_in_output(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Answer(status=500)
    config = {
        "callback_url": receiver.url + "?token=" + SECRETS[2],
        "signature_key": SECRETS[0],
        "headers": {"Authorization": SECRETS[1]},
        "max_retries": 1,
        **FAST_RETRY,
    }
    done = cli(
        "--config",
        write_config(tmp_path, config),
        stdin=singer_lines(schema("contacts"), contact(1), state({"s": 1})),
        env={"TARGET_WEBHOOK_LOGLEVEL": "DEBUG"},
    )
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "HTTP 500" in line
    assert f"127.0.0.1:{receiver.url.split(':')[2].split('/')[0]}" in line
    for secret in (*SECRETS, "token", "/hooks/in"):
        assert secret not in done.stderr
        assert secret not in done.stdout
    assert done.stdout == ""
    assert len(receiver.requests) == 2


def test_failure_exit_after_partial_progress_keeps_acknowledged_state(
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    receiver.script[1] = Answer(status=410)
    config = {
        "callback_url": receiver.url,
        "events_per_request": 1,
        "max_concurrent_requests": 1,
    }
    done = cli(
        "--config",
        write_config(tmp_path, config),
        stdin=singer_lines(
            schema("contacts"),
            contact(1),
            state({"s": 1}),
            contact(2),
            state({"s": 2}),
            contact(3),
            state({"s": 3}),
        ),
    )
    assert done.returncode == 1
    assert done.stdout == '{"s":1}\n'
    [line] = error_lines(done.stderr)
    assert "HTTP 410" in line


@pytest.mark.parametrize(
    ("fixture", "says"),
    [
        ("missing_key.singer", "stream 'contacts'"),
        ("record_before_schema.singer", "before a corresponding schema"),
        ("not_json.singer", "not a JSON Singer message"),
    ],
)
def test_bad_input_one_line_and_non_zero_exit(
    tmp_path: Path,
    inbox,
    fixture: str,
    says: str,
) -> None:
    url, client = inbox
    config = write_config(tmp_path, {"callback_url": url, "events_per_request": 1})
    done = cli("--config", config, "--input", str(FIXTURES / fixture))
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert says in line
    if fixture == "missing_key.singer":
        # What came before the bad record is delivered; nothing after it.
        assert [e["objectId"] for e in client.events()] == ["1001"]
        assert done.stdout == '{"n":1}\n'


def test_unreadable_config_file(tmp_path: Path) -> None:
    done = cli("--config", str(tmp_path / "missing.json"))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "cannot read the config file" in done.stderr


def test_about_json_describes_every_setting() -> None:
    done = cli("--about", "--format=json")
    assert done.returncode == 0
    about = json.loads(done.stdout)
    assert about["capabilities"] == ["about", "stream-maps", "validate-records"]
    settings = about["settings"]["properties"]
    ours = {
        "callback_url",
        "allow_insecure_http",
        "signature_key",
        "payload_format",
        "events_per_request",
        "max_request_bytes",
        "max_concurrent_requests",
        "request_timeout_seconds",
        "max_retries",
        "headers",
        "element_key",
        "hub_key",
        "instance_id",
        "instance_name",
        "instance_tags",
        "created_check_tolerance_seconds",
        "streams",
        "validate_records",
    }
    assert ours <= set(settings)
    for name in ours:
        assert settings[name].get("description"), name
        assert "|" not in settings[name]["description"], name
    assert settings["signature_key"]["secret"] is True
    assert settings["headers"]["secret"] is True
    assert settings["validate_records"]["default"] is False
    assert settings["events_per_request"]["default"] == 10
    assert "batch_size_rows" not in settings  # SDK settings this target does not honour


def _start(config_path: str, env: dict | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603
        [str(TARGET_BIN), "--config", config_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(condition: t.Callable[[], bool], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_sigterm_while_the_receiver_fails_exits_at_once_with_acknowledged_state(
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    receiver.answer_fn = lambda index, body: Answer(status=200 if index == 0 else 503)
    config = {
        "callback_url": receiver.url,
        "events_per_request": 1,
        "max_concurrent_requests": 1,
        "retry_initial_delay_ms": 60000,  # the retry would wait a minute
    }
    process = _start(write_config(tmp_path, config))
    assert process.stdin is not None
    process.stdin.write(
        singer_lines(schema("contacts"), contact(1), state({"s": 1}), contact(2), state({"s": 2})),
    )
    process.stdin.flush()
    _wait_for(lambda: len(receiver.requests) >= 2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    assert stdout == '{"s":1}\n'
    [line] = error_lines(stderr)
    assert "signal" in line
    assert len(receiver.requests) == 2  # nothing new after the signal


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_waits_for_the_request_in_flight_and_writes_its_state(
    tmp_path: Path,
    receiver: Receiver,
    signum: int,
) -> None:
    receiver.default = Answer(delay_s=1.0)
    config = {"callback_url": receiver.url, "events_per_request": 1}
    process = _start(write_config(tmp_path, config))
    assert process.stdin is not None
    process.stdin.write(singer_lines(schema("contacts"), contact(1), state({"s": 1})))
    process.stdin.flush()
    _wait_for(lambda: len(receiver.requests) >= 1)
    process.send_signal(signum)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    assert stdout == '{"s":1}\n'
    assert len(receiver.requests) == 1


def test_key_rotation_list_from_an_environment_variable(inbox_with_keys) -> None:
    url, client = inbox_with_keys
    done = cli(
        "--config",
        "ENV",
        stdin=singer_lines(schema("contacts"), contact(1)),
        env={
            "TARGET_WEBHOOK_CALLBACK_URL": url,
            "TARGET_WEBHOOK_SIGNATURE_KEY": '["old-key", "new-key"]',
        },
    )
    assert done.returncode == 0, done.stderr
    [request] = client.requests()
    assert request["verified"] == {"elements": True, "standard_webhooks": True}
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2


@pytest.fixture
def inbox_with_keys() -> t.Iterator[tuple[str, InboxClient]]:
    with running_inbox(signature_key=["new-key", "old-key"]) as url:
        client = InboxClient(url)
        yield url, client
        client.close()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TARGET_WEBHOOK_EVENTS_PER_REQUEST", "ten"),
        ("TARGET_WEBHOOK_HEADERS", "{not json"),
        ("TARGET_WEBHOOK_SIGNATURE_KEY", '["unterminated'),
    ],
)
def test_unreadable_environment_settings_one_line(
    receiver: Receiver,
    variable: str,
    value: str,
) -> None:
    done = cli(
        "--config",
        "ENV",
        stdin=singer_lines(schema("contacts"), contact(1)),
        env={"TARGET_WEBHOOK_CALLBACK_URL": receiver.url, variable: value},
    )
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "Invalid settings" in line
    assert value not in line
    assert receiver.requests == []


def test_sigterm_at_end_of_input_while_retrying(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Answer(status=503)
    config = {"callback_url": receiver.url, "retry_initial_delay_ms": 60000}
    process = _start(write_config(tmp_path, config))
    assert process.stdin is not None
    process.stdin.write(singer_lines(state({"s": 0}), schema("contacts"), contact(1), state({"s": 1})))
    process.stdin.close()  # the target now waits for acknowledgements only
    _wait_for(lambda: len(receiver.requests) >= 1)
    process.send_signal(signal.SIGTERM)
    stdout = process.stdout.read() if process.stdout else ""
    process.wait(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    assert stdout == '{"s":0}\n'
    assert len(receiver.requests) == 1


def test_runs_as_a_module_too() -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "target_webhook.target", "--about", "--format=json"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["name"] == "target-webhook"


def _cli_bytes(config_path: str, data: bytes, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_WEBHOOK")}
    full_env.update(env or {})
    done = subprocess.run(  # noqa: S603
        [str(TARGET_BIN), "--config", config_path],
        input=data,
        capture_output=True,
        env=full_env,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )


BEFORE = singer_lines(schema("contacts"), contact(1), state({"s": 1})).encode()


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b'{"type": "FOO", "stream": "contacts"}\n', "unknown message type 'FOO'"),
        (b'{"type": "RECORD", "stream": "contacts", "record": "hello"}\n', "record is not a JSON object"),
        (b'[1, 2, 3]\n', "not a JSON object"),
        (b'{"type": ["RECORD"]}\n', "not a JSON object with a text 'type'"),
        (b'\xff\xfe not utf-8\n', "not UTF-8"),
        (
            b'{"type": "SCHEMA", "stream": "leads", "key_properties": "LEAD_ID", '
            b'"schema": {"type": "object", "properties": {"LEAD_ID": {"type": "integer"}}}}\n',
            "key_properties 'LEAD_ID', not a list",
        ),
    ],
)
def test_more_bad_input_is_one_line_after_what_came_before_is_sent(
    tmp_path: Path,
    inbox,
    line: bytes,
    says: str,
) -> None:
    url, client = inbox
    config = write_config(tmp_path, {"callback_url": url, "events_per_request": 1})
    done = _cli_bytes(config, BEFORE + line + singer_lines(contact(2)).encode())
    assert done.returncode == 1
    [error] = error_lines(done.stderr)
    assert says in error
    assert [e["objectId"] for e in client.events()] == ["1"]
    assert done.stdout == '{"s":1}\n'


def test_an_invalid_record_schema_with_validation_on_is_one_line(tmp_path: Path, inbox) -> None:
    url, client = inbox
    config = write_config(tmp_path, {"callback_url": url, "validate_records": True})
    bad_schema = schema("contacts")
    bad_schema["schema"]["properties"]["CONTACT_ID"] = {"type": "no-such-type"}
    done = cli("--config", config, stdin=singer_lines(bad_schema, contact(1)))
    assert done.returncode == 1
    [error] = error_lines(done.stderr)
    assert "contacts" in error and "schema" in error.lower()
    assert len(done.stderr.splitlines()) < 10  # no dump of the metaschema
    assert client.events() == []


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"signature_key": ""}, "signature_key is empty"),
        ({"retry_initial_delay_ms": 5000, "retry_max_delay_ms": 1000}, "larger than retry_max_delay_ms"),
        ({"signature_key": []}, "signature_key is empty"),
        ({"headers": {"Authorization": "Bearer \u4e2d\u6587-HEADER-SECRET"}}, "'Authorization'"),
    ],
)
def test_settings_that_would_silently_misbehave_are_refused(
    tmp_path: Path,
    receiver: Receiver,
    config: dict,
    named: str,
) -> None:
    done = cli(
        "--config",
        write_config(tmp_path, {"callback_url": receiver.url, **config}),
        stdin=singer_lines(schema("contacts"), contact(1)),
    )
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "Invalid settings" in line and named in line
    assert "HEADER-SECRET" not in done.stderr
    assert receiver.requests == []


def test_a_callback_url_with_credentials_is_refused_without_showing_them(tmp_path: Path, receiver: Receiver) -> None:
    # They would not be sent (no Basic auth from the URL), and URLs are logged.
    url = receiver.url.replace("http://", "http://admin:URL-HEADER-SECRET@")
    done = cli("--config", write_config(tmp_path, {"callback_url": url}), stdin=singer_lines(schema("contacts"), contact(1)))
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "callback_url must not contain a user name or password" in line and "headers" in line
    assert "URL-HEADER-SECRET" not in done.stderr
    assert receiver.requests == []


def test_an_unreadable_environment_variable_is_named_not_shown(receiver: Receiver) -> None:
    done = cli(
        "--config",
        "ENV",
        stdin=singer_lines(schema("contacts"), contact(1)),
        env={
            "TARGET_WEBHOOK_CALLBACK_URL": receiver.url,
            "TARGET_WEBHOOK_HEADERS": "Authorization: Bearer ENV-SECRET-4",
        },
    )
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "TARGET_WEBHOOK_HEADERS" in line
    assert "ENV-SECRET-4" not in done.stderr
    assert receiver.requests == []


def test_after_a_fatal_error_the_rest_of_the_input_is_read_not_sent(tmp_path: Path, receiver: Receiver) -> None:
    # A runner piping the tap into the target (Meltano) fails with BrokenPipeError when the
    # target stops reading: the target reads the rest of the input, sends none of it, and
    # exits 1 once the input ends.
    receiver.default = Answer(status=400)
    config = {"callback_url": receiver.url, "events_per_request": 1, "max_concurrent_requests": 1}
    process = _start(write_config(tmp_path, config))
    assert process.stdin is not None
    process.stdin.write(singer_lines(schema("contacts"), contact(1)))
    process.stdin.flush()
    _wait_for(lambda: len(receiver.requests) >= 1)
    time.sleep(0.5)
    more = singer_lines(*(contact(i) for i in range(2, 2000)), state({"s": 2}))
    process.stdin.write(more)  # would raise BrokenPipeError if the target had gone
    process.stdin.close()
    assert process.wait(timeout=30) == 1
    assert process.stdout is not None
    assert process.stderr is not None
    stdout, stderr = process.stdout.read(), process.stderr.read()
    assert stdout == ""
    [line] = error_lines(stderr)
    assert "HTTP 400" in line
    assert len(receiver.requests) == 1


def test_a_date_the_target_cannot_read_is_warned_about_once_per_stream(tmp_path: Path, inbox) -> None:
    url, client = inbox
    config = write_config(tmp_path, {"callback_url": url})
    lines = singer_lines(
        schema("contacts"),
        contact(1, updated="1767225600"),  # epoch seconds, not ISO 8601
        contact(2, updated="1767225601"),
        contact(3, updated="2026-01-02 03:04:05"),
    )
    done = cli("--config", config, stdin=lines)
    assert done.returncode == 0, done.stderr[-2000:]
    warned = [line for line in done.stderr.splitlines() if "not an ISO 8601 date-time" in line]
    assert len(warned) == 1, done.stderr[-2000:]
    assert "contacts" in warned[0] and "DATE_UPDATED_UTC" in warned[0] and "'1767225600'" in warned[0]
    events = {e["objectId"]: e for e in client.events()}
    assert sorted(events) == ["1", "2", "3"]
    assert events["1"]["date"] is None and events["1"]["eventType"] == "UPDATED"
    assert events["3"]["date"] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("expression", "error"),
    [("CONTACT_ID / (CONTACT_ID - 2)", "ZeroDivisionError"), ("CONTACT_ID + (NOPE if CONTACT_ID > 1 else 0)", "NameNotDefined")],
)
def test_a_stream_map_failing_on_a_record_is_one_line_naming_the_stream(
    tmp_path: Path, inbox, expression: str, error: str
) -> None:
    url, client = inbox
    config = write_config(tmp_path, {
        "callback_url": url, "events_per_request": 1,
        "stream_maps": {"contacts": {"ratio": expression}},
    })
    done = cli("--config", config, stdin=singer_lines(schema("contacts"), contact(1), state({"s": 1}), contact(2)))
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert f"stream_maps for stream 'contacts' failed on a record ({error}" in line
    assert "Traceback" not in done.stderr
    assert [e["objectId"] for e in client.events()] == ["1"]


def test_streams_settings_that_match_nothing_are_warned_about(tmp_path: Path, inbox) -> None:
    url, client = inbox
    config = write_config(tmp_path, {"callback_url": url, "streams": {
        "kontacts": {"object_type": "people"},
        "contacts": {"updated_date_field": "NOPE"},
    }})
    done = cli("--config", config, stdin=singer_lines(schema("contacts"), contact(1)))
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert any("'kontacts'" in w and "no such stream" in w and "contacts" in w for w in warnings), warnings
    assert any("streams.contacts.updated_date_field 'NOPE' is not a property" in w for w in warnings), warnings
    assert [e["date"] for e in client.events()] == [None]


def test_a_schema_with_the_updated_but_not_the_created_date_is_warned_about(tmp_path: Path, inbox) -> None:
    # What `meltano select tap-insightly contacts EMAIL_ADDRESS` gives: the replication key
    # stays, DATE_CREATED_UTC goes, and no event can be CREATED.
    url, client = inbox
    narrow = schema("contacts", CONTACT_ID={"type": "integer"}, DATE_UPDATED_UTC={"type": "string"})
    done = cli("--config", write_config(tmp_path, {"callback_url": url}),
               stdin=singer_lines(narrow, record("contacts", CONTACT_ID=1, DATE_UPDATED_UTC="2026-01-02 03:04:05")))
    assert done.returncode == 0, done.stderr[-2000:]
    warned = [line for line in done.stderr.splitlines() if "WARNING" in line and "every event is UPDATED" in line]
    assert len(warned) == 1 and "DATE_CREATED_UTC" in warned[0], done.stderr[-2000:]
    assert [e["eventType"] for e in client.events()] == ["UPDATED"]
