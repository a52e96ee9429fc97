"""Issue 3, point 6: correct at the edges (same second, changes between pages, order,
interruption) — each against the sandbox."""

from __future__ import annotations

import pytest
import requests

from insightly_sandbox import SandboxClient, running_sandbox
from tap_insightly.client import InsightlyStream, RecordsKeptMovingError
from tests.tap.helpers import API_KEY, base_config, discover, run_tap, select

INCREMENTAL = ["contacts", "leads", "opportunities", "organisations", "fruit__c"]
# The tap fetches round(requests_per_second) pages at once: below 1.5, one at a time.
MAX_SEQUENTIAL_RATE = 1.4


def _data_requests(sandbox: SandboxClient) -> list[dict]:
    return [r for r in sandbox.requests() if "/Search" in r["path"]]


# -- a. an unchanged rerun emits nothing, with one request per stream ----------------------


def test_rerun_with_nothing_changed_emits_nothing_with_one_request_each(sandbox_url, sandbox):
    config = base_config(sandbox_url)
    first = run_tap(config, streams=INCREMENTAL)
    assert len(first.records("contacts")) == sandbox.count("Contacts")
    sandbox.clear_requests()
    second = run_tap(config, state=first.state, streams=INCREMENTAL)
    assert second.records() == []
    requests = _data_requests(sandbox)
    assert sorted(r["path"].rsplit("/", 2)[-2] for r in requests) == sorted(
        ["Contacts", "Leads", "Opportunities", "Organisations", "Fruit__c"]
    )
    assert second.state["bookmarks"]["contacts"] == first.state["bookmarks"]["contacts"]


# -- b. the bookmark second ----------------------------------------------------------------


def test_same_second_changes_after_a_run_are_emitted(sandbox_url, sandbox):
    sandbox.clock_freeze("2026-03-01T10:00:00Z")
    ids = [c["CONTACT_ID"] for c in sandbox.all_records("Contacts")[:3]]
    for contact_id in ids:
        sandbox.update("Contacts", {"CONTACT_ID": contact_id, "BACKGROUND": "first"})
    config = base_config(sandbox_url)
    first = run_tap(config, streams=["contacts"])
    assert first.state["bookmarks"]["contacts"]["replication_key_value"] == "2026-03-01T10:00:00+00:00"
    assert set(ids) <= set(first.ids("contacts", "CONTACT_ID"))

    # Same second, after the run: one record updated twice, another once.
    sandbox.update("Contacts", {"CONTACT_ID": ids[0], "BACKGROUND": "second"})
    sandbox.update("Contacts", {"CONTACT_ID": ids[0], "BACKGROUND": "third"})
    sandbox.update("Contacts", {"CONTACT_ID": ids[1], "BACKGROUND": "second"})
    second = run_tap(config, state=first.state, streams=["contacts"])
    emitted = {r["CONTACT_ID"]: r["BACKGROUND"] for r in second.records("contacts")}
    assert emitted == {ids[0]: "third", ids[1]: "second"}

    third = run_tap(config, state=second.state, streams=["contacts"])
    assert third.records() == []

    # The clock moves on: only the newly changed record.
    sandbox.clock_set("2026-03-01T10:00:01Z")
    sandbox.update("Contacts", {"CONTACT_ID": ids[2], "BACKGROUND": "later"})
    fourth = run_tap(config, state=third.state, streams=["contacts"])
    assert fourth.ids("contacts", "CONTACT_ID") == [ids[2]]
    assert fourth.state["bookmarks"]["contacts"]["replication_key_value"] == "2026-03-01T10:00:01+00:00"


def test_bookmark_second_larger_than_a_page(sandbox_url, sandbox):
    sandbox.clock_freeze("2026-03-01T10:00:00Z")
    ids = [c["CONTACT_ID"] for c in sandbox.all_records("Contacts")[:23]]
    for contact_id in ids:
        sandbox.update("Contacts", {"CONTACT_ID": contact_id, "BACKGROUND": "bulk edit"})
    config = base_config(sandbox_url, page_size=5)
    first = run_tap(config, streams=["contacts"])
    assert len(first.records("contacts")) == sandbox.count("Contacts")

    sandbox.clear_requests()
    second = run_tap(config, state=first.state, streams=["contacts"])
    assert second.records() == []
    # 23 records in the bookmark second, pages of 5 overlapping by one: ceil(22 / 4).
    assert len(_data_requests(sandbox)) == 6

    sandbox.update("Contacts", {"CONTACT_ID": ids[17], "BACKGROUND": "again, same second"})
    third = run_tap(config, state=second.state, streams=["contacts"])
    assert third.ids("contacts", "CONTACT_ID") == [ids[17]]


def test_server_clock_ahead_of_local_clock_does_not_stall_bookmarks(sandbox_url, sandbox):
    # The SDK would cap bookmarks at the local clock; the tap uses the API's Date.
    sandbox.clock_freeze("2031-06-01T00:00:00Z")
    contact = sandbox.all_records("Contacts")[0]
    sandbox.update("Contacts", {"CONTACT_ID": contact["CONTACT_ID"], "BACKGROUND": "future"})
    config = base_config(sandbox_url)
    first = run_tap(config, streams=["contacts"])
    assert first.state["bookmarks"]["contacts"]["replication_key_value"] == "2031-06-01T00:00:00+00:00"
    second = run_tap(config, state=first.state, streams=["contacts"])
    assert second.records() == []


def test_bookmark_never_ahead_of_the_server_clock(sandbox_url, sandbox):
    # Record A (first page, already read) changes a second into the sync; record B (last
    # page, not read yet) changes later. A bookmark at the highest value seen (B's) would
    # skip A forever; capped at the server's time at the start, the next run reads A.
    order = [c["CONTACT_ID"] for c in _ordered(sandbox_url, scrambled=False)]
    a, b = order[0], order[-1]
    sandbox.clock_set("2026-03-01T10:00:00Z")  # running, not frozen
    sandbox.schedule_change("/Contacts/Search", after_requests=2, changes=[
        {"op": "update", "resource": "Contacts", "id": a, "fields": {"BACKGROUND": "A"}}])
    sandbox.schedule_change("/Contacts/Search", after_requests=4, changes=[
        {"op": "update", "resource": "Contacts", "id": b, "fields": {"BACKGROUND": "B"}}])
    # One request a second, pages of 20 (overlapping by one): 6 requests.
    config = base_config(sandbox_url, page_size=20, requests_per_second=1)
    first = run_tap(config, streams=["contacts"])
    emitted_b = next(r for r in first.records("contacts") if r["CONTACT_ID"] == b)
    emitted_a = next(r for r in first.records("contacts") if r["CONTACT_ID"] == a)
    assert emitted_b["BACKGROUND"] == "B" and emitted_a["BACKGROUND"] != "A"
    bookmark = first.state["bookmarks"]["contacts"]["replication_key_value"]
    assert bookmark < emitted_b["DATE_UPDATED_UTC"]
    second = run_tap(config, state=first.state, streams=["contacts"])
    assert {r["CONTACT_ID"]: r["BACKGROUND"] for r in second.records("contacts")} == {a: "A"}


# -- c. changes between pages ----------------------------------------------------------------


def _between_pages(sandbox_url: str, sandbox: SandboxClient, changes: list[dict], *, page_size: int,
                   after_requests: int, rps: float = 10) -> tuple[dict, set, set, str]:
    before = {c["CONTACT_ID"]: c for c in sandbox.all_records("Contacts")}
    sandbox.schedule_change("/Contacts/Search", after_requests=after_requests, changes=changes)
    config = base_config(sandbox_url, page_size=page_size, requests_per_second=rps)
    first = run_tap(config, streams=["contacts"])
    second = run_tap(config, state=first.state, streams=["contacts"])
    first_ids, second_ids = set(first.ids("contacts", "CONTACT_ID")), set(second.ids("contacts", "CONTACT_ID"))
    return before, first_ids, second_ids, first.logs


def _check_nothing_lost(sandbox: SandboxClient, before: dict, first: set, second: set, changed: set) -> None:
    after = {c["CONTACT_ID"]: c for c in sandbox.all_records("Contacts")}
    unchanged = {i for i in before if i in after and i not in changed}
    assert unchanged <= first, f"unchanged records never emitted: {sorted(unchanged - first)}"
    live_changed = {i for i in after if i in changed or i not in before}
    assert live_changed <= first | second, f"changed records lost: {sorted(live_changed - first - second)}"


@pytest.mark.parametrize(("scrambled", "rps"), [(False, 10), (True, 10)], ids=["ordered", "scrambled"])
def test_deletes_creates_and_updates_between_pages_lose_nothing(sandbox_url, sandbox, scrambled, rps):
    sandbox.set_scrambled(scrambled)
    query_order = [c["CONTACT_ID"] for c in _ordered(sandbox_url, scrambled)]
    # Three deletes on the first page shift every later record three places left.
    deleted = query_order[1:4]
    updated = query_order[30]
    changes = [{"op": "delete", "resource": "Contacts", "id": i} for i in deleted]
    changes.append({"op": "update", "resource": "Contacts", "id": updated, "fields": {"BACKGROUND": "x"}})
    changes.append({"op": "create", "resource": "Contacts", "fields": {"FIRST_NAME": "New", "LAST_NAME": "One"}})
    before, first, second, logs = _between_pages(
        sandbox_url, sandbox, changes, page_size=10, after_requests=2, rps=rps
    )
    assert "page boundary moved" in logs
    _check_nothing_lost(sandbox, before, first, second, set(deleted) | {updated})


def test_a_record_that_slips_left_then_is_pushed_back_right_is_not_lost(sandbox_url, sandbox):
    # One request at a time (requests_per_second 1). Page 1 is read; two of its records are
    # deleted, so the rest slip two places left and one record falls between page 1 and
    # page 2; page 2 is read; then new records land before the boundary (the order is not
    # by id, as in Insightly when updated records newly match the query) and push that
    # record back right before the tap reads around the boundary again.
    sandbox.set_scrambled(True)
    order = [c["CONTACT_ID"] for c in _ordered(sandbox_url, scrambled=True)]
    deletes = [{"op": "delete", "resource": "Contacts", "id": i} for i in order[:2]]
    creates = [{"op": "create", "resource": "Contacts", "fields": {"FIRST_NAME": "New", "LAST_NAME": f"N{i}"}}
               for i in range(4)]
    # Where the new records land: the same changes on a sandbox with the same seed.
    with running_sandbox(api_key=API_KEY, seed=3, scale=1, scrambled=True) as probe_url, \
            SandboxClient(probe_url, api_key=API_KEY) as probe:
        probe.apply_changes(deletes + creates)
        probe_order = [c["CONTACT_ID"] for c in _ordered(probe_url, scrambled=True)]
    new = [i for i in probe_order if i not in set(order)]
    assert len(new) == len(creates)
    # Page 1 ends (its last record, the overlap) at the first old record after two new ones.
    anchor = next(i for i in probe_order[probe_order.index(new[1]) + 1 :] if i in set(order))
    page_size = order.index(anchor) + 1
    assert 4 <= page_size < len(order) - 3
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    sandbox.schedule_change("/Contacts/Search", after_requests=1, changes=deletes)
    sandbox.schedule_change("/Contacts/Search", after_requests=2, changes=creates)
    first = run_tap(base_config(sandbox_url, page_size=page_size, requests_per_second=1), catalog=catalog)
    assert "page boundary moved" in first.logs
    unchanged = set(order[2:])
    emitted = set(first.ids("contacts", "CONTACT_ID"))
    assert unchanged <= emitted, f"lost: {sorted(unchanged - emitted)}"


def test_a_shift_larger_than_a_page_is_repaired_by_reading_again(sandbox_url, sandbox):
    query_order = [c["CONTACT_ID"] for c in _ordered(sandbox_url, scrambled=False)]
    deleted = query_order[0:14]
    changes = [{"op": "delete", "resource": "Contacts", "id": i} for i in deleted]
    before, first, second, logs = _between_pages(
        sandbox_url, sandbox, changes, page_size=10, after_requests=2
    )
    assert "reading the query once more" in logs
    _check_nothing_lost(sandbox, before, first, second, set(deleted))


def test_the_second_read_after_a_large_shift_is_checked_too(sandbox_url, sandbox):
    # 14 deletes after the second request: more than the bridge can span, so the query is
    # read again. Two more deletes right after that read's first page: its own boundary
    # shifts, and must be bridged like the first read's.
    order = [c["CONTACT_ID"] for c in _ordered(sandbox_url, scrambled=False)]
    large = [{"op": "delete", "resource": "Contacts", "id": i} for i in order[0:14]]
    small = [{"op": "delete", "resource": "Contacts", "id": i} for i in order[15:17]]
    # One request at a time, so that the request counts are the same in both runs.
    config = base_config(sandbox_url, page_size=10, requests_per_second=MAX_SEQUENTIAL_RATE)
    catalog = select(discover(base_config(sandbox_url)), ["contacts"])
    # Where the second read starts: the same run on a sandbox with the same seed.
    with running_sandbox(api_key=API_KEY, seed=3, scale=1) as probe_url, \
            SandboxClient(probe_url, api_key=API_KEY) as probe:
        probe.schedule_change("/Contacts/Search", after_requests=2, changes=large)
        dry = run_tap(dict(config, api_url=probe_url), catalog=catalog)
        assert "reading the query once more" in dry.logs
        skips = [r["query"]["skip"] for r in _data_requests(probe)]
    second_read_starts = [i for i, skip in enumerate(skips) if skip == "0"][1] + 1
    sandbox.schedule_change("/Contacts/Search", after_requests=2, changes=large)
    sandbox.schedule_change("/Contacts/Search", after_requests=second_read_starts, changes=small)
    first = run_tap(config, catalog=catalog)
    unchanged = set(order) - set(order[0:14]) - set(order[15:17])
    emitted = set(first.ids("contacts", "CONTACT_ID"))
    assert unchanged <= emitted, f"lost: {sorted(unchanged - emitted)}"


def test_a_query_that_never_stops_moving_fails_the_sync_keeping_the_bookmark(sandbox_url, sandbox, monkeypatch):
    # Every read is disturbed beyond repair (the bridge is made to fail; a record is
    # deleted before every request): after three reads the sync fails in one line, and
    # the stream's bookmark does not move.
    order = [c["CONTACT_ID"] for c in _ordered(sandbox_url, scrambled=False)]
    for n, contact_id in enumerate(order[:60], start=2):
        sandbox.schedule_change("/Contacts/Search", after_requests=n, changes=[
            {"op": "delete", "resource": "Contacts", "id": contact_id}])
    monkeypatch.setattr(InsightlyStream, "_bridge", lambda self, context, previous, page: None)
    config = base_config(sandbox_url, page_size=10, requests_per_second=0)
    run = run_tap(config, streams=["contacts"], expect_error=True)
    assert isinstance(run.error, RecordsKeptMovingError)
    assert "contacts: records kept moving during the sync" in str(run.error)
    assert run.logs.count("reading the query once more") == 2
    assert all("replication_key_value" not in s.get("bookmarks", {}).get("contacts", {}) for s in run.states)


def test_full_sync_costs_the_minimum_of_requests(sandbox_url, sandbox):
    n = sandbox.count("Contacts")
    sandbox.clear_requests()
    run = run_tap(base_config(sandbox_url, page_size=10), streams=["contacts"])
    assert len(run.records("contacts")) == n
    expected = -(-(n - 1) // 9)  # ceil((n - 1) / (page size - 1))
    assert len(_data_requests(sandbox)) == expected


def _ordered(sandbox_url: str, scrambled: bool) -> list[dict]:  # noqa: FBT001
    """Contacts in the order the API returns them (one unlogged read of the control API
    would not show the order, so read the search endpoint directly)."""
    response = requests.get(
        f"{sandbox_url}/Contacts/Search", params={"top": 500}, auth=(API_KEY, ""), timeout=30
    )
    response.raise_for_status()
    return response.json()


# -- d. scrambled order -------------------------------------------------------------------------


def test_scrambled_order_gives_the_same_records_and_state(sandbox_url, sandbox):
    config = base_config(sandbox_url, page_size=15)
    catalog = select(discover(config), INCREMENTAL + ["tags", "users"])
    plain = run_tap(config, catalog=catalog)
    sandbox.set_scrambled(True)
    scrambled = run_tap(config, catalog=catalog)
    for stream in INCREMENTAL + ["tags", "users"]:
        key = plain.schema(stream)["key_properties"]
        a = sorted(tuple(r[k] for k in key) for r in plain.records(stream))
        b = sorted(tuple(r[k] for k in key) for r in scrambled.records(stream))
        assert a == b, stream
        assert len(b) == len(set(b)), stream
    assert plain.state == scrambled.state


# -- e. killed mid-stream -------------------------------------------------------------------------


def test_interrupted_stream_restarts_from_its_bookmark(sandbox_url, sandbox, monkeypatch):
    # STATE every 20 records (the SDK's default is every 10,000), so the run can be cut
    # right after an intermediate STATE, as if killed there.
    monkeypatch.setattr(InsightlyStream, "STATE_MSG_FREQUENCY", 20)
    config = base_config(sandbox_url, page_size=9)
    baseline = run_tap(config, streams=["contacts", "leads"])
    sandbox.clock_freeze("2026-03-01T10:00:00Z")
    contacts = sandbox.all_records("Contacts")
    sandbox.update("Contacts", {"CONTACT_ID": contacts[5]["CONTACT_ID"], "BACKGROUND": "changed"})
    full = run_tap(config, state=baseline.state, streams=["contacts", "leads"])
    # Now a fresh account history: every record, from scratch, cut mid-way through leads.
    whole = run_tap(config, streams=["contacts", "leads"])
    cut = next(
        i for i, m in enumerate(whole.messages)
        if m["type"] == "STATE" and "progress_markers" in m["value"]["bookmarks"].get("leads", {})
    )
    before_kill = whole.messages[: cut + 1]
    state = before_kill[-1]["value"]
    emitted = {(m["stream"], tuple(sorted(m["record"].items(), key=lambda kv: kv[0]))[0])
               for m in before_kill if m["type"] == "RECORD"}
    assert any(s == "leads" for s, _ in emitted)
    rerun = run_tap(config, state=state, streams=["contacts", "leads"])
    got_leads = {r["LEAD_ID"] for r in rerun.records("leads")}
    all_leads = {r["LEAD_ID"] for r in sandbox.all_records("Leads")}
    assert got_leads == all_leads  # the interrupted stream restarted from its bookmark
    assert rerun.records("contacts") == []  # the finished stream did not
    assert full.ids("contacts", "CONTACT_ID") == [contacts[5]["CONTACT_ID"]]


def test_state_written_mid_stream_keeps_the_previous_bookmark(sandbox_url, sandbox, monkeypatch):
    monkeypatch.setattr(InsightlyStream, "STATE_MSG_FREQUENCY", 10)
    config = base_config(sandbox_url, page_size=9)
    first = run_tap(config, streams=["contacts"])
    sandbox.clock_freeze("2026-03-01T10:00:00Z")
    for contact in sandbox.all_records("Contacts")[:25]:
        sandbox.update("Contacts", {"CONTACT_ID": contact["CONTACT_ID"], "BACKGROUND": "edit"})
    second = run_tap(config, state=first.state, streams=["contacts"])
    bookmark = first.state["bookmarks"]["contacts"]
    middle = [s["bookmarks"]["contacts"] for s in second.states[:-1] if "progress_markers" in s["bookmarks"].get("contacts", {})]
    assert middle, "no intermediate STATE"
    for state in middle:
        assert state["replication_key_value"] == bookmark["replication_key_value"]
        assert state["emitted_versions"] == bookmark["emitted_versions"]
    # Resuming from an intermediate state re-reads the stream, emitting the 25 again.
    resumed = run_tap(config, state={"bookmarks": {"contacts": middle[0]}}, streams=["contacts"])
    assert len(resumed.records("contacts")) == 25


def test_running_sandbox_is_reachable_only_on_loopback():
    with running_sandbox(api_key=API_KEY) as url:
        assert url.startswith("http://127.0.0.1:")


def test_custom_field_added_in_the_bookmark_second_is_not_a_change(sandbox_url, sandbox):
    # A new custom field gives every record a new null column (after the catalog is
    # refreshed, as Meltano does for editable installs), but no record changed.
    sandbox.clock_freeze("2026-03-01T10:00:00Z")
    lead = sandbox.all_records("Leads")[0]
    sandbox.update("Leads", {"LEAD_ID": lead["LEAD_ID"], "TITLE": "edited"})
    config = base_config(sandbox_url)
    first = run_tap(config, streams=["leads"])
    assert lead["LEAD_ID"] in first.ids("leads", "LEAD_ID")
    sandbox.add_custom_field(object_name="Leads", field_name="Drift__c", field_type="TEXT")
    catalog = select(discover(config, fresh=True), ["leads"])
    second = run_tap(config, state=first.state, catalog=catalog)
    assert "Drift__c" in second.schema("leads")["schema"]["properties"]
    assert second.records() == []
