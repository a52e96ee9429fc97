"""Issue 3, point 8: limits and errors, against the sandbox's faults, gates and quota."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time

import pytest

from tap_insightly.client import (
    ApiKeyRejectedError,
    ApiUnreachableError,
    InsightlyStream,
    QuotaExhaustedError,
)
from tests.tap.helpers import (
    API_KEY,
    TAP,
    base_config,
    discover,
    error_lines,
    run_cli,
    run_tap,
    select,
)


def _contacts_complete(run, sandbox) -> None:
    ids = run.ids("contacts", "CONTACT_ID")
    assert sorted(ids) == sorted(c["CONTACT_ID"] for c in sandbox.all_records("Contacts"))


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "status"), (503, "status"), (0, "drop"), (0, "truncate_short"), (0, "truncate_length")],
)
def test_server_errors_and_broken_responses_are_retried(sandbox_url, sandbox, status, kind):
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    sandbox.fault("/Contacts/Search", status=status or 500, count=2, kind=kind)
    run = run_tap(base_config(sandbox_url, page_size=40), catalog=catalog)
    _contacts_complete(run, sandbox)
    assert len(re.findall(r"contacts: .*; retry \d of 5", run.logs)) == 2
    # 101 contacts in pages of 40 overlapping by one: 3 pages, plus the 2 failed tries.
    assert len(sandbox.requests("/Contacts")) == 3 + 2


def test_burst_429_waits_for_retry_after(sandbox_url, sandbox):
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    sandbox.fault("/Contacts/Search", status=429, count=1, retry_after=1)
    run = run_tap(base_config(sandbox_url), catalog=catalog)
    _contacts_complete(run, sandbox)
    # The wait is the server's Retry-After, not the backoff schedule.
    assert "contacts: 429 from /v3.1/Contacts/Search; retry 1 of 5 in 1.0 s" in run.logs


def test_burst_429_without_retry_after_backs_off(sandbox_url, sandbox):
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    sandbox.fault("/Contacts/Search", status=429, count=2)
    run = run_tap(base_config(sandbox_url), catalog=catalog)
    _contacts_complete(run, sandbox)
    waits = [float(w) for w in re.findall(r"contacts: 429 .*; retry \d of 5 in ([\d.]+) s", run.logs)]
    # Exponential with jitter: 0.25-0.5 s, then 0.5-1 s.
    assert len(waits) == 2 and 0.2 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


def test_daily_quota_exhausted_stops_after_state_for_what_was_synced(sandbox_url, sandbox):
    config = base_config(sandbox_url, page_size=20)
    catalog = select(discover(config), ["contacts", "leads"])
    sandbox.reset_quota()
    # Contacts take 6 requests (101 records, pages of 20 overlapping by one); leads then
    # meet the end of the daily quota.
    sandbox.set_daily_limit(8)
    run = run_tap(config, catalog=catalog, expect_error=True)
    assert isinstance(run.error, QuotaExhaustedError)
    assert "daily API quota exhausted" in str(run.error)
    assert run.state["bookmarks"]["contacts"]["replication_key_value"]
    refused = [r for r in sandbox.requests() if r["status"] == 429]
    # No retry storm: the tap stops when Remaining reaches 0 (or at the first 429).
    assert len(refused) <= 1
    sandbox.reset_quota()
    sandbox.set_daily_limit(100000)
    rest = run_tap(config, catalog=catalog, state=run.state)
    assert rest.records("contacts") == []
    assert len(rest.records("leads")) == sandbox.count("Leads")


def test_quota_reserve_stops_before_spending_the_reserve(sandbox_url, sandbox):
    config = base_config(sandbox_url, page_size=20, quota_reserve=99995)
    catalog = select(discover(base_config(sandbox_url)), ["contacts", "leads"])
    sandbox.reset_quota()
    sandbox.set_daily_limit(100000)
    sandbox.clear_requests()
    run = run_tap(config, catalog=catalog, expect_error=True)
    assert isinstance(run.error, QuotaExhaustedError)
    assert "quota_reserve 99995" in str(run.error)
    assert "exhausted" not in str(run.error)  # thousands are left: the reserve stopped it
    # Requests stop as soon as Remaining is below the reserve.
    assert len(sandbox.requests()) == 6


def test_rejected_key_is_reported_without_the_key(sandbox_url, tmp_path):
    config = dict(base_config(sandbox_url), api_key="wrong-key-5c2a91")
    run = run_tap(config, catalog=select(discover(base_config(sandbox_url)), ["contacts"]), expect_error=True)
    assert isinstance(run.error, ApiKeyRejectedError)
    result = run_cli(config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert [line.split("|")[-1].strip() for line in error_lines(result.stderr)] == [
        "API key rejected by Insightly (401): check api_key"
    ]
    assert "wrong-key-5c2a91" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_plan_gated_streams_are_skipped_with_one_warning(sandbox_url, sandbox):
    config = base_config(sandbox_url)
    catalog = select(discover(config), ["contacts", "tickets", "products", "knowledge_articles"])
    sandbox.plan_gate("/Ticket", 403)
    sandbox.plan_gate("/Product", 404)
    sandbox.plan_gate("/KnowledgeArticle", 403)
    run = run_tap(config, catalog=catalog)
    _contacts_complete(run, sandbox)
    assert run.records("tickets") == [] and run.records("products") == []
    warnings = [line for line in run.logs.splitlines() if "skipped" in line]
    assert len(warnings) == 3
    assert any("products: skipped, /Product answered 404" in w for w in warnings)


def test_every_stream_refused_fails_with_check_pod(sandbox_url, sandbox):
    config = base_config(sandbox_url)
    catalog = select(discover(config), ["tickets", "products"])
    sandbox.plan_gate("/Ticket", 403)
    sandbox.plan_gate("/Product", 404)
    run = run_tap(config, catalog=catalog, expect_error=True)
    assert isinstance(run.error, ApiUnreachableError)
    assert "check pod / api_url" in str(run.error)


def test_wrong_api_url_fails_with_check_pod(sandbox_url, tmp_path):
    wrong = sandbox_url.replace("/v3.1", "/v2.0")
    result = run_cli("--discover", config=base_config(wrong), tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "check pod / api_url" in errors[0]
    assert "Traceback" not in result.stderr


def test_the_key_never_appears_in_output(sandbox_url, sandbox, tmp_path):
    sandbox.fault("/Contacts/Search", status=429, count=1, retry_after=0)
    sandbox.fault("/Leads/Search", status=500, count=1)
    sandbox.plan_gate("/Ticket", 403)
    result = run_cli(
        config=base_config(sandbox_url, page_size=100),
        env={"TAP_INSIGHTLY_LOG_LEVEL": "debug"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RECORD" in result.stdout
    assert API_KEY not in result.stdout
    assert API_KEY not in result.stderr
    # Nor its Basic-auth form.
    encoded = base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert encoded not in result.stdout + result.stderr
    assert "Run used" in result.stderr and "daily quota remaining" in result.stderr


def test_client_side_throttle_spaces_requests(sandbox_url, sandbox):
    # The sandbox refuses more than 3 requests in any second with 429: a throttle at 3
    # per second never meets one.
    config = base_config(sandbox_url, page_size=10, requests_per_second=3)
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    sandbox.set_rate_limit(3)
    run = run_tap(config, catalog=catalog)
    _contacts_complete(run, sandbox)
    assert all(r["status"] != 429 for r in sandbox.requests())


def test_a_timed_out_request_is_retried(sandbox_url, sandbox, monkeypatch):
    # The tap waits 60 s for a response; here 1 s, against a response delayed by 3 s.
    monkeypatch.setattr(InsightlyStream, "timeout", property(lambda self: 1))
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    sandbox.fault("/Contacts/Search", kind="delay", delay_ms=3000, count=1)
    run = run_tap(base_config(sandbox_url), catalog=catalog)
    _contacts_complete(run, sandbox)
    assert "contacts: ReadTimeout; retry 1 of 5" in run.logs


@pytest.mark.parametrize(
    ("status", "kind", "named"),
    [(500, "status", "500 Internal Server Error"), (429, "status", "429"), (0, "truncate_short", "incomplete")],
)
def test_insightly_failing_on_every_try_is_one_line(sandbox_url, sandbox, tmp_path, status, kind, named):
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    # retry_after 0: the tap waits what the server says, so the retries take no time.
    sandbox.fault("/Contacts/Search", status=status or 500, count=-1, kind=kind, retry_after=0)
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    result = run_cli("--catalog", str(catalog_path), config=base_config(sandbox_url), tmp_path=tmp_path)
    assert result.returncode == 1
    errors = [line.split("|")[-1].strip() for line in error_lines(result.stderr)]
    assert len(errors) == 1, errors
    assert "/Contacts/Search" in errors[0] and named in errors[0]
    assert "after 6 tries" in errors[0] and "run again" in errors[0]
    assert "Traceback" not in result.stderr
    assert '"type":"RECORD"' not in result.stdout.replace(" ", "")
    assert len(sandbox.requests("/Contacts")) == 6


@pytest.mark.parametrize(
    "api_url",
    [
        "http://someone:TOPSECRET-77@127.0.0.1:1/v3.1",
        "http://127.0.0.1:1/v3.1?token=TOPSECRET-77",
        "http://127.0.0.1:1/v3.1#TOPSECRET-77",
    ],
)
def test_api_url_with_credentials_query_or_fragment_is_refused_without_echoing_it(tmp_path, api_url):
    result = run_cli("--discover", config={"api_key": API_KEY, "api_url": api_url}, tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "api_url" in errors[0], errors
    assert "TOPSECRET-77" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bookmark", ["28/11/2025", "0001-01-01T00:00:00Z"])
def test_a_bookmark_that_is_not_a_date_is_one_line_naming_the_stream(sandbox_url, sandbox, tmp_path, bookmark):
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    state = {"bookmarks": {"contacts": {"replication_key": "DATE_UPDATED_UTC", "replication_key_value": bookmark}}}
    sandbox.clear_requests()
    result = run_cli("--catalog", str(catalog_path), config=base_config(sandbox_url), state=state, tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1, errors
    assert "contacts" in errors[0] and bookmark in errors[0] and "state" in errors[0]
    assert "Traceback" not in result.stderr
    assert sandbox.requests("/Contacts") == []


@pytest.mark.parametrize("memo", ["junk", {"bookmark": "x", "versions": "junk"}, {"versions": {"1": "junk"}}])
def test_a_malformed_versions_memo_is_ignored_with_a_warning(sandbox_url, sandbox, memo):
    # The memo only spares re-sending versions already sent at the bookmark's second:
    # without it a few records may come again, none is lost.
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    state = {"bookmarks": {"contacts": {
        "replication_key": "DATE_UPDATED_UTC",
        "replication_key_value": "2000-01-01T00:00:00Z",
        "emitted_versions": memo,
    }}}
    run = run_tap(base_config(sandbox_url), catalog=catalog, state=state)
    _contacts_complete(run, sandbox)
    assert "contacts: ignoring the malformed emitted_versions in the state" in run.logs


def test_a_failed_run_leaves_no_file_open(sandbox_url, tmp_path):
    # Meltano runs plugins with PYTHONWARNINGS=once, and discovers with --state given too:
    # an unclosed --state file shows.
    config = dict(base_config(sandbox_url), api_key="wrong-key-5c2a91")
    state = tmp_path / "given-state.json"
    state.write_text("{}")
    for args in (("--state", str(state)), ("--state", str(state), "--discover")):
        result = run_cli(*args, config=config, env={"PYTHONWARNINGS": "always"}, tmp_path=tmp_path)
        assert result.returncode == 1, args
        assert "ResourceWarning" not in result.stderr, args


def _start_tap(tmp_path, config: dict, *args: str) -> subprocess.Popen:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_INSIGHTLY_")}
    return subprocess.Popen([TAP, "--config", str(path), *args], stdout=subprocess.PIPE,  # noqa: S603
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopped_during_discovery_it_exits_non_zero_writing_nothing(sandbox_url, sandbox, tmp_path, sig):
    # The SDK wrote a STATE line and exited 0: Meltano took that line for the catalog.
    sandbox.set_latency(400)
    process = _start_tap(tmp_path, base_config(sandbox_url), "--discover")
    deadline = time.monotonic() + 30
    while not sandbox.requests() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + sig
    assert stdout == ""
    [line] = error_lines(stderr)
    assert "Stopped by signal" in line and "discovery" in line


def test_stopped_during_the_sync_it_writes_whole_lines_and_state_and_exits_non_zero(sandbox_url, sandbox, tmp_path):
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    sandbox.set_latency(300)
    process = _start_tap(tmp_path, base_config(sandbox_url, page_size=10, requests_per_second=2),
                         "--catalog", str(tmp_path / "catalog.json"))
    deadline = time.monotonic() + 30
    while len(sandbox.requests("/v3.1/Contacts/Search")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    messages = [json.loads(line) for line in stdout.splitlines()]
    assert any(m["type"] == "RECORD" for m in messages)
    assert messages[-1]["type"] == "STATE"
    # Unsorted pages: the bookmark does not move past records not read yet.
    assert "replication_key_value" not in messages[-1]["value"]["bookmarks"].get("contacts", {})
    assert "Stopped by signal 15 during the sync" in stderr
