"""Run the Meltano project of this repository against a sandbox and an inbox.

Used by the demo (`make demo`), the end-to-end tests and the benchmarks. Every run gets its own
Meltano system database (so its state never mixes with the project's own `.meltano/meltano.db`)
and its settings through environment variables, the way a deployment passes secrets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_ID = "sandbox:tap-insightly-to-target-webhook"


def meltano_executable() -> str:
    """The meltano beside the running interpreter (the project's venv), else the PATH's."""
    candidate = Path(sys.executable).parent / "meltano"
    return str(candidate) if candidate.exists() else "meltano"


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class MeltanoPipeline:
    """`meltano run tap-insightly target-webhook` in the `sandbox` environment.

    api_url / callback_url point the plugins at a running sandbox and inbox; `system_db` is a
    path for Meltano's state database.
    """

    api_url: str
    api_key: str
    callback_url: str
    system_db: Path
    signature_key: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    environment: str = "sandbox"

    @property
    def project_dir(self) -> Path:
        """A private copy of the Meltano project beside `system_db`.

        Meltano writes each run's catalog, config and logs under the project's `.meltano/`
        (`run/`, `logs/`); runs in one directory at once overwrite each other's catalog. A copy
        that links to the installed plugin venvs keeps every pipeline's files its own.
        """
        project = self.system_db.parent / "meltano-project"
        if not project.exists():
            (project / ".meltano").mkdir(parents=True)
            (project / "meltano.yml").write_text((PROJECT_ROOT / "meltano.yml").read_text())
            for kind in ("extractors", "loaders"):
                (project / ".meltano" / kind).symlink_to(PROJECT_ROOT / ".meltano" / kind)
        return project

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{self.system_db}",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "MELTANO_ENVIRONMENT": self.environment,
                "TAP_INSIGHTLY_API_URL": self.api_url,
                "TAP_INSIGHTLY_API_KEY": self.api_key,
                "TARGET_WEBHOOK_CALLBACK_URL": self.callback_url,
            }
        )
        if self.signature_key is not None:
            env["TARGET_WEBHOOK_SIGNATURE_KEY"] = self.signature_key
        else:
            env.pop("TARGET_WEBHOOK_SIGNATURE_KEY", None)
        env.update(self.extra_env)
        return env

    def meltano(self, *args: str, timeout: float = 600) -> RunResult:
        proc = subprocess.run(
            [meltano_executable(), *args],
            cwd=self.project_dir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return RunResult(proc.returncode, proc.stdout, proc.stderr)

    def run(self, *extra: str, timeout: float = 600) -> RunResult:
        return self.meltano("run", *extra, "tap-insightly", "target-webhook", timeout=timeout)

    def start(self, *extra: str) -> subprocess.Popen:
        """Start a run in its own process group (so a test can kill Meltano, tap and target)."""
        return subprocess.Popen(
            [meltano_executable(), "run", *extra, "tap-insightly", "target-webhook"],
            cwd=self.project_dir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def state(self) -> dict:
        """The job's stored state (`meltano state get`), {} when there is none."""
        result = self.meltano("state", "get", STATE_ID)
        if result.returncode != 0:
            return {}
        text = result.stdout.strip()
        return json.loads(text) if text else {}
