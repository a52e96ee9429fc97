"""The main job through Meltano: first sync, simulated edits, incremental sync, no-change run."""

from __future__ import annotations

from tests.pipeline_fixtures import assert_no_secrets

# The streams the project's job selects by default (what Open Connectors polled), with the
# sandbox resource and id field each reads.
SELECTED = {
    "organisations": ("Organisations", "ORGANISATION_ID"),
    "contacts": ("Contacts", "CONTACT_ID"),
    "leads": ("Leads", "LEAD_ID"),
    "opportunities": ("Opportunities", "OPPORTUNITY_ID"),
}


def delivered(events: list[dict]) -> set[tuple[str, str, str]]:
    return {(e["objectType"], e["objectId"], e["eventType"]) for e in events}


def test_first_incremental_and_quiet_runs(pipeline, sandbox, inbox):
    # Run 1: an event for every record of the selected streams (start_date is in 2000).
    first = pipeline.run()
    assert first.returncode == 0, first.output[-3000:]
    assert_no_secrets(first.output)
    events = inbox.events()
    expected = {
        (stream, str(record[id_field]))
        for stream, (resource, id_field) in SELECTED.items()
        for record in sandbox.all_records(resource)
    }
    assert {(e["objectType"], e["objectId"]) for e in events} == expected
    assert len(events) == len(expected), "the first sync delivered a record twice"
    assert all(all(r["verified"].values()) for r in inbox.requests())
    state_after_first = pipeline.state()
    assert set(state_after_first["singer_state"]["bookmarks"]) >= set(SELECTED)

    # Users change things between polls.
    contact = sandbox.create("Contacts", {"FIRST_NAME": "Ann", "LAST_NAME": "New"})
    lead = sandbox.create("Leads", {
        "FIRST_NAME": "Lou", "LAST_NAME": "Lead",
        "LEAD_SOURCE_ID": sandbox.all_records("LeadSources")[0]["LEAD_SOURCE_ID"],
        "LEAD_STATUS_ID": sandbox.all_records("LeadStatuses")[0]["LEAD_STATUS_ID"]})
    orgs = sandbox.all_records("Organisations")[:2]
    for org in orgs:
        sandbox.update("Organisations", {"ORGANISATION_ID": org["ORGANISATION_ID"],
                                         "BACKGROUND": "changed"})
    opportunity = sandbox.all_records("Opportunities")[-1]
    sandbox.update("Opportunities", {"OPPORTUNITY_ID": opportunity["OPPORTUNITY_ID"],
                                     "OPPORTUNITY_NAME": "Bigger deal"})

    # Run 2: exactly those changes, typed CREATED / UPDATED.
    inbox.clear()
    second = pipeline.run()
    assert second.returncode == 0, second.output[-3000:]
    assert_no_secrets(second.output)
    events = inbox.events()
    assert delivered(events) == {
        ("contacts", str(contact["CONTACT_ID"]), "CREATED"),
        ("leads", str(lead["LEAD_ID"]), "CREATED"),
        *{("organisations", str(o["ORGANISATION_ID"]), "UPDATED") for o in orgs},
        ("opportunities", str(opportunity["OPPORTUNITY_ID"]), "UPDATED"),
    }
    assert len(events) == 5
    state_after_second = pipeline.state()

    # Run 3: nothing changed, nothing delivered, the bookmarks stay as they were.
    inbox.clear()
    third = pipeline.run()
    assert third.returncode == 0, third.output[-3000:]
    assert inbox.events() == []
    assert pipeline.state()["singer_state"]["bookmarks"] == \
        state_after_second["singer_state"]["bookmarks"]


def test_a_fractional_setting_works_from_the_environment_and_from_config_set(pipeline, inbox):
    # Meltano turns a `decimal` setting from an environment variable into a Decimal it then
    # cannot serialise, and `config set` writes it as `!!float`: both must reach the tap.
    pipeline.extra_env["TAP_INSIGHTLY_REQUESTS_PER_SECOND"] = "7.5"
    from_env = pipeline.run()
    assert from_env.returncode == 0, from_env.output[-3000:]
    assert inbox.events()
    del pipeline.extra_env["TAP_INSIGHTLY_REQUESTS_PER_SECOND"]
    config_set = pipeline.meltano(
        f"--environment={pipeline.environment}", "config", "set", "tap-insightly", "requests_per_second", "2.5"
    )
    assert config_set.returncode == 0, config_set.output[-3000:]
    dumped = pipeline.meltano(f"--environment={pipeline.environment}", "invoke", "--dump=config", "tap-insightly")
    assert dumped.returncode == 0, dumped.output[-3000:]
    assert '"requests_per_second": "2.5"' in dumped.output
    again = pipeline.run()
    assert again.returncode == 0, again.output[-3000:]
