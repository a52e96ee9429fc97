"""Helpers for the tap tests: a real sandbox on 127.0.0.1 and the tap run
in-process (stdout captured) or as a subprocess (for exit codes and error lines)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import logging
import os
import subprocess
import typing as t
from pathlib import Path

from tap_insightly.tap import TapInsightly

# Distinctive, so tests can grep every output for it.
API_KEY = "tap-test-key-9d41c7e2"
ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference"
TAP = str(ROOT / ".venv" / "bin" / "tap-insightly")


def base_config(url: str, **extra: t.Any) -> dict:  # noqa: ANN401
    return {"api_key": API_KEY, "api_url": url, "requests_per_second": 10, **extra}


@dataclasses.dataclass
class Run:
    messages: list[dict]
    logs: str
    error: BaseException | None = None

    def records(self, stream: str | None = None) -> list[dict]:
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def ids(self, stream: str, key: str) -> list:
        return [r[key] for r in self.records(stream)]

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict:
        return self.states[-1]

    def schema(self, stream: str) -> dict:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def run_tap(
    config: dict,
    *,
    state: dict | None = None,
    catalog: dict | None = None,
    streams: t.Iterable[str] | None = None,
    expect_error: bool = False,
) -> Run:
    """Sync in-process; ``streams`` selects only those (from a catalog discovered first)."""
    if streams is not None and catalog is None:
        # Discovery at full speed, whatever rate the sync itself is given.
        catalog = discover(dict(config, requests_per_second=10))
    if streams is not None:
        catalog = select(catalog, streams)
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    error = None
    try:
        with contextlib.redirect_stdout(out):
            tap = TapInsightly(config=dict(config), state=copy.deepcopy(state or {}), catalog=catalog)
            tap.sync_all()
    except Exception as exc:  # noqa: BLE001
        if not expect_error:
            raise
        error = exc
    finally:
        out.flush()
        root.removeHandler(handler)
        root.setLevel(level)
    if expect_error and error is None:
        msg = "the sync was expected to fail"
        raise AssertionError(msg)
    messages = [json.loads(line) for line in raw.getvalue().decode().splitlines() if line]
    return Run(messages=messages, logs="\n".join(handler.lines), error=error)


_CATALOGS: dict[str, dict] = {}


def discover(config: dict, *, fresh: bool = False) -> dict:
    """The catalog; cached across sandboxes (every test sandbox is seeded alike)."""
    key = json.dumps({k: v for k, v in config.items() if k != "api_url"}, sort_keys=True)
    if fresh or key not in _CATALOGS:
        _CATALOGS[key] = TapInsightly(config=dict(config), setup_mapper=False).catalog_dict
    return copy.deepcopy(_CATALOGS[key])


def select(catalog: dict, streams: t.Iterable[str]) -> dict:
    wanted = set(streams)
    catalog = copy.deepcopy(catalog)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def run_cli(
    *args: str, config: dict | None = None, env: dict | None = None, tmp_path: Path, state: t.Any = None
) -> subprocess.CompletedProcess:
    """The ``tap-insightly`` command, as a user or Meltano runs it."""
    argv = [TAP, *args]
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        argv += ["--config", str(path)]
    if state is not None:
        path = tmp_path / "state.json"
        path.write_text(state if isinstance(state, str) else json.dumps(state))
        argv += ["--state", str(path)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_INSIGHTLY_")}
    full_env.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=300, check=False)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line]


