"""Issue 3, point 3: an Open Connectors poller configuration, copied unchanged."""

from __future__ import annotations

import datetime
import json

import pytest

from tap_insightly.dates import JavaDateFormat, make_converter
from tap_insightly.poller_config import PollerConfigError, parse_poller_configuration
from tests.tap.helpers import base_config, discover, run_tap, select

UTC = datetime.timezone.utc


def _oc(resource: str, id_field: str, **extra) -> dict:
    """An entry as an Open Connectors Insightly instance holds it."""
    return {
        "url": f"/hubs/crm/{resource}?where=updated_after_utc='${{gmtDate:yyyy-MM-dd HH:mm:ss}}'",
        "idField": id_field,
        "datesConfiguration": {
            "updatedDateField": "DATE_UPDATED_UTC",
            "updatedDateFormat": "yyyy-MM-dd HH:mm:ss",
            "updatedDateTimezone": "GMT",
            "createdDateField": "DATE_CREATED_UTC",
            "createdDateFormat": "yyyy-MM-dd HH:mm:ss",
            "createdDateTimezone": "GMT",
        },
        **extra,
    }


OPEN_CONNECTORS = {
    "accounts": _oc("accounts", "ORGANISATION_ID", createdCheckTolerance=5),
    "contacts": _oc("contacts", "CONTACT_ID", pageSize=200),
    "leads": _oc("leads", "LEAD_ID", pollDelay=30),
    "opportunities": _oc("opportunities", "OPPORTUNITY_ID"),
}


def test_open_connectors_configuration_maps_onto_native_endpoints():
    rows, warnings = parse_poller_configuration(OPEN_CONNECTORS)
    by_name = {r.name: r for r in rows}
    assert set(by_name) == {"accounts", "contacts", "leads", "opportunities"}
    assert by_name["accounts"].path == "Organisations"
    assert by_name["accounts"].key == ("ORGANISATION_ID",)
    assert by_name["accounts"].incremental
    assert by_name["accounts"].schema_key == "organisations"
    assert by_name["contacts"].page_size == 200
    assert by_name["leads"].look_back == 30
    assert warnings == [
        "poller_configuration.accounts.createdCheckTolerance is used by target-webhook, not the tap; ignored here"
    ]


def test_configuration_as_a_json_string():
    rows, _ = parse_poller_configuration(json.dumps(OPEN_CONNECTORS))
    assert len(rows) == 4


@pytest.mark.parametrize(
    "url",
    [
        "/hubs/crm/contacts?where=updated_after_utc='${gmtDate:yyyy-MM-dd HH:mm:ss}'",
        "/hubs/crm/contacts?where=updated_after_utc='${date:yyyy-MM-dd'T'HH:mm:ss}'",
        "/hubs/crm/contacts?where=updated_after_utc='${dateTimeZone:Europe/Paris:yyyy-MM-dd HH:mm:ss}'",
        "/hubs/crm/contacts?where=updated_after_utc='${epoch}'",
        "/hubs/crm/contacts?where=updated_after_utc='${epoch:s}'",
        "/hubs/crm/contacts?where=DATE_UPDATED_UTC >= '${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}'",
        "/Contacts/Search?updated_after_utc=${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}",
        "https://api.cloud-elements.com/elements/api-v2/hubs/crm/contacts?where=updated_after_utc='${gmtDate:yyyy-MM-dd HH:mm:ss}'",
    ],
)
def test_placeholders_and_url_forms(url):
    rows, warnings = parse_poller_configuration({"contacts": {"url": url}})
    assert rows[0].path == "Contacts" and rows[0].incremental
    assert warnings == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"contacts": {"url": "/hubs/crm/contacts?where=updated_after_utc='${gmtDate:yyyy-QQ}'"}}, "QQ"),
        ({"contacts": {"url": "/hubs/crm/contacts?where=x='${someday}'"}}, "unknown placeholder"),
        ({"contacts": {"url": "/hubs/crm/contacts?where=x='${dateTimeZone:Mars/Olympus:yyyy}'"}}, "time zone"),
        ({"widgets": {"url": "/hubs/crm/widgets"}}, "unknown Insightly resource 'widgets'"),
        ({"contacts": {"pageSize": 501}}, "pageSize"),
        ({"contacts": {"pollDelay": -5}}, "pollDelay"),
        ({"contacts": {"datesConfiguration": {"updatedDateTimezone": "Nowhere/Land"}}}, "updatedDateTimezone"),
        ({"contacts": "yes"}, "expected an object"),
        (["contacts"], "expected an object"),
    ],
)
def test_invalid_configurations_name_the_place(config, message):
    with pytest.raises(PollerConfigError, match="poller_configuration") as info:
        parse_poller_configuration(config)
    assert message in str(info.value)


def test_unused_keys_and_conditions_give_one_warning_each():
    _, warnings = parse_poller_configuration({
        "contacts": {
            "url": "/hubs/crm/contacts?where=updated_after_utc='${gmtDate:yyyy-MM-dd HH:mm:ss}' and FIRST_NAME='Ann'",
            "createdCheckTolerance": 2,
            "somethingNew": 1,
        }
    })
    assert len(warnings) == 3
    assert any("FIRST_NAME='Ann'" in w for w in warnings)


def test_url_without_the_date_condition_reads_everything_each_time():
    rows, _ = parse_poller_configuration({"contacts": {"url": "/hubs/crm/contacts"}})
    assert not rows[0].incremental
    rows, _ = parse_poller_configuration({"contacts": {"filterByUpdatedDate": False}})
    assert not rows[0].incremental


def test_java_date_formats():
    moment = datetime.datetime(2025, 4, 22, 20, 3, 25, 123000, tzinfo=UTC)
    assert JavaDateFormat("yyyy-MM-dd HH:mm:ss").format(moment) == "2025-04-22 20:03:25"
    assert JavaDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").format(moment) == "2025-04-22T20:03:25.123Z"
    assert JavaDateFormat("dd/MM/yy hh:mm a").format(moment) == "22/04/25 08:03 PM"
    assert JavaDateFormat("EEE, d MMM yyyy").format(moment) == "Tue, 22 Apr 2025"
    assert JavaDateFormat("''yyyy''").format(moment) == "'2025'"
    parsed = JavaDateFormat("yyyy-MM-dd'T'HH:mm:ssXXX").parse("2025-04-22T22:03:25+02:00")
    assert parsed == moment.replace(microsecond=0)


def test_record_dates_in_another_zone_and_format_become_rfc3339():
    convert = make_converter("dd/MM/yyyy HH:mm", "America/New_York")
    assert convert("22/04/2025 16:03") == "2025-04-22T20:03:00+00:00"
    assert make_converter("milliseconds", "UTC")(1745352205000) == "2025-04-22T20:03:25+00:00"
    assert make_converter("yyyy-MM-dd HH:mm:ss", "GMT")("2025-04-22 20:03:25") == "2025-04-22T20:03:25+00:00"


def test_configured_streams_sync_with_open_connectors_object_types(sandbox_url, sandbox):
    config = base_config(sandbox_url, poller_configuration=OPEN_CONNECTORS)
    catalog = select(discover(config), list(OPEN_CONNECTORS))
    run = run_tap(config, catalog=catalog)
    assert {m["stream"] for m in run.messages if m["type"] == "RECORD"} == set(OPEN_CONNECTORS)
    assert sorted(run.ids("accounts", "ORGANISATION_ID")) == sorted(
        o["ORGANISATION_ID"] for o in sandbox.all_records("Organisations")
    )
    assert run.schema("accounts")["key_properties"] == ["ORGANISATION_ID"]
    assert "createdCheckTolerance is used by target-webhook" in run.logs
    again = run_tap(config, catalog=catalog, state=run.state)
    assert again.records() == []


def test_poll_delay_looks_back_without_repeating_records(sandbox_url, sandbox):
    config = base_config(sandbox_url, poller_configuration={"leads": {"pollDelay": 60}})
    catalog = select(discover(config), ["leads"])
    sandbox.clock_freeze("2026-03-01T10:00:00Z")
    leads = sandbox.all_records("Leads")
    sandbox.update("Leads", {"LEAD_ID": leads[0]["LEAD_ID"], "TITLE": "first"})
    first = run_tap(config, catalog=catalog)
    sandbox.clock_set("2026-03-01T10:00:30Z")
    sandbox.update("Leads", {"LEAD_ID": leads[1]["LEAD_ID"], "TITLE": "second"})
    sandbox.clear_requests()
    second = run_tap(config, catalog=catalog, state=first.state)
    assert second.ids("leads", "LEAD_ID") == [leads[1]["LEAD_ID"]]
    # The query reached back 60 s (plus the one-second overlap) before the bookmark.
    query = sandbox.requests("/Leads/Search")[0]["query"]
    assert query["updated_after_utc"] == "2026-03-01T09:58:59Z"
    third = run_tap(config, catalog=catalog, state=second.state)
    assert third.records() == []
