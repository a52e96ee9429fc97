"""Issue 3, points 1 and 2: the command line and its settings."""

from __future__ import annotations

import decimal
import json

import pytest

from tap_insightly.tap import SettingError, TapInsightly
from tests.tap.helpers import API_KEY, base_config, error_lines, run_cli, select

SETTINGS = {
    "api_key", "pod", "api_url", "start_date", "page_size", "requests_per_second",
    "quota_reserve", "user_agent", "custom_fields_as_columns", "poller_configuration",
}


def test_about_lists_every_setting_with_a_description(tmp_path):
    result = run_cli("--about", "--format=json", tmp_path=tmp_path)
    assert result.returncode == 0
    about = json.loads(result.stdout)
    properties = about["settings"]["properties"]
    assert set(properties) >= SETTINGS
    for name in SETTINGS:
        description = properties[name].get("description", "")
        assert len(description) > 20 and "|" not in description, name
    assert properties["api_key"].get("secret") is True
    assert about["settings"]["required"] == ["api_key"]
    assert properties["page_size"]["default"] == 500
    assert properties["pod"]["default"] == "na1"
    assert {"catalog", "discover", "state", "about", "stream-maps"} <= set(about["capabilities"])
    markdown = run_cli("--about", "--format=markdown", tmp_path=tmp_path)
    assert markdown.returncode == 0 and markdown.stdout.startswith("# `tap-insightly`")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"api_key": None}, "api_key"),
        ({"start_date": "last tuesday"}, "start_date"),
        ({"start_date": "0001-01-01T00:00:00Z"}, "start_date"),
        ({"page_size": 501}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1}, "page_size"),  # pages must overlap by one record
        ({"requests_per_second": 0.05}, "requests_per_second"),
        ({"poller_configuration": {"contacts": {"pageSize": 1}}}, "pageSize"),
        ({"requests_per_second": 11}, "requests_per_second"),
        ({"requests_per_second": "nan"}, "requests_per_second"),
        ({"page_size": 2.5}, "page_size"),
        ({"quota_reserve": -1}, "quota_reserve"),
        ({"api_url": "api.insightly.com/v3.1"}, "api_url"),
        ({"poller_configuration": {"widgets": {"url": "/hubs/crm/widgets"}}}, "poller_configuration.widgets"),
        ({"poller_configuration": "{not json"}, "poller_configuration"),
    ],
)
def test_invalid_settings_fail_in_one_line_before_any_request(sandbox_url, sandbox, tmp_path, change, named):
    config = {k: v for k, v in {**base_config(sandbox_url), **change}.items() if v is not None}
    sandbox.clear_requests()
    for args in ((), ("--discover",)):
        result = run_cli(*args, config=config, tmp_path=tmp_path)
        assert result.returncode == 1, args
        errors = error_lines(result.stderr)
        assert len(errors) == 1, errors
        assert named in errors[0]
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
        assert API_KEY not in result.stderr
    assert sandbox.requests() == []


def test_state_that_is_not_json_is_a_clear_error(sandbox_url, tmp_path):
    result = run_cli(config=base_config(sandbox_url), state="{'bookmarks':", tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "--state" in errors[0] and "not JSON" in errors[0]
    assert "Traceback" not in result.stderr


def test_settings_from_the_environment(sandbox_url, monkeypatch):
    # Numbers from the environment (the SDK leaves them as text) and an object as JSON.
    monkeypatch.setenv("TAP_INSIGHTLY_API_KEY", API_KEY)
    monkeypatch.setenv("TAP_INSIGHTLY_API_URL", sandbox_url)
    monkeypatch.setenv("TAP_INSIGHTLY_REQUESTS_PER_SECOND", "2.5")
    monkeypatch.setenv("TAP_INSIGHTLY_PAGE_SIZE", "50")
    monkeypatch.setenv("TAP_INSIGHTLY_QUOTA_RESERVE", "10")
    monkeypatch.setenv("TAP_INSIGHTLY_CUSTOM_FIELDS_AS_COLUMNS", "false")
    monkeypatch.setenv("TAP_INSIGHTLY_POLLER_CONFIGURATION", json.dumps({"accounts": {"idField": "ORGANISATION_ID"}}))
    tap = TapInsightly(config={}, parse_env_config=True, setup_mapper=False, catalog={"streams": []})
    assert tap.config["requests_per_second"] == 2.5
    assert tap.config["page_size"] == 50
    assert tap.config["quota_reserve"] == 10
    assert tap.config["custom_fields_as_columns"] is False
    assert "accounts" in {row.name for row in tap.resource_rows()}


def test_bad_number_in_the_environment_names_the_setting(sandbox_url, tmp_path):
    env = {
        "TAP_INSIGHTLY_API_KEY": API_KEY,
        "TAP_INSIGHTLY_API_URL": sandbox_url,
        "TAP_INSIGHTLY_PAGE_SIZE": "lots",
    }
    result = run_cli("--config", "ENV", "--discover", env=env, tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "page_size" in errors[0] and "'lots'" in errors[0]
    assert "Traceback" not in result.stderr


def test_setting_error_is_raised_in_process_too():
    with pytest.raises(SettingError, match="page_size"):
        TapInsightly(config={"api_key": "k", "page_size": "many"}, setup_mapper=False)


def test_discover_lists_every_stream_and_costs_few_requests(sandbox_url, sandbox, tmp_path):
    sandbox.clear_requests()
    result = run_cli("--discover", config=base_config(sandbox_url), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    catalog = json.loads(result.stdout)
    names = {s["tap_stream_id"] for s in catalog["streams"]}
    assert "fruit__c" in names and "contacts" in names and len(names) == 39
    paths = sorted(r["path"].removeprefix("/v3.1/") for r in sandbox.requests())
    # /CustomObjects, then /CustomFields/{object} for the objects that take custom
    # fields and for each custom object.
    assert paths[0] == "CustomFields/Contacts"
    assert "CustomObjects" in paths
    assert len(paths) == 12


def test_sync_with_a_catalog_spends_no_discovery_requests(sandbox_url, sandbox, tmp_path):
    discovered = run_cli("--discover", config=base_config(sandbox_url), tmp_path=tmp_path)
    catalog = select(json.loads(discovered.stdout), ["contacts", "fruit__c"])
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    sandbox.clear_requests()
    result = run_cli("--catalog", str(tmp_path / "catalog.json"), config=base_config(sandbox_url), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    paths = sorted(r["path"].removeprefix("/v3.1/") for r in sandbox.requests())
    # Custom objects are looked up only for the catalog's custom-object streams.
    assert paths == ["Contacts/Search", "CustomObjects", "Fruit__c/Search"]
    records = [json.loads(line) for line in result.stdout.splitlines() if '"RECORD"' in line]
    assert {m["stream"] for m in records} == {"contacts", "fruit__c"}
    assert any(m["record"].get("Hobby__c") for m in records if m["stream"] == "contacts")


def test_catalog_selecting_an_unknown_stream_is_a_clear_error(sandbox_url, tmp_path):
    catalog = {"streams": [{
        "tap_stream_id": "vegetable__c", "stream": "vegetable__c",
        "schema": {"type": "object", "properties": {}},
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
    }]}
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    result = run_cli("--catalog", str(tmp_path / "catalog.json"), config=base_config(sandbox_url), tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "vegetable__c" in errors[0]


@pytest.mark.parametrize(("content", "words"), [("{nope", "not JSON"), (None, "cannot be read")])
def test_config_file_that_is_not_json_or_missing(tmp_path, content, words):
    path = tmp_path / "settings.json"
    if content is not None:
        path.write_text(content)
    result = run_cli("--config", str(path), tmp_path=tmp_path)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and words in errors[0] and "--config" in errors[0]
    assert "Traceback" not in result.stderr


def test_requests_per_second_zero_turns_the_client_side_limit_off(monkeypatch):
    from tap_insightly import client

    sleeps: list[float] = []
    monkeypatch.setattr(client.time, "sleep", sleeps.append)
    for _ in range(50):
        client.RequestLimiter(0).wait()
    unlimited = client.RequestLimiter(0)
    for _ in range(50):
        unlimited.wait()
    assert sleeps == []
    limited = client.RequestLimiter(10)
    for _ in range(12):
        limited.wait()
    assert sleeps, "a limit of 10 per second must wait before the 11th start"


def test_a_configured_stream_left_unselected_is_warned_about(sandbox_url, tmp_path):
    # Open Connectors polled what its poller configuration listed; here the catalog selects.
    config = base_config(sandbox_url, poller_configuration={
        "contacts": {"url": "/hubs/crm/contacts"},
        "leads": {"url": "/hubs/crm/leads"},
    })
    discovered = run_cli("--discover", config=config, tmp_path=tmp_path)
    (tmp_path / "catalog.json").write_text(json.dumps(select(json.loads(discovered.stdout), ["contacts"])))
    result = run_cli("--catalog", str(tmp_path / "catalog.json"), config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    warned = [line for line in result.stderr.splitlines() if "WARNING" in line and "not polled" in line]
    assert len(warned) == 1 and "'leads'" in warned[0], result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines() if '"RECORD"' in line]
    assert {m["stream"] for m in records} == {"contacts"}


def test_numbers_meltano_hands_over_as_decimal_are_read():
    # Meltano passes `decimal` settings written in meltano.yml as Decimal.
    tap = TapInsightly(config={**base_config("http://127.0.0.1:9/v3.1"), "requests_per_second": decimal.Decimal("2.5"),
                               "page_size": decimal.Decimal("100")}, setup_mapper=False)
    assert tap.config["requests_per_second"] == 2.5 and tap.config["page_size"] == 100
    with pytest.raises(SettingError, match="page_size"):
        TapInsightly(config={**base_config("http://127.0.0.1:9/v3.1"), "page_size": decimal.Decimal("2.5")},
                     setup_mapper=False)
