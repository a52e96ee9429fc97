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


@pytest.fixture
def harness(pipeline, sandbox, inbox) -> FaultHarness:
    pipeline.extra_env.update(FAST_RETRIES)
    return FaultHarness(pipeline, sandbox, inbox)
