"""The tiny benchmark runs end to end and writes a well-formed result (no timing assertions)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.run import Table, declare_rows

REPO = Path(__file__).resolve().parent.parent


def test_tiny_benchmark_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--tiny", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr

    result = json.loads(out.read_text())
    assert result["plan"] == "tiny"
    assert result["date"].startswith("20")
    assert {"cpu_model", "cores", "python"} <= set(result["machine"])
    assert result["machine"]["cores"] >= 1

    expected = Table()
    declare_rows(expected)
    rows = {row["id"]: row for row in result["rows"]}
    assert set(rows) == set(expected.rows)
    for row_id, row in rows.items():
        reason = row["not_available"]
        if row["value"] is None:
            assert isinstance(reason, str) and reason.strip(), f"{row_id}: no value and no reason"
        else:
            assert reason is None, f"{row_id}: both a value and a reason"
            assert isinstance(row["value"], (int, float)) and math.isfinite(row["value"]), row_id
            assert row["value"] >= 0, row_id
        for key in ("floor", "ratio"):
            assert row[key] is None or (isinstance(row[key], (int, float)) and math.isfinite(row[key]))
        assert row["met"] in (True, False, None)
        if row["goal"] and row["value"] is not None:
            assert row["met"] is not None, f"{row_id}: a goal and a value but no verdict"

    # the floors are the harness's own code and the sandbox: they must always be measured
    for row_id in ("tap.records_per_s.10k", "tap.records_per_s.100k", "tap.latency300.records_per_s"):
        assert rows[row_id]["floor"] is not None, row_id
    assert rows["sandbox.records_per_s"]["value"] is not None

    printed = proc.stdout
    for row in expected.rows.values():
        assert row.label in printed
    assert str(out) in printed
    # the fake keys the harness uses never reach its output
    assert "bench-api-key" not in printed + proc.stderr
    assert "bench-signature-key" not in printed + proc.stderr


def test_failing_commands_become_rows_that_say_why(tmp_path: Path, monkeypatch) -> None:
    """Broken tap, target and meltano commands: their rows say why, the floors are still measured."""
    from benchmarks import run

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for server in ("insightly-sandbox", "webhook-inbox"):
        (bin_dir / server).symlink_to(run.BIN / server)
    for broken in ("tap-insightly", "target-webhook", "meltano"):
        script = bin_dir / broken
        script.write_text(f"#!/bin/sh\necho '{broken}: broken on purpose' >&2\nexit 3\n")
        script.chmod(0o755)
    monkeypatch.setattr(run, "BIN", bin_dir)
    work = tmp_path / "work"
    work.mkdir()

    table = run.Bench(run.TINY, work, lambda message: None).run()

    rows = table.rows
    assert "tap-insightly --discover exited 3: tap-insightly: broken on purpose" in (
        rows["api.discovery_requests"].not_available or "")
    assert "tap-insightly" in (rows["tap.records_per_s.10k"].not_available or "")
    assert "target-webhook (empty input) exited 3: target-webhook: broken on purpose" in (
        rows["startup.target_cpu"].not_available or "")
    for row_id in ("target.events_per_s.epr100", "target.slow100ms.c10", "e2e.seconds_changed",
                   "tap.latency300.records_per_s"):
        assert rows[row_id].value is None and rows[row_id].not_available, row_id
    assert rows["tap.records_per_s.10k"].floor is not None
    assert rows["tap.records_per_s.100k"].floor is not None
    assert rows["tap.latency300.records_per_s"].floor is not None
    assert rows["sandbox.records_per_s"].value is not None
