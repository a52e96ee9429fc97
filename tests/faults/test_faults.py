"""Each fault on its own, end to end through `meltano run`: after recovery nothing is lost.

Every test ends with `harness.verdict()`: every record version that existed throughout a
successful run was delivered, nothing was delivered that never existed, and a re-delivered
version always carries the eventId of its first delivery.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest

from demo.pipeline import PROJECT_ROOT
from tests.faults.ledger import snapshot
from tests.pipeline_fixtures import API_KEY, plugin_tracebacks

SEARCH = "/v3.1/Contacts/Search"


def some_changes(harness) -> None:
    harness.create("Contacts")
    harness.create("Leads")
    contacts = harness.ids("Contacts")
    harness.update("Contacts", contacts[0])
    harness.update("Contacts", contacts[0])  # twice within a second: two versions
    harness.update("Organisations", harness.ids("Organisations")[1])
    harness.update("Opportunities", harness.ids("Opportunities")[-1])


def hit(sandbox, status: int) -> int:
    return sum(1 for r in sandbox.requests(SEARCH) if r["status"] == status)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 429, "count": 3}, id="429-burst"),
        pytest.param({"status": 429, "count": 2, "retry_after": 1}, id="429-retry-after"),
        pytest.param({"status": 500, "count": 2}, id="500"),
        pytest.param({"status": 503, "count": 1}, id="503"),
        pytest.param({"kind": "drop", "count": 2}, id="dropped-connection"),
        pytest.param({"kind": "truncate_short", "count": 1}, id="truncated-short-body"),
        pytest.param({"kind": "truncate_length", "count": 1}, id="truncated-before-length"),
    ],
)
def test_api_faults_are_retried(harness, sandbox, fault):
    some_changes(harness)
    sandbox.fault(SEARCH, **fault)
    result = harness.run()
    assert result.returncode == 0, result.output[-3000:]
    # the fault really happened: the same page was asked for again after it
    assert len(sandbox.requests(SEARCH)) > 1
    harness.verdict()


def discovery_cost(sandbox, sandbox_url, tmp_path) -> int:
    config = tmp_path / "tap.json"
    config.write_text(json.dumps({"api_key": API_KEY, "api_url": sandbox_url}))
    sandbox.clear_requests()
    subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "tap-insightly"), "--config",
                    str(config), "--discover"], check=True, capture_output=True)
    return len(sandbox.requests())


def test_daily_quota_runs_out_mid_sync(harness, sandbox, sandbox_url, pipeline, tmp_path):
    pipeline.extra_env["TAP_INSIGHTLY_PAGE_SIZE"] = "20"
    # Meltano discovers, then syncs: contacts (100 records, 6 overlapping pages of 20) fit
    # in the quota, the next stream does not.
    sandbox.set_daily_limit(discovery_cost(sandbox, sandbox_url, tmp_path) + 8)
    sandbox.reset_quota()
    result = harness.run()
    assert result.returncode != 0
    assert "daily API quota exhausted" in result.output
    assert not plugin_tracebacks(result.output)
    saved = pipeline.state()
    sandbox.reset_quota()
    sandbox.set_daily_limit(100_000)
    sandbox.clear_requests()
    result = harness.run()
    assert result.returncode == 0, result.output[-3000:]
    harness.verdict()
    # the failed run kept what it had synced: the next one did not read contacts again
    assert "contacts" in saved["singer_state"]["bookmarks"]
    assert len(sandbox.requests(SEARCH)) == 1


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"status": 500, "count": 4}, id="500-then-ok"),
        pytest.param({"status": 429, "count": 3, "retry_after": 1}, id="429-then-ok"),
        pytest.param({"status": 503, "count": 2}, id="503-then-ok"),
    ],
)
def test_receiver_fails_for_a_while(harness, inbox, failure):
    some_changes(harness)
    inbox.fail(**failure)
    result = harness.run()
    assert result.returncode == 0, result.output[-3000:]
    assert sum(1 for r in inbox.requests() if r["status"] == failure["status"]) == failure["count"]
    harness.verdict()


def test_receiver_times_out_for_a_while(harness, inbox):
    some_changes(harness)
    inbox.delay(3000)  # longer than request_timeout_seconds (2 s here)
    threading.Timer(8, inbox.delay, args=(0,)).start()
    result = harness.run()
    assert result.returncode == 0, result.output[-3000:]
    harness.verdict()


def test_receiver_400_fails_the_run_and_nothing_is_acknowledged_past_it(harness, inbox, pipeline):
    first = harness.run()
    assert first.returncode == 0
    bookmarks = pipeline.state()["singer_state"]["bookmarks"]
    some_changes(harness)
    inbox.fail(status=400, count=1)
    failed = harness.run()
    assert failed.returncode != 0
    assert "400" in failed.output and "127.0.0.1" in failed.output
    # the state did not move past the rejected events
    assert pipeline.state()["singer_state"]["bookmarks"] == bookmarks
    harness.recover()
    harness.verdict()


def test_receiver_400_on_a_full_sync_is_the_targets_one_line_not_a_runner_traceback(harness, inbox):
    # The target stops at the first rejected request while the tap is still writing the
    # full sync: it keeps reading (and dropping) the tap's output, so Meltano does not fail
    # with a BrokenPipeError traceback of its own that buries the reason.
    inbox.fail(status=400, count=1)
    failed = harness.run()
    assert failed.returncode != 0
    assert "BrokenPipeError" not in failed.output, failed.output[-3000:]
    assert "HTTP 400" in failed.output and not plugin_tracebacks(failed.output)
    assert sum(1 for r in inbox.requests() if r["status"] == 400) == 1
    harness.recover()
    harness.verdict()


def test_receiver_unreachable_then_back(harness, pipeline):
    pipeline.extra_env.update({"TARGET_WEBHOOK_CALLBACK_URL": "http://127.0.0.1:9/",
                               "TARGET_WEBHOOK_MAX_RETRIES": "1"})
    failed = harness.run()
    assert failed.returncode != 0
    assert "127.0.0.1" in failed.output and not plugin_tracebacks(failed.output)
    assert pipeline.state() == {} or not pipeline.state().get("singer_state", {}).get("bookmarks")
    del pipeline.extra_env["TARGET_WEBHOOK_CALLBACK_URL"]
    harness.recover()
    harness.verdict()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_during_paging(harness, sandbox, pipeline, sig):
    pipeline.extra_env["TAP_INSIGHTLY_PAGE_SIZE"] = "10"
    sandbox.set_latency(150)
    some_changes(harness)
    harness.run_killed(sig, until=lambda: len(sandbox.requests(SEARCH)) >= 3)
    sandbox.set_latency(0)
    if sig == signal.SIGKILL:
        # Meltano still has the killed job marked running: a plain run is refused ...
        refused = harness.run()
        assert refused.returncode != 0 and "--force" in refused.output
    harness.recover()  # ... and `meltano run --force` is the documented recovery
    harness.verdict()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_during_delivery(harness, inbox, sig):
    some_changes(harness)
    inbox.delay(100)
    harness.run_killed(sig, until=lambda: len(inbox.requests()) >= 5)
    harness.recover()
    report = harness.verdict()
    print(f"duplicates after {sig.name} during delivery: {report['duplicates']}")


def test_ctrl_c_during_delivery_stops_every_process_without_a_traceback(harness, inbox):
    # Ctrl-C at a terminal: Meltano, the tap and the target each get SIGINT.
    some_changes(harness)
    inbox.delay(100)
    returncode = harness.run_killed(signal.SIGINT, until=lambda: len(inbox.requests()) >= 5)
    print(f"meltano exited {returncode} after SIGINT")
    assert returncode != 0
    assert not plugin_tracebacks(harness.last_killed_output)
    assert "BrokenPipeError" not in harness.last_killed_output
    harness.recover()
    harness.verdict()


def test_no_change_run_keeps_the_bookmark(harness, pipeline, inbox):
    assert harness.run().returncode == 0
    before = pipeline.state()
    delivered = len(inbox.events())
    time.sleep(1.1)
    assert harness.run().returncode == 0
    assert pipeline.state() == before
    assert len(inbox.events()) == delivered
    harness.verdict()


def test_records_change_between_pages(harness, sandbox, pipeline):
    pipeline.extra_env["TAP_INSIGHTLY_PAGE_SIZE"] = "10"
    ids = harness.ids("Contacts")
    sandbox.schedule_change(SEARCH, after_requests=2, changes=[
        {"op": "delete", "resource": "Contacts", "id": ids[1]},
        {"op": "delete", "resource": "Contacts", "id": ids[2]},
        {"op": "update", "resource": "Contacts", "id": ids[40], "fields": {"BACKGROUND": "mid-sync"}},
        {"op": "create", "resource": "Contacts", "fields": {"FIRST_NAME": "Mid", "BACKGROUND": "new"}},
    ])
    result = harness.run()
    assert result.returncode == 0, result.output[-3000:]
    # versions written by the scheduled change are real versions too
    harness.ledger.observe(snapshot(sandbox))
    assert harness.run().returncode == 0
    harness.verdict()


def test_custom_field_and_custom_object_added_between_runs(harness, sandbox, pipeline, inbox):
    assert harness.run().returncode == 0
    sandbox.add_custom_field(object_name="Contacts", field_name="Late_Field__c", field_type="TEXT")
    sandbox.add_custom_object(object_name="Vegetable__c",
                              records=[{"RECORD_NAME": "Leek"}, {"RECORD_NAME": "Kale"}])
    contact_id = harness.ids("Contacts")[3]
    sandbox.update("Contacts", {"CONTACT_ID": contact_id, "BACKGROUND": "late field",
                                "CUSTOMFIELDS": [{"FIELD_NAME": "Late_Field__c",
                                                  "FIELD_VALUE": "arrived late"}]})
    pipeline.extra_env["TAP_INSIGHTLY__SELECT"] = (
        '["organisations.*", "contacts.*", "leads.*", "opportunities.*", "vegetable__c.*"]')
    inbox.clear()
    result = harness.run()
    assert result.returncode == 0, result.output[-3000:]
    events = inbox.events()
    contact = next(e["record"] for e in events if e["objectType"] == "contacts"
                   and e["objectId"] == str(contact_id))
    assert {"FIELD_NAME": "Late_Field__c", "FIELD_VALUE": "arrived late",
            "CUSTOM_FIELD_ID": "Late_Field__c"} in contact["CUSTOMFIELDS"]
    vegetables = sorted(e["record"]["RECORD_NAME"] for e in events
                        if e["objectType"] == "vegetable__c")
    assert vegetables == ["Kale", "Leek"]


def test_custom_field_added_in_the_bookmark_second_is_not_a_change(harness, sandbox, inbox):
    # A new custom field gives every record of the object a new (null) column, but no
    # record changed: nothing may be delivered again, and never under a new eventId.
    sandbox.clock_freeze()
    harness.create("Leads")
    assert harness.run().returncode == 0
    delivered = len(inbox.events())
    sandbox.add_custom_field(object_name="Leads", field_name="Drift__c", field_type="TEXT")
    assert harness.run().returncode == 0
    assert len(inbox.events()) == delivered
    harness.verdict()


def test_invalid_target_settings_are_its_one_line_not_a_runner_traceback(harness, pipeline):
    # The target fails before reading its input while the tap writes a full sync.
    pipeline.extra_env["TARGET_WEBHOOK_EVENTS_PER_REQUEST"] = "0"
    failed = harness.run()
    assert failed.returncode != 0
    assert "BrokenPipeError" not in failed.output, failed.output[-3000:]
    assert "events_per_request" in failed.output and not plugin_tracebacks(failed.output)
    del pipeline.extra_env["TARGET_WEBHOOK_EVENTS_PER_REQUEST"]
    harness.recover()
    harness.verdict()
