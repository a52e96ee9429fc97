"""A poller configuration copied unchanged from Open Connectors works through Meltano."""

from __future__ import annotations

import json
import re

from demo.pipeline import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "examples" / "open-connectors-poller-configuration.json"


def test_readme_shows_the_example_configuration():
    readme = (PROJECT_ROOT / "README.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", readme, re.S)
    assert json.loads(EXAMPLE.read_text()) in [json.loads(b) for b in blocks if b.lstrip().startswith('{\n  "accounts"')]


def test_copied_configuration_keeps_open_connectors_object_types(pipeline, sandbox, inbox):
    pipeline.extra_env.update({
        "TAP_INSIGHTLY_POLLER_CONFIGURATION": EXAMPLE.read_text(),
        # the stream names are the configuration's keys: select them instead of the defaults
        "TAP_INSIGHTLY__SELECT": json.dumps(["accounts.*", "contacts.*", "leads.*",
                                             "opportunities.*"]),
        "TARGET_WEBHOOK_CREATED_CHECK_TOLERANCE_SECONDS": "5",
    })
    result = pipeline.run()
    assert result.returncode == 0, result.output[-3000:]
    events = inbox.events()
    assert {e["objectType"] for e in events} == {"accounts", "contacts", "leads", "opportunities"}
    accounts = {e["objectId"] for e in events if e["objectType"] == "accounts"}
    assert accounts == {str(o["ORGANISATION_ID"]) for o in sandbox.all_records("Organisations")}
    assert len(events) == len({(e["objectType"], e["objectId"]) for e in events})

    # a new organisation arrives as an `accounts` CREATED event, as Open Connectors sent it
    inbox.clear()
    created = sandbox.create("Organisations", {"ORGANISATION_NAME": "Migrated Ltd"})
    assert pipeline.run().returncode == 0
    assert [(e["objectType"], e["objectId"], e["eventType"]) for e in inbox.events()] == [
        ("accounts", str(created["ORGANISATION_ID"]), "CREATED")]
