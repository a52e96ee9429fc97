"""Shared helpers: a real receiver on loopback, and ways to run the target."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import typing as t
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from target_webhook.delivery import DeliveryError
from target_webhook.target import SHUTDOWN_GRACE_SECONDS, USER_ERRORS, TargetWebhook
from tests.target.receiver import Receiver

FIXTURES = Path(__file__).parent / "fixtures"
TARGET_BIN = Path(sys.executable).parent / "target-webhook"

# Retries without real waiting: tests check what is retried, not how long it waits.
FAST_RETRY = {"retry_initial_delay_ms": 1, "retry_max_delay_ms": 5}


@pytest.fixture
def receiver() -> t.Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> t.Iterator[None]:
    # Building a target installs its SIGTERM/SIGINT handlers in this (pytest) process.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@dataclass
class Run:
    """What one in-process run produced."""

    stdout: str
    error: BaseException | None
    target: TargetWebhook

    @property
    def states(self) -> list[t.Any]:
        return [json.loads(line) for line in self.stdout.splitlines()]


def singer_lines(*messages: dict) -> str:
    return "".join(json.dumps(message) + "\n" for message in messages)


def run_target(config: dict, text: str) -> Run:
    """Run the target in this process, as its CLI does, capturing stdout."""
    target = TargetWebhook(config=dict(config))
    out = io.StringIO()
    error = None
    with redirect_stdout(out):
        try:
            target.process_lines(io.StringIO(text))
            target.process_endofpipe()
        except USER_ERRORS as exc:
            error = exc
            target.shutdown(
                SHUTDOWN_GRACE_SECONDS,
                send_pending=not isinstance(exc, DeliveryError),
            )
    return Run(stdout=out.getvalue(), error=error, target=target)


def cli(
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the installed target-webhook command."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_WEBHOOK")}
    full_env.update(env or {})
    return subprocess.run(  # noqa: S603
        [str(TARGET_BIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def schema(stream: str, keys: list[str] | None = None, **props: dict) -> dict:
    properties = props or {
        "CONTACT_ID": {"type": "integer"},
        "FIRST_NAME": {"type": ["string", "null"]},
        "DATE_CREATED_UTC": {"type": ["string", "null"], "format": "date-time"},
        "DATE_UPDATED_UTC": {"type": ["string", "null"], "format": "date-time"},
    }
    return {
        "type": "SCHEMA",
        "stream": stream,
        "key_properties": keys if keys is not None else ["CONTACT_ID"],
        "schema": {"type": "object", "properties": properties},
    }


def record(stream: str, **fields: t.Any) -> dict:
    return {"type": "RECORD", "stream": stream, "record": fields}


def state(value: t.Any) -> dict:
    return {"type": "STATE", "value": value}


def contact(cid: int, updated: str = "2026-01-02 03:04:05", **extra: t.Any) -> dict:
    fields = {
        "CONTACT_ID": cid,
        "FIRST_NAME": f"Ann{cid}",
        "DATE_CREATED_UTC": "2026-01-01 00:00:00",
        "DATE_UPDATED_UTC": updated,
    }
    fields.update(extra)
    return record("contacts", **fields)
