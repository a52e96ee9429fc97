"""Fixtures for end-to-end runs through Meltano: a sandbox, an inbox and the project's plugins."""

from __future__ import annotations

import subprocess

import pytest

from demo.pipeline import PROJECT_ROOT, MeltanoPipeline, meltano_executable
from insightly_sandbox import InboxClient, SandboxClient, running_inbox, running_sandbox

API_KEY = "e2e-api-key-7f3a9c"
SIGNATURE_KEY = "e2e-signature-key-51d2e8"


@pytest.fixture(scope="session")
def meltano_plugins() -> None:
    """The plugins' venvs under .meltano/ (what `make test` installs before pytest)."""
    venv = PROJECT_ROOT / ".meltano" / "extractors" / "tap-insightly" / "venv"
    loader = PROJECT_ROOT / ".meltano" / "loaders" / "target-webhook" / "venv"
    if not (venv.exists() and loader.exists()):
        subprocess.run([meltano_executable(), "install"], cwd=PROJECT_ROOT, check=True,
                       capture_output=True)


@pytest.fixture
def sandbox_url():
    with running_sandbox(api_key=API_KEY, seed=7, scale=1) as url:
        yield url


@pytest.fixture
def sandbox(sandbox_url) -> SandboxClient:
    return SandboxClient(sandbox_url, api_key=API_KEY)


@pytest.fixture
def inbox_url():
    with running_inbox(signature_key=SIGNATURE_KEY) as url:
        yield url


@pytest.fixture
def inbox(inbox_url) -> InboxClient:
    return InboxClient(inbox_url)


@pytest.fixture
def pipeline(meltano_plugins, sandbox_url, inbox_url, tmp_path) -> MeltanoPipeline:
    return MeltanoPipeline(api_url=sandbox_url, api_key=API_KEY, callback_url=inbox_url,
                           signature_key=SIGNATURE_KEY, system_db=tmp_path / "meltano.db")
