import pytest

from tests.faults.harness import FaultHarness
from tests.pipeline_fixtures import (  # noqa: F401  (pytest fixtures)
    inbox, inbox_url, meltano_plugins, pipeline, sandbox, sandbox_url,
)

# Short waits so faults cost seconds, not the production retry schedule.
FAST_RETRIES = {
    "TARGET_WEBHOOK_RETRY_INITIAL_DELAY_MS": "50",
    "TARGET_WEBHOOK_RETRY_MAX_DELAY_MS": "500",
    "TARGET_WEBHOOK_REQUEST_TIMEOUT_SECONDS": "2",
}

# test id -> the ledger's verdict, for the summary at the end of the run
VERDICTS: dict[str, dict] = {}


@pytest.fixture
def harness(request, pipeline, sandbox, inbox) -> FaultHarness:
    pipeline.extra_env.update(FAST_RETRIES)
    harness = FaultHarness(pipeline, sandbox, inbox)
    yield harness
    if harness.reports:
        VERDICTS[request.node.nodeid.split("::", 1)[-1]] = harness.reports[-1]


def pytest_terminal_summary(terminalreporter):
    if not VERDICTS:
        return
    terminalreporter.section("fault suite: what the receiver saw")
    for test_id, report in sorted(VERDICTS.items()):
        terminalreporter.write_line(
            f"{test_id}: {report['delivered']} events, {len(report['lost'])} lost, "
            f"{report['duplicates']} duplicates (each repeating an eventId already delivered)")
