"""The tap writing BATCH files (its batch_config setting) instead of RECORD messages: the
target reads the files and every record still becomes an event, with state after them."""

from __future__ import annotations

import json

from tests.e2e.test_meltano_run import SELECTED
from tests.pipeline_fixtures import assert_no_secrets


def test_records_in_batch_files_all_arrive(pipeline, sandbox, inbox, tmp_path):
    batch_dir = tmp_path / "batches"
    batch_dir.mkdir()
    pipeline.extra_env["TAP_INSIGHTLY_BATCH_CONFIG"] = json.dumps({
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": batch_dir.as_uri(), "prefix": "batch-"},
    })
    run = pipeline.run()
    assert run.returncode == 0, run.output[-3000:]
    assert_no_secrets(run.output)
    assert list(batch_dir.glob("batch-*")), "the tap wrote no BATCH file (batch_config not applied?)"
    expected = {
        (stream, str(record[id_field]))
        for stream, (resource, id_field) in SELECTED.items()
        for record in sandbox.all_records(resource)
    }
    events = inbox.events()
    assert {(e["objectType"], e["objectId"]) for e in events} == expected
    assert len(events) == len(expected)
    assert set(pipeline.state()["singer_state"]["bookmarks"]) >= set(SELECTED)
