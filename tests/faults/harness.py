"""Drive the whole pipeline through faults and keep the ledger of what must arrive.

`FaultHarness` wraps a `meltano run` pipeline, the sandbox (simulated users, injected API
faults) and the inbox (a receiver that fails or stalls on demand). Every run is bracketed by
snapshots of the sandbox so the ledger knows which record versions the run had to deliver;
every run's output, Meltano's logs and the stored state are checked for secrets.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from dataclasses import dataclass, field

from demo.pipeline import MeltanoPipeline, RunResult
from insightly_sandbox import InboxClient, SandboxClient
from tests.faults.ledger import (
    RESOURCE_TO_STREAM, STREAMS, Ledger, delivered_versions, snapshot, version_of,
)
from tests.pipeline_fixtures import assert_no_secrets, meltano_logs_since

_markers = itertools.count(1)


@dataclass
class FaultHarness:
    pipeline: MeltanoPipeline
    sandbox: SandboxClient
    inbox: InboxClient
    ledger: Ledger = field(default_factory=Ledger)
    log: list[str] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)

    # -- simulated users -------------------------------------------------------------------
    def _observe(self, resource: str, record: dict) -> dict:
        self.ledger.observe({version_of(RESOURCE_TO_STREAM[resource], record)})
        return record

    def create(self, resource: str, **fields) -> dict:
        _, _, marker = STREAMS[RESOURCE_TO_STREAM[resource]]
        body = {marker: f"created-{next(_markers)}", **fields}
        if resource == "Contacts":
            body.setdefault("FIRST_NAME", "Faulty")
        elif resource == "Organisations":
            body.setdefault("ORGANISATION_NAME", "Faulty Ltd")
        elif resource == "Opportunities":
            body.setdefault("OPPORTUNITY_NAME", "Faulty deal")
        elif resource == "Leads":
            body.setdefault("LAST_NAME", "Faulty")
            body.setdefault("LEAD_SOURCE_ID",
                            self.sandbox.all_records("LeadSources")[0]["LEAD_SOURCE_ID"])
            body.setdefault("LEAD_STATUS_ID",
                            self.sandbox.all_records("LeadStatuses")[0]["LEAD_STATUS_ID"])
        return self._observe(resource, self.sandbox.create(resource, body))

    def update(self, resource: str, record_id: int) -> dict:
        _, id_field, marker = STREAMS[RESOURCE_TO_STREAM[resource]]
        record = self.sandbox.update(resource, {id_field: record_id,
                                                marker: f"updated-{next(_markers)}"})
        return self._observe(resource, record)

    def delete(self, resource: str, record_id: int) -> None:
        self.sandbox.delete(resource, record_id)

    def ids(self, resource: str) -> list[int]:
        _, id_field, _ = STREAMS[RESOURCE_TO_STREAM[resource]]
        return [r[id_field] for r in self.sandbox.all_records(resource)]

    # -- runs ------------------------------------------------------------------------------
    def _check_secrets(self, mark: float, *texts: str) -> None:
        assert_no_secrets(*texts, meltano_logs_since(self.pipeline.project_dir, mark), json.dumps(self.pipeline.state()))

    def run(self, *args: str) -> RunResult:
        start, mark = snapshot(self.sandbox), time.time()
        result = self.pipeline.run(*args)
        self.ledger.record_run(start, snapshot(self.sandbox), result.returncode)
        self._check_secrets(mark, result.output)
        self.log.append(f"run {' '.join(args)} -> {result.returncode}")
        return result

    def run_killed(self, sig: int, until, timeout: float = 120, args: tuple[str, ...] = ()) -> int:
        """Start a run, send `sig` to its whole process group once `until()` holds."""
        start, mark = snapshot(self.sandbox), time.time()
        proc = self.pipeline.start(*args)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not until() and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc.poll() is None:
            # Meltano, tap and target each get the signal, as from a process supervisor.
            self.pipeline.kill_group(proc, sig)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.pipeline.kill_group(proc, signal.SIGKILL)
            out, err = proc.communicate()
        self.ledger.record_run(start, snapshot(self.sandbox), proc.returncode)
        self._check_secrets(mark, out, err)
        self.last_killed_output = out + err
        self.log.append(f"run killed by {signal.Signals(sig).name} -> {proc.returncode}")
        return proc.returncode

    def recover(self, attempts: int = 3) -> RunResult:
        """Clear all faults and run until a run succeeds.

        After a SIGKILL Meltano still has the job marked running and refuses a new run for a
        while: `--force` is the documented recovery step (the state never moved past what the
        receiver acknowledged, so forcing loses nothing).
        """
        self.sandbox.clear_faults()
        self.sandbox.reset_quota()
        self.inbox.fail(status=500, count=0)
        self.inbox.delay(0)
        result = None
        for _ in range(attempts):
            result = self.run("--force")
            if result.returncode == 0:
                return result
        raise AssertionError(f"pipeline did not recover: {result.output[-3000:]}")

    # -- the verdict -----------------------------------------------------------------------
    def verdict(self) -> dict:
        report = self.ledger.check(delivered_versions(self.inbox.events()))
        self.reports.append(report)
        assert report["never_existed"] == [], f"events for versions that never existed: {report}"
        assert report["duplicate_with_new_event_id"] == [], \
            f"a re-delivered version got a new eventId: {report}"
        assert report["lost"] == [], \
            f"{len(report['lost'])} changes lost, e.g. {report['lost'][:5]}; runs: {self.log}"
        return report
