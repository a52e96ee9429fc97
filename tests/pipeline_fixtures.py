"""Fixtures shared by the end-to-end and fault suites: sandbox, inbox and a Meltano pipeline.

Each test gets a fresh sandbox and inbox on free loopback ports and its own Meltano system
database, so runs never share state. Secrets are distinctive strings so the suites can grep
every output for them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from demo.pipeline import PROJECT_ROOT, MeltanoPipeline, meltano_executable
from insightly_sandbox import InboxClient, SandboxClient, running_inbox, running_sandbox

API_KEY = "e2e-api-key-7f3a9c"
SIGNATURE_KEY = "e2e-signature-key-51d2e8"
SECRETS = (API_KEY, SIGNATURE_KEY)


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret appeared in the output"


def meltano_logs_since(project_dir: Path, mark: float) -> str:
    """Text of the Meltano run logs (.meltano/logs) written after `mark` (a timestamp)."""
    logs = project_dir / ".meltano" / "logs"
    if not logs.exists():
        return ""
    return "\n".join(p.read_text(errors="replace") for p in logs.rglob("*.log")
                     if p.stat().st_mtime >= mark)


def plugin_tracebacks(meltano_output: str) -> list[str]:
    """Traceback lines our plugins printed (Meltano prefixes each plugin line with its name).

    Meltano itself sometimes prints its own traceback when a plugin exits early (an asyncio
    "Event loop is closed" in its output logger); that is Meltano's, not ours.
    """
    return [line for line in meltano_output.splitlines()
            if ("tap-insightly" in line or "target-webhook" in line) and "Traceback" in line]


@pytest.fixture(scope="session")
def meltano_plugins() -> None:
    """The plugins' venvs under .meltano/ (what `make test` installs before pytest)."""
    plugin_venvs = [PROJECT_ROOT / ".meltano" / "extractors" / "tap-insightly" / "venv",
                    PROJECT_ROOT / ".meltano" / "loaders" / "target-webhook" / "venv"]
    if not all(v.exists() for v in plugin_venvs):
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
def pipeline(meltano_plugins, sandbox_url, inbox_url, tmp_path: Path) -> MeltanoPipeline:
    return MeltanoPipeline(api_url=sandbox_url, api_key=API_KEY, callback_url=inbox_url,
                           signature_key=SIGNATURE_KEY, system_db=tmp_path / "meltano.db")
