"""Every stream syncs on the seeded sandbox; records follow their schema."""

from __future__ import annotations

import collections
import json
import re

import jsonschema
import pytest

import tap_insightly.client
from tap_insightly.resources import RESOURCES
from tests.tap.helpers import base_config, discover, error_lines, run_cli, run_tap, select

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


@pytest.fixture(scope="module")
def full_run(shared_sandbox_url):
    return run_tap(base_config(shared_sandbox_url, page_size=50))


def test_every_table_stream_and_the_custom_object_sync(full_run):
    counts = collections.Counter(m["stream"] for m in full_run.messages if m["type"] == "RECORD")
    names = {r.name for r in RESOURCES}
    assert names | {"fruit__c"} <= set(counts), f"streams without records: {names - set(counts)}"


def _walk_datetimes(schema: dict, value, path=""):
    """Yield (path, value) for every value the schema declares format date-time."""
    if value is None:
        return
    if schema.get("format") == "date-time":
        yield path, value
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            yield from _walk_datetimes(sub, value.get(key), f"{path}.{key}")
    if isinstance(value, list):
        for item in value:
            yield from _walk_datetimes(schema.get("items") or {}, item, f"{path}[]")


def test_records_validate_against_their_schema(full_run):
    schemas = {m["stream"]: m for m in full_run.messages if m["type"] == "SCHEMA"}
    checked = collections.Counter()
    validators = {
        name: jsonschema.Draft7Validator(m["schema"], format_checker=jsonschema.FormatChecker())
        for name, m in schemas.items()
    }
    for message in full_run.messages:
        if message["type"] != "RECORD":
            continue
        schema = schemas[message["stream"]]["schema"]
        record = message["record"]
        validators[message["stream"]].validate(record)
        # No property the schema does not declare (a database target would drop it).
        assert set(record) <= set(schema["properties"]), (message["stream"], set(record) - set(schema["properties"]))
        for path, value in _walk_datetimes(schema, record):
            assert RFC3339_UTC.match(value), (message["stream"], path, value)
        checked[message["stream"]] += 1
    assert sum(checked.values()) > 500


def test_keys_are_unique_and_ids_stay_integers(full_run):
    schemas = {m["stream"]: m for m in full_run.messages if m["type"] == "SCHEMA"}
    for stream, schema_message in schemas.items():
        keys = schema_message["key_properties"]
        records = full_run.records(stream)
        seen = [tuple(r[k] for k in keys) for r in records]
        assert len(seen) == len(set(seen)), f"{stream}: duplicate records"
        if keys[-1].endswith("_ID"):
            assert all(isinstance(r[keys[-1]], int) for r in records), stream


def test_incremental_streams_declare_the_updated_date(full_run):
    schemas = {m["stream"]: m for m in full_run.messages if m["type"] == "SCHEMA"}
    contacts = schemas["contacts"]
    assert contacts["key_properties"] == ["CONTACT_ID"]
    assert contacts["bookmark_properties"] == ["DATE_UPDATED_UTC"]
    assert contacts["schema"]["properties"]["DATE_UPDATED_UTC"]["format"] == "date-time"
    assert schemas["team_members"]["key_properties"] == ["PERMISSION_ID"]
    assert schemas["tags"]["key_properties"] == ["record_type", "TAG_NAME"]
    assert schemas["fruit__c"]["key_properties"] == ["RECORD_ID"]
    assert not schemas["emails"].get("bookmark_properties")
    bookmarks = full_run.state["bookmarks"]
    for name in ("contacts", "leads", "organisations", "opportunities", "fruit__c"):
        value = bookmarks[name]["replication_key_value"]
        assert RFC3339_UTC.match(value), (name, value)
        assert value == max(r["DATE_UPDATED_UTC"] for r in full_run.records(name))


def test_tags_carry_their_record_type(full_run):
    tags = full_run.records("tags")
    assert {t["record_type"] for t in tags} <= {
        "contacts", "leads", "opportunities", "organisations", "projects", "emails",
    }
    assert len({t["record_type"] for t in tags}) > 1


def test_custom_fields_become_typed_columns(full_run):
    schema = full_run.schema("contacts")["schema"]["properties"]
    assert schema["Hobby__c"]["type"] == ["string", "null"]
    assert schema["Newsletter_Subscription__c"]["type"] == ["boolean", "null"]
    assert schema["Number1__c"]["type"] == ["number", "null"]
    assert schema["Date1__c"]["format"] == "date-time"
    contacts = full_run.records("contacts")
    for record in contacts:
        values = {c["FIELD_NAME"]: c["FIELD_VALUE"] for c in record["CUSTOMFIELDS"] or []}
        for name in ("Hobby__c", "Newsletter_Subscription__c", "Number1__c", "Date1__c"):
            # Absent from CUSTOMFIELDS -> a null column; present -> the same value.
            assert record[name] == values.get(name), (record["CONTACT_ID"], name)
    assert any(r["Date1__c"] for r in contacts)
    fruit = full_run.schema("fruit__c")["schema"]["properties"]
    assert fruit["Weight__c"]["type"] == ["number", "null"]


def test_custom_field_created_after_discovery_stays_in_the_record(sandbox_url, sandbox):
    config = base_config(sandbox_url)
    catalog = select(discover(config), ["contacts"])
    sandbox.add_custom_field(object_name="Contacts", field_name="Shoe_Size__c", field_type="NUMERIC")
    contact = sandbox.all_records("Contacts")[0]
    sandbox.update("Contacts", {
        "CONTACT_ID": contact["CONTACT_ID"],
        "CUSTOMFIELDS": [{"FIELD_NAME": "Shoe_Size__c", "FIELD_VALUE": 42, "CUSTOM_FIELD_ID": "Shoe_Size__c"}],
    })
    run = run_tap(config, catalog=catalog)
    record = next(r for r in run.records("contacts") if r["CONTACT_ID"] == contact["CONTACT_ID"])
    assert {"FIELD_NAME": "Shoe_Size__c", "FIELD_VALUE": 42, "CUSTOM_FIELD_ID": "Shoe_Size__c"} in record["CUSTOMFIELDS"]
    assert "Shoe_Size__c" not in record  # no column until the catalog is refreshed
    fresh = discover(config, fresh=True)
    contacts = next(s for s in fresh["streams"] if s["tap_stream_id"] == "contacts")
    assert contacts["schema"]["properties"]["Shoe_Size__c"]["type"] == ["number", "null"]


def test_custom_fields_without_columns(shared_sandbox_url):
    config = base_config(shared_sandbox_url, custom_fields_as_columns=False)
    run = run_tap(config, streams=["contacts"])
    schema = run.schema("contacts")["schema"]["properties"]
    assert not [name for name in schema if name.endswith("__c")]
    record = run.records("contacts")[0]
    assert not [name for name in record if name.endswith("__c")]
    dates = [c["FIELD_VALUE"] for r in run.records("contacts") for c in r["CUSTOMFIELDS"]
             if c["FIELD_NAME"] == "Date1__c" and c["FIELD_VALUE"]]
    # CUSTOMFIELDS values of date fields are RFC 3339 too.
    assert dates and all(RFC3339_UTC.match(d) for d in dates)


def test_progress_is_logged_with_the_expected_total(shared_sandbox_url, monkeypatch):
    # Every page instead of every few seconds, so a short sync shows it.
    monkeypatch.setattr(tap_insightly.client, "PROGRESS_INTERVAL_SECONDS", 0.0)
    run = run_tap(base_config(shared_sandbox_url, page_size=30), streams=["contacts"])
    total = len(run.records("contacts"))
    lines = re.findall(r"contacts: (\d+) of (\d+) records \((\d+)%\)", run.logs)
    assert [int(done) for done, _, _ in lines] == [30, 59, 88, total]
    assert {int(of) for _, of, _ in lines} == {total}
    assert lines[-1][2] == "100"
    assert re.search(r"Run used \d+ API requests; daily quota remaining: \d+ of 100000", run.logs)


def test_stream_maps_and_field_selection_still_apply(shared_sandbox_url):
    # Meltano's stream-maps capability: the SDK's own per-record path is used then.
    config = base_config(
        shared_sandbox_url,
        stream_maps={"contacts": {"FIRST_NAME": None, "full_name": "FIRST_NAME + ' ' + LAST_NAME"}},
    )
    run = run_tap(config, streams=["contacts"])
    records = run.records("contacts")
    assert records and all("FIRST_NAME" not in r and r["full_name"] for r in records)
    catalog = select(discover(base_config(shared_sandbox_url)), ["contacts"])
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "contacts")
    for meta in entry["metadata"]:
        if meta["breadcrumb"] == ["properties", "BACKGROUND"]:
            meta["metadata"]["selected"] = False
    plain = run_tap(base_config(shared_sandbox_url), catalog=catalog)
    assert all("BACKGROUND" not in r for r in plain.records("contacts"))
    again = run_tap(base_config(shared_sandbox_url), catalog=catalog, state=plain.state)
    assert again.records() == []


def test_a_sync_with_a_catalog_spends_requests_only_on_selected_streams(sandbox, sandbox_url):
    # The catalog lists the custom object fruit__c (found at discovery) but does not select
    # it: nothing needs /CustomObjects, so a poll costs one request per selected stream.
    config = base_config(sandbox_url)
    catalog = select(discover(config, fresh=True), ["contacts", "leads"])
    assert "fruit__c" in {entry["tap_stream_id"] for entry in catalog["streams"]}
    sandbox.clear_requests()
    run_tap(config, catalog=catalog)
    assert sorted(r["path"] for r in sandbox.requests()) == [
        "/v3.1/Contacts/Search", "/v3.1/Leads/Search"]


def test_a_selected_custom_object_is_still_synced_from_a_catalog(sandbox, sandbox_url):
    config = base_config(sandbox_url)
    run = run_tap(config, catalog=select(discover(config, fresh=True), ["fruit__c"]))
    assert {m["stream"] for m in run.messages if m["type"] == "RECORD"} == {"fruit__c"}


def test_schemas_are_generated() -> None:
    """schemas.json is what tests/tap/gen_schemas.py makes from the Swagger document."""
    from tap_insightly.schemas import SCHEMAS
    from tests.tap import gen_schemas

    if not gen_schemas.SWAGGER.exists():
        pytest.skip(f"Insightly's Swagger document is not beside the repository ({gen_schemas.SWAGGER})")
    assert gen_schemas.build() == SCHEMAS, "schemas.json is stale: run tests/tap/gen_schemas.py"
    assert gen_schemas.render(SCHEMAS) == gen_schemas.TARGET.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("SALUTATION + ' ' + LAST_NAME", "TypeError"),  # some contacts have no SALUTATION
        ("NOPE + 1", "NameNotDefined"),
    ],
)
def test_a_stream_map_failing_on_a_record_is_one_line_naming_the_stream(shared_sandbox_url, tmp_path, expression, error):
    config = base_config(shared_sandbox_url, stream_maps={"contacts": {"greeting": expression}})
    catalog = select(discover(base_config(shared_sandbox_url)), ["contacts"])
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    result = run_cli("--catalog", str(tmp_path / "catalog.json"), config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert f"stream_maps for stream 'contacts' failed on a record ({error}" in line
    assert "Traceback" not in result.stderr
