"""Writes as simulated users do them, the sandbox clock, scheduled changes, schema drift."""

from __future__ import annotations

import pytest

from insightly_sandbox.client import SandboxError

from .conftest import Sandbox


def test_create_update_delete_contact_with_frozen_clock(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.clock_freeze("2026-03-01T10:00:00Z")
    created = sb.create("Contacts", {"FIRST_NAME": "Ann", "CUSTOMFIELDS": [
        {"FIELD_NAME": "Interests__c", "FIELD_VALUE": "Art;Food"},
        {"FIELD_NAME": "Newsletter_Subscription__c", "FIELD_VALUE": "true"}]})
    assert created["DATE_CREATED_UTC"] == created["DATE_UPDATED_UTC"] == "2026-03-01 10:00:00"
    assert created["CUSTOMFIELDS"][1]["FIELD_VALUE"] is True
    assert created["OWNER_USER_ID"] == 2240727 and created["LAST_NAME"] is None
    cid = created["CONTACT_ID"]
    assert sandbox.get(f"/Contacts/{cid}").json() == created
    sb.clock_advance(61)
    updated = sb.update("Contacts", {"CONTACT_ID": cid, "LAST_NAME": "Berg"})
    assert updated["DATE_UPDATED_UTC"] == "2026-03-01 10:01:01"
    assert updated["DATE_CREATED_UTC"] == "2026-03-01 10:00:00" and updated["FIRST_NAME"] == "Ann"
    found = sandbox.get("/Contacts/Search", updated_after_utc="2026-03-01T10:01:00Z").json()
    assert [r["CONTACT_ID"] for r in found] == [cid]
    sb.delete("Contacts", cid)
    assert sandbox.get(f"/Contacts/{cid}").status_code == 404
    assert cid not in [r["CONTACT_ID"] for r in sandbox.get("/Contacts", top=500).json()]


@pytest.mark.parametrize("resource, fields", [
    ("Organisations", {"ORGANISATION_NAME": "Acme"}),
    ("Opportunities", {"OPPORTUNITY_NAME": "Deal"}),
    ("Leads", {"LAST_NAME": "Lee", "LEAD_SOURCE_ID": 3794750, "LEAD_STATUS_ID": 3724795}),
    ("Projects", {"PROJECT_NAME": "P", "STATUS": "NOT STARTED"}),
    ("Tasks", {"TITLE": "Call", "COMPLETED": False, "OWNER_USER_ID": 2240727}),
    ("Events", {"TITLE": "Meet", "START_DATE_UTC": "2026-01-01T10:00:00Z",
                "END_DATE_UTC": "2026-01-01 11:00:00"}),
    ("Fruit__c", {"RECORD_NAME": "Quince", "CUSTOMFIELDS": [{"FIELD_NAME": "Weight__c", "FIELD_VALUE": 7}]}),
])
def test_writes_on_each_writable_resource(sandbox: Sandbox, resource: str, fields: dict) -> None:
    sb = sandbox.control
    before = sb.count(resource)
    record = sb.create(resource, fields)
    id_field = next(k for k in record if k.endswith("_ID"))
    assert sb.count(resource) == before + 1
    assert sandbox.get(f"/{resource}/{record[id_field]}").json() == record
    if resource == "Events":
        assert record["START_DATE_UTC"] == "2026-01-01 10:00:00"
    sb.delete(resource, record[id_field])
    assert sb.count(resource) == before


def test_notes_are_created_under_their_parent(sandbox: Sandbox) -> None:
    sb = sandbox.control
    note = sb.create_note("Organisations", 150000000, {"TITLE": "Met them", "BODY": "ok"})
    assert note["LINKS"][0]["LINK_OBJECT_NAME"] == "Organisation"
    assert note["LINKS"][0]["LINK_OBJECT_ID"] == 150000000
    listed = sandbox.get("/Organisations/150000000/Notes").json()
    assert note["NOTE_ID"] in [n["NOTE_ID"] for n in listed]
    assert sandbox.http.post(sandbox.url + "/Notes", json={"TITLE": "x"}, timeout=10).status_code == 405
    assert sandbox.http.post(sandbox.url + "/Contacts/1/Notes", json={"TITLE": "x"},
                             timeout=10).status_code == 404


@pytest.mark.parametrize("body, fragment", [
    ({"LAST_NAME": "x"}, "FIRST_NAME"),
    ({"FIRST_NAME": "x", "NOPE": 1}, "NOPE"),
    ({"FIRST_NAME": "x", "CUSTOMFIELDS": [{"FIELD_NAME": "Nope__c", "FIELD_VALUE": 1}]}, "Nope__c"),
    ({"FIRST_NAME": "x", "CUSTOMFIELDS": [{"FIELD_NAME": "Number1__c", "FIELD_VALUE": "many"}]}, "Number1__c"),
    ({"FIRST_NAME": 5}, "FIRST_NAME"),
])
def test_bad_writes_are_400(sandbox: Sandbox, body: dict, fragment: str) -> None:
    response = sandbox.http.post(sandbox.url + "/Contacts", json=body, timeout=10)
    assert response.status_code == 400 and fragment in response.text
    response = sandbox.http.put(sandbox.url + "/Contacts", json={"CONTACT_ID": 1, "FIRST_NAME": "x"},
                                timeout=10)
    assert response.status_code == 404
    with pytest.raises(SandboxError):
        sandbox.control.update("Contacts", {"FIRST_NAME": "no id"})


def test_clock_freeze_set_advance_unfreeze(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.clock_freeze("2026-01-01T00:00:00Z")
    assert sb.now() == "2026-01-01 00:00:00"
    sb.clock_advance(1.5)
    assert sb.now() == "2026-01-01 00:00:01"
    sb.clock_set("2027-05-05T05:05:05Z")
    assert sb.now() == "2027-05-05 05:05:05"
    sb.clock_unfreeze()
    assert sb.now() >= "2027-05-05 05:05:05"
    with pytest.raises(SandboxError):
        sb.clock_set("someday")


def test_same_second_updates_are_deterministic_with_a_frozen_clock(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.clock_freeze("2026-06-01T08:00:00Z")
    a = sb.create("Contacts", {"FIRST_NAME": "A"})
    b = sb.create("Contacts", {"FIRST_NAME": "B"})
    assert a["DATE_UPDATED_UTC"] == b["DATE_UPDATED_UTC"] == "2026-06-01 08:00:00"
    after = sandbox.get("/Contacts/Search", updated_after_utc="2026-06-01T07:59:59Z").json()
    assert {r["CONTACT_ID"] for r in after} == {a["CONTACT_ID"], b["CONTACT_ID"]}
    assert sandbox.get("/Contacts/Search", updated_after_utc="2026-06-01T08:00:00Z").json() == []


def test_scheduled_change_lands_between_pages(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.clock_freeze("2026-07-01T00:00:00Z")
    first_page = sandbox.get("/Contacts/Search", top=10).json()
    victim, moved = first_page[0]["CONTACT_ID"], first_page[1]["CONTACT_ID"]
    sb.schedule_change("/Contacts/Search", after_requests=1, changes=[
        {"op": "delete", "resource": "Contacts", "id": victim},
        {"op": "update", "resource": "Contacts", "id": moved, "fields": {"TITLE": "Boss"}},
        {"op": "create", "resource": "Contacts", "fields": {"FIRST_NAME": "New"}}])
    page1 = sandbox.get("/Contacts/Search", top=10).json()
    assert page1[0]["CONTACT_ID"] == victim  # the change lands after this request
    page2 = sandbox.get("/Contacts/Search", top=10, skip=10).json()
    assert sandbox.get(f"/Contacts/{victim}").status_code == 404
    assert sandbox.get(f"/Contacts/{moved}").json()["DATE_UPDATED_UTC"] == "2026-07-01 00:00:00"
    skipped = set(r["CONTACT_ID"] for r in page1) | set(r["CONTACT_ID"] for r in page2)
    current = [r["CONTACT_ID"] for r in sandbox.get("/Contacts/Search", top=20).json()]
    assert current[9] not in skipped  # the record that slid back a page was never seen


def test_schema_drift_custom_field_and_custom_object(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.add_custom_field("Contacts", "Shoe_Size__c", "NUMERIC")
    names = [f["FIELD_NAME"] for f in sandbox.get("/CustomFields/Contacts").json()]
    assert names[-1] == "Shoe_Size__c"
    record = sb.create("Contacts", {"FIRST_NAME": "F", "CUSTOMFIELDS": [
        {"FIELD_NAME": "Shoe_Size__c", "FIELD_VALUE": 42}]})
    assert record["CUSTOMFIELDS"] == [{"FIELD_NAME": "Shoe_Size__c", "FIELD_VALUE": 42,
                                       "CUSTOM_FIELD_ID": "Shoe_Size__c"}]
    sb.add_custom_object("Vegetable__c", records=[{"RECORD_NAME": "Leek", "Colour__c": "green"}])
    assert [o["OBJECT_NAME"] for o in sandbox.get("/CustomObjects").json()] == ["Fruit__c", "Vegetable__c"]
    leek = sandbox.get("/Vegetable__c/Search").json()[0]
    assert leek["RECORD_NAME"] == "Leek"
    assert leek["CUSTOMFIELDS"][0]["FIELD_VALUE"] == "green"
    with pytest.raises(SandboxError):
        sb.add_custom_field("Contacts", "Shoe_Size__c", "NUMERIC")


def test_reset_data_restores_the_seed(sandbox: Sandbox) -> None:
    sb = sandbox.control
    before = sandbox.get("/Contacts", top=500).text
    sb.delete("Contacts", 366638973)
    sb.add_custom_object("Tmp__c")
    sb.reset_data()
    assert sandbox.get("/Contacts", top=500).text == before
    assert sandbox.get("/Tmp__c").status_code == 404


def test_changes_now_and_a_failing_scheduled_change_is_reported(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.clock_freeze("2026-08-01T00:00:00Z")
    done = sb.apply_changes([{"op": "update", "resource": "Leads", "id": 78563840,
                              "fields": {"TITLE": "CTO"}}])
    assert done[0]["TITLE"] == "CTO" and done[0]["DATE_UPDATED_UTC"] == "2026-08-01 00:00:00"
    sb.schedule_change("Leads", after_requests=1, changes=[
        {"op": "delete", "resource": "Leads", "id": 1}])
    assert sandbox.get("/Leads").status_code == 200
    schedule = sb._call("GET", "/schedule")
    assert schedule[0]["applied"] and "not found" in schedule[0]["error"]
    with pytest.raises(SandboxError):
        sb.apply_changes([{"op": "rename", "resource": "Leads", "id": 78563840}])
    with pytest.raises(SandboxError):
        sb.apply_changes([{"op": "update", "resource": "Planets", "id": 1}])


def test_custom_object_records_update_and_new_fields_from_flat_records(sandbox: Sandbox) -> None:
    sb = sandbox.control
    sb.add_custom_object("Gadget__c", fields=[{"FIELD_NAME": "Size__c", "FIELD_TYPE": "DROPDOWN",
                                                "OPTIONS": ["S", "M"]}],
                         records=[{"RECORD_NAME": "Hub", "Size__c": "M", "Ports__c": 4,
                                   "Wireless__c": True}])
    meta = {m["FIELD_NAME"]: m["FIELD_TYPE"] for m in sandbox.get("/CustomFields/Gadget__c").json()}
    assert meta == {"Size__c": "DROPDOWN", "Ports__c": "NUMERIC", "Wireless__c": "BIT"}
    hub = sandbox.get("/Gadget__c").json()[0]
    updated = sb.update("Gadget__c", {"RECORD_ID": hub["RECORD_ID"], "CUSTOMFIELDS": [
        {"FIELD_NAME": "Ports__c", "FIELD_VALUE": 8}]})
    values = {c["FIELD_NAME"]: c["FIELD_VALUE"] for c in updated["CUSTOMFIELDS"]}
    assert values == {"Size__c": "M", "Ports__c": 8, "Wireless__c": True}
    assert sandbox.get(f"/Gadget__c/{hub['RECORD_ID']}").json() == updated


def test_control_api_errors_are_json_with_a_reason(sandbox: Sandbox) -> None:
    root = sandbox.url.replace("/v3.1", "")
    response = sandbox.http.get(root + "/_sandbox/nothing", timeout=10)
    assert response.status_code == 404 and "nothing" in response.json()["error"]
    response = sandbox.http.post(root + "/_sandbox/faults", data=b"{not json",
                                 headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400 and response.json()["error"]
    response = sandbox.http.post(root + "/_sandbox/faults", json={"path_prefix": "/x", "kind": "melt"},
                                 timeout=10)
    assert response.status_code == 400 and "kind" in response.json()["error"]
