"""The SDK's built-in tap tests, against a seeded sandbox.

They run one bounded sync and check discovery, the catalog, record shapes and the
declared attributes of every stream. (Their primary-key test cannot see duplicate
records; ``test_streams`` and ``test_edges`` assert that.)
"""

from __future__ import annotations

import contextlib

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from insightly_sandbox import running_sandbox
from tap_insightly.tap import TapInsightly
from tests.tap.helpers import base_config

# The SDK builds the test class (and discovers the streams) at import: the sandbox
# must already be serving then. It is stopped when this module's tests are done.
_SANDBOX = contextlib.ExitStack()
_URL = _SANDBOX.enter_context(running_sandbox(api_key=base_config("")["api_key"], seed=3, scale=1))


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox():
    yield
    _SANDBOX.close()


TestTapInsightly = get_tap_test_class(
    TapInsightly,
    config=base_config(_URL, page_size=50),
    suite_config=SuiteConfig(max_records_limit=60),
)
