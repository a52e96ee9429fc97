"""Bad input to either plugin: one clear line, a non-zero exit, nothing lost or half-sent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from demo.pipeline import PROJECT_ROOT
from tests.pipeline_fixtures import API_KEY, SIGNATURE_KEY, assert_no_secrets

BIN = PROJECT_ROOT / ".venv" / "bin"


def run_cli(plugin: str, args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / plugin), *args], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=PROJECT_ROOT)
    assert_no_secrets(proc.stdout, proc.stderr)
    return proc


def assert_one_clear_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, f"{word!r} not in the error line {last!r}"


def write(path: Path, content) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ({"api_key": None}, "api_key"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"start_date": "last tuesday"}, "start_date"),
        ({"requests_per_second": 50}, "requests_per_second"),
        ({"poller_configuration": "{not json"}, "poller_configuration"),
        ({"poller_configuration": {"widgets": {"url": "/hubs/crm/widgets", "idField": "ID"}}},
         "poller_configuration"),
    ],
)
@pytest.mark.parametrize("mode", [[], ["--discover"]], ids=["sync", "discover"])
def test_tap_rejects_bad_settings_before_any_request(sandbox, sandbox_url, tmp_path, override,
                                                     names, mode):
    config = {"api_key": API_KEY, "api_url": sandbox_url, **override}
    config = {k: v for k, v in config.items() if v is not None}
    sandbox.clear_requests()
    proc = run_cli("tap-insightly", ["--config", write(tmp_path / "c.json", config), *mode])
    assert_one_clear_line(proc, names)
    assert proc.stdout == ""
    assert sandbox.requests() == []


def test_tap_rejects_a_state_file_that_is_not_json(sandbox, sandbox_url, tmp_path):
    config = write(tmp_path / "c.json", {"api_key": API_KEY, "api_url": sandbox_url})
    proc = run_cli("tap-insightly", ["--config", config, "--state",
                                     write(tmp_path / "state.json", "{'bookmarks': ")])
    assert_one_clear_line(proc, "state")
    assert '"type":"RECORD"' not in proc.stdout.replace(" ", "")


def test_tap_rejects_an_unknown_stream_in_the_catalog(sandbox, sandbox_url, tmp_path):
    config = write(tmp_path / "c.json", {"api_key": API_KEY, "api_url": sandbox_url})
    catalog = json.loads(run_cli("tap-insightly", ["--config", config, "--discover"]).stdout)
    widgets = json.loads(json.dumps(catalog["streams"][0]))
    widgets.update(tap_stream_id="widgets", stream="widgets")
    catalog["streams"] = [widgets]
    for entry in widgets["metadata"]:
        if entry["breadcrumb"] == []:
            entry["metadata"]["selected"] = True
    proc = run_cli("tap-insightly", ["--config", config, "--catalog",
                                     write(tmp_path / "catalog.json", catalog)])
    assert_one_clear_line(proc, "widgets")


def target_config(tmp_path: Path, **settings) -> str:
    return write(tmp_path / "t.json", {"signature_key": SIGNATURE_KEY,
                                       "retry_initial_delay_ms": 10, **settings})


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"callback_url": "http://hooks.example.com/insightly"}, "callback_url"),
        ({"callback_url": "ftp://127.0.0.1/x"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"events_per_request": 0}, "events_per_request"),
        ({"events_per_request": 1001}, "events_per_request"),
        ({"payload_format": "xml"}, "payload_format"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_target_rejects_bad_settings_and_posts_nothing(inbox, inbox_url, tmp_path, settings,
                                                       name):
    settings = {"callback_url": inbox_url, **settings}
    proc = run_cli("target-webhook", ["--config", target_config(tmp_path, **settings)],
                   stdin=SCHEMA + record(1) + STATE(1))
    assert_one_clear_line(proc, name)
    assert inbox.requests() == [] and proc.stdout == ""


SCHEMA = json.dumps({"type": "SCHEMA", "stream": "contacts", "key_properties": ["CONTACT_ID"],
                     "schema": {"properties": {"CONTACT_ID": {"type": "integer"},
                                               "DATE_UPDATED_UTC": {"type": "string"}}}}) + "\n"


def record(contact_id, **fields) -> str:
    return json.dumps({"type": "RECORD", "stream": "contacts",
                       "record": {"CONTACT_ID": contact_id,
                                  "DATE_UPDATED_UTC": "2025-04-22T20:03:25+00:00", **fields}}) + "\n"


def STATE(n: int) -> str:  # noqa: N802  (reads like the message it builds)
    return json.dumps({"type": "STATE", "value": {"bookmarks": {"contacts": {"n": n}}}}) + "\n"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        pytest.param(json.dumps({"type": "RECORD", "stream": "leads", "record": {"LEAD_ID": 1}})
                     + "\n", ["leads"], id="record-before-schema"),
        pytest.param("this is not json\n", ["JSON"], id="non-json-line"),
        pytest.param(record(None), ["contacts", "CONTACT_ID"], id="record-key-null"),
        pytest.param(json.dumps({"type": "RECORD", "stream": "contacts",
                                 "record": {"DATE_UPDATED_UTC": "2025-04-22T20:03:25+00:00"}})
                     + "\n", ["contacts", "CONTACT_ID"], id="record-missing-key"),
    ],
)
def test_target_bad_input_fails_after_delivering_what_came_before(inbox, inbox_url, tmp_path,
                                                                  bad, words):
    stdin = SCHEMA + record(1) + STATE(1) + bad + record(2) + STATE(2)
    proc = run_cli("target-webhook", ["--config", target_config(tmp_path, callback_url=inbox_url)],
                   stdin=stdin)
    assert_one_clear_line(proc, *words)
    # what came before the bad line was delivered and acknowledged, nothing after it
    assert [e["objectId"] for e in inbox.events()] == ["1"]
    states = [json.loads(line) for line in proc.stdout.splitlines()]
    assert states == [{"bookmarks": {"contacts": {"n": 1}}}]


def test_target_callback_unreachable(tmp_path):
    proc = run_cli("target-webhook",
                   ["--config", target_config(tmp_path, callback_url="http://127.0.0.1:9/hook?token=abc",
                                              max_retries=1)],
                   stdin=SCHEMA + record(1) + STATE(1))
    assert_one_clear_line(proc, "127.0.0.1")
    assert "token=abc" not in proc.stderr
    assert proc.stdout == ""
