"""Seeded data (point 7) and a threaded server that does not serialise requests (point 1)."""

from __future__ import annotations

import collections
import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from insightly_sandbox.spec import load_spec

from .conftest import API_KEY, Sandbox

SAMPLE_TYPES = {"TEXT", "MULTISELECT", "BIT", "DROPDOWN", "DATE", "DATETIME", "MULTILINETEXT",
                "NUMERIC", "PERCENT", "AUTONUMBER"}


def test_every_resource_and_custom_object_has_records(sandbox: Sandbox) -> None:
    for name in load_spec().resources:
        if name.startswith("{") or name in ("Tags", "CustomFields", "Instance", "CustomObjects"):
            continue
        assert sandbox.control.count(name) >= 1, name
    for definition in sandbox.get("/CustomObjects").json():
        assert sandbox.get(f"/{definition['OBJECT_NAME']}").json(), definition["OBJECT_NAME"]


@pytest.mark.parametrize("sandbox_options", [{"scale": 2}])
def test_sizes_scale(sandbox: Sandbox) -> None:
    assert sandbox.control.count("Contacts") == 201  # 100 x 2 + the captured contact
    assert sandbox.control.count("Leads") == 102  # 50 x 2 + the two captured leads


@pytest.mark.parametrize("sandbox_options", [{"scale": 30}])
def test_beyond_scale_20_only_contacts_grow(sandbox: Sandbox) -> None:
    contacts = sandbox.control.all_records("Contacts")
    assert len(contacts) == 3001
    assert len({c["CONTACT_ID"] for c in contacts}) == 3001
    assert sandbox.control.count("Organisations") == 800  # 40 x 20
    orgs = {r["ORGANISATION_ID"] for r in sandbox.control.all_records("Organisations")}
    assert all(c["ORGANISATION_ID"] in orgs | {None} for c in contacts)
    # Records made as variants still differ from each other where it matters.
    assert len({c["DATE_UPDATED_UTC"] for c in contacts}) > 2500
    assert len({c["EMAIL_ADDRESS"] for c in contacts if c["EMAIL_ADDRESS"]}) > 2000


def test_links_point_at_existing_records(sandbox: Sandbox) -> None:
    sb = sandbox.control
    orgs = {r["ORGANISATION_ID"] for r in sb.all_records("Organisations")}
    users = {r["USER_ID"] for r in sb.all_records("Users")}
    stages = {r["STAGE_ID"]: r["PIPELINE_ID"] for r in sb.all_records("PipelineStages")}
    pipelines = {r["PIPELINE_ID"] for r in sb.all_records("Pipelines")}
    contacts = sb.all_records("Contacts")
    assert any(c["ORGANISATION_ID"] for c in contacts)
    for contact in contacts:
        assert contact["ORGANISATION_ID"] in orgs | {None}
        assert contact["OWNER_USER_ID"] in users
    for opportunity in sb.all_records("Opportunities"):
        assert opportunity["PIPELINE_ID"] in pipelines
        assert stages[opportunity["STAGE_ID"]] == opportunity["PIPELINE_ID"]
    for stage_pipeline in stages.values():
        assert stage_pipeline in pipelines
    sources = {r["LEAD_SOURCE_ID"] for r in sb.all_records("LeadSources")}
    statuses = {r["LEAD_STATUS_ID"] for r in sb.all_records("LeadStatuses")}
    for lead in sb.all_records("Leads"):
        assert lead["LEAD_SOURCE_ID"] in sources | {None}
        assert lead["LEAD_STATUS_ID"] in statuses | {None}
    teams = sb.all_records("Teams")
    members = {m["PERMISSION_ID"] for m in sb.all_records("TeamMembers")}
    assert {m["PERMISSION_ID"] for t in teams for m in t["TEAMMEMBERS"]} == members


@pytest.mark.parametrize("resource", ["Contacts", "Organisations", "Opportunities", "Leads"])
def test_custom_fields_of_every_type_with_typed_values(sandbox: Sandbox, resource: str) -> None:
    meta = {m["FIELD_NAME"]: m["FIELD_TYPE"] for m in sandbox.get(f"/CustomFields/{resource}").json()}
    assert set(meta.values()) >= SAMPLE_TYPES
    records = sandbox.control.all_records(resource)
    seen = collections.defaultdict(list)
    partial = 0
    for record in records:
        names = [c["FIELD_NAME"] for c in record["CUSTOMFIELDS"]]
        partial += 0 < len(names) < len(meta)
        for item in record["CUSTOMFIELDS"]:
            assert item["CUSTOM_FIELD_ID"] == item["FIELD_NAME"]
            seen[meta[item["FIELD_NAME"]]].append(item["FIELD_VALUE"])
    assert partial, "records list only some of the object's custom fields"
    assert set(seen) >= SAMPLE_TYPES
    values = [v for v in seen["BIT"] if v is not None]
    assert values and all(isinstance(v, bool) for v in values)
    assert all(isinstance(v, (int, float)) for v in seen["NUMERIC"] + seen["PERCENT"] if v is not None)
    assert any(isinstance(v, str) and ";" in v for v in seen["MULTISELECT"])
    assert any(v is None for kind in seen for v in seen[kind])


def test_dates_spread_never_updated_and_same_second_clusters(sandbox: Sandbox) -> None:
    contacts = sandbox.control.all_records("Contacts")
    years = {c["DATE_CREATED_UTC"][:4] for c in contacts}
    assert len(years) >= 3
    assert any(c["DATE_CREATED_UTC"] == c["DATE_UPDATED_UTC"] for c in contacts)
    assert any(c["DATE_CREATED_UTC"] < c["DATE_UPDATED_UTC"] for c in contacts)
    per_second = collections.Counter(c["DATE_UPDATED_UTC"] for c in contacts)
    assert max(per_second.values()) >= 3


def test_latency_does_not_serialise_concurrent_requests(sandbox: Sandbox) -> None:
    # One request is held by a long injected delay; others, sent after it, must finish first.
    sandbox.control.fault("/Organisations", kind="delay", delay_ms=3000)
    finished: list[str] = []
    lock = threading.Lock()

    def fetch(path: str) -> None:
        response = requests.get(sandbox.url + path, auth=(API_KEY, ""), timeout=30)
        assert response.status_code == 200
        with lock:
            finished.append(path)

    slow = threading.Thread(target=fetch, args=("/Organisations",))
    slow.start()
    while sandbox.control.state()["faults"]:
        time.sleep(0.01)  # until the slow request has taken its fault (no timing is asserted)
    fast = [threading.Thread(target=fetch, args=("/Contacts",)) for _ in range(4)]
    for thread in fast:
        thread.start()
    for thread in fast:
        thread.join()
    slow.join()
    assert finished[-1] == "/Organisations" and finished.count("/Contacts") == 4


def test_keep_alive_serves_many_requests_on_one_connection(sandbox: Sandbox) -> None:
    parts = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    import base64
    token = base64.b64encode(f"{API_KEY}:".encode()).decode()
    for _ in range(3):
        connection.request("GET", parts.path + "/Contacts?top=2", headers={"Authorization": f"Basic {token}"})
        response = connection.getresponse()
        assert response.status == 200 and response.version == 11
        assert len(response.read()) > 2
    connection.close()
