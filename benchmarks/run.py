"""One command for every figure of the benchmark issue, each next to its floor from the same run.

    python -m benchmarks.run [--tiny] [--repeat N] [--out benchmarks/results/NAME.json]
    python -m benchmarks.run --markdown benchmarks/results/NAME.json

It starts the sandbox (``insightly-sandbox``) and the webhook inbox (``webhook-inbox``) as
subprocesses, so neither shares a GIL with what is measured, runs the real ``tap-insightly``,
``target-webhook`` and ``meltano`` commands as subprocesses (peak RSS and CPU of each command
alone, from ``os.wait4`` in the small ``_measure.py`` launcher), prints a table and writes it as
JSON with the date and machine. See benchmarks/README.md for what each row measures.

A figure that cannot be measured (a command missing or failing) is a row whose value is null
and whose ``not_available`` says why; the rest of the run goes on. Rates are computed over
spans both sides share: the tap from its first data request (the sandbox's request log) to the
last RECORD line read from its stdout; the target from the inbox's first arrival to its last
answer. ``--tiny`` (a few hundred records) proves the harness works; its figures mean little.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API_KEY = "bench-api-key"
SIGNATURE_KEY = "bench-signature-key"
PAGE_SIZE = 500
START_DATE = "2000-01-01T00:00:00Z"
# Insightly: 10 requests per second per account, at most 500 records per page.
CEILING_RECORDS_PER_S = 10 * PAGE_SIZE
SELECT_ENV = "TAP_INSIGHTLY__SELECT"
PRODUCT_PACKAGES = ("tap_insightly", "target_webhook", "sdk_startup", "insightly_sandbox")


@dataclass(frozen=True)
class Plan:
    name: str
    small_scale: float  # sandbox contacts = 100 x scale (plus the captured sample record)
    large_scale: float
    floor_latency_pages: int  # pages the one-at-a-time loop fetches at 300 ms
    target_one_per_request: int  # events sent at 1 event per request
    slow_events: int  # events sent to the inbox answering after 100 ms
    e2e_changes: int
    startups: int  # start-ups of each plugin; the row is their median (one is noisy)
    timeout: float  # per child process


FULL = Plan("full", 100, 1000, 20, 3000, 1000, 10_000, 9, 1200)
TINY = Plan("tiny", 3, 6, 2, 150, 100, 300, 2, 180)


class NotAvailable(Exception):
    """A figure cannot be measured; the message says why."""


# ----------------------------------------------------------------------------- rows


@dataclass
class Row:
    id: str
    label: str
    unit: str
    goal: str = ""
    value: float | None = None
    floor: float | None = None
    floor_label: str = ""
    ratio: float | None = None
    met: bool | None = None
    not_available: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Table:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def add(self, row_id: str, label: str, unit: str, goal: str = "", floor_label: str = "") -> Row:
        row = Row(row_id, label, unit, goal, floor_label=floor_label)
        self.rows[row_id] = row
        return row

    def __getitem__(self, row_id: str) -> Row:
        return self.rows[row_id]

    def fail(self, row_ids: list[str], reason: str) -> None:
        for row_id in row_ids:
            row = self.rows[row_id]
            if row.value is None and row.not_available is None:
                row.not_available = reason

    def finish(self) -> None:
        for row in self.rows.values():
            if row.value is None and row.not_available is None:
                row.not_available = "not measured (an earlier step failed)"


def declare_rows(table: Table) -> None:
    """Every figure of issue 6 point 1, with the goal of point 2 it is held against."""
    for size in ("10k", "100k"):
        table.add(f"tap.records_per_s.{size}", f"tap contacts records/s ({size})", "records/s",
                  ">= 15,000 records/s", "plain requests loop writing JSON lines")
        table.add(f"tap.peak_rss.{size}", f"tap peak RSS ({size})", "MB",
                  "100k within 20% of 10k" if size == "100k" else "")
    table.add("tap.latency300.records_per_s", "tap at 300 ms latency, 10 req/s", "records/s",
              ">= 90% of 5,000 records/s ceiling", "one-page-at-a-time loop, same latency")
    table.add("api.full_sync_requests", "API requests per full sync of contacts", "requests",
              "equal to the minimum", "minimum: ceil(n / page size)")
    table.add("api.no_change_poll_requests", "API requests, no-change poll of every stream", "requests")
    table.add("api.no_change_poll_seconds", "seconds, no-change poll of every stream", "s")
    table.add("api.discovery_requests", "API requests of discovery (counted separately)", "requests")
    for epr in (1, 10, 100):
        goal = {1: ">= 1,000 requests/s", 100: ">= 10,000 events/s"}.get(epr, "")
        table.add(f"target.events_per_s.epr{epr}", f"target events/s at {epr} per request", "events/s",
                  goal, "plain requests.Session posting the same bodies")
        table.add(f"target.peak_rss.epr{epr}", f"target peak RSS at {epr} per request", "MB")
    table.add("target.slow100ms.c1", "target events/s, inbox 100 ms, 1 concurrent request", "events/s")
    table.add("target.slow100ms.c10", "target events/s, inbox 100 ms, 10 concurrent requests", "events/s",
              ">= 8x the 1-concurrent rate", "1 concurrent request")
    table.add("e2e.seconds_changed", "meltano run: start to last event acknowledged, changed records", "s")
    table.add("e2e.cpu_no_change_run", "CPU seconds of one no-change meltano run", "CPU s")
    table.add("startup.tap_cpu", "tap start-up CPU (nothing selected, median)", "CPU s")
    table.add("startup.target_cpu", "target start-up CPU (empty input, median)", "CPU s")
    table.add("startup.total_cpu", "tap + target start-up CPU", "CPU s", "<= 1 CPU-second")
    table.add("sandbox.records_per_s", "sandbox alone: records/s served to one client", "records/s",
              ">= 50,000 records/s (issue 2 point 10)")


# ----------------------------------------------------------------------------- processes


@dataclass
class Child:
    returncode: int
    started: float
    ended: float
    cpu: float  # user + system seconds of the child and the children it waited for
    maxrss_mb: float
    stderr_tail: str
    timed_out: bool

    @property
    def wall(self) -> float:
        return self.ended - self.started

    def why(self, command: str) -> str:
        if self.timed_out:
            return f"{command} did not finish in time and was stopped"
        tail = self.stderr_tail or "no error output"
        return f"{command} exited {self.returncode}: {tail}"


def run_child(
    cmd: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    stdin: Path | None = None,
    on_line: Callable[[bytes], None] | None = None,
) -> Child:
    """Run a command to its end, feeding each stdout line to on_line.

    Peak RSS and CPU are the command's own, through the small ``_measure.py`` launcher (see
    there why); CPU includes the children the command waited for (Meltano's tap and target).
    """
    if shutil.which(cmd[0]) is None:
        raise NotAvailable(f"{Path(cmd[0]).name} is not installed (no {cmd[0]})")
    with tempfile.TemporaryFile() as err, contextlib.ExitStack() as stack:
        stdin_file = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        measured = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "rusage.json"
        launcher = [sys.executable, "-S", str(Path(__file__).with_name("_measure.py")), str(measured)]
        started = time.time()
        try:
            proc = subprocess.Popen([*launcher, *cmd], stdin=stdin_file, stdout=subprocess.PIPE, stderr=err,
                                    env=env, cwd=REPO, start_new_session=True)
        except OSError as exc:
            raise NotAvailable(f"{Path(cmd[0]).name} cannot start: {exc.strerror}") from None
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if on_line is not None:
                    on_line(line)
        finally:
            timer.cancel()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            proc.stdout.close()
        ended = time.time()
        err.seek(0)
        lines = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        try:
            own = json.loads(measured.read_text())
            cpu, maxrss_kb = own["cpu"], own["maxrss_kb"]
        except (OSError, ValueError, KeyError):  # killed before it could write
            cpu, maxrss_kb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    # the line that says what went wrong: the last one mentioning an error, else the last one
    errors = [ln for ln in lines if "error" in ln.lower() or "fail" in ln.lower()]
    tail = (errors or lines or [""])[-1][:300]
    return Child(proc.returncode, started, ended, cpu, maxrss_kb / 1024, tail, timed_out.is_set())


@contextlib.contextmanager
def server_process(cmd: list[str], name: str, timeout: float) -> Iterator[str]:
    """Start a server CLI, yield the first line it prints (its URL), SIGTERM it at the end."""
    err = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=REPO, text=True, start_new_session=True)
    except OSError as exc:
        raise NotAvailable(f"{name} cannot start: {exc.strerror}") from None
    timer = threading.Timer(timeout, lambda: proc.kill())
    timer.start()
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        timer.cancel()
        if not url.startswith("http"):
            proc.wait(timeout=30)
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip().splitlines()
            raise NotAvailable(f"{name} did not start: {tail[-1] if tail else 'no output'}")
        yield url
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
        err.close()


class Sandbox:
    """The ``insightly-sandbox`` CLI in a subprocess, and its control API."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.root = base_url.rsplit("/v3.1", 1)[0]
        self.http = requests.Session()

    def control(self, method: str, path: str, payload: Any = None) -> Any:
        response = self.http.request(method, f"{self.root}/_sandbox/{path}", json=payload, timeout=300)
        response.raise_for_status()
        return response.json() if response.content else None

    def clear_log(self) -> None:
        self.control("DELETE", "requests")

    def log(self) -> list[dict[str, Any]]:
        return self.control("GET", "requests")

    def settings(self, **values: Any) -> None:
        self.control("POST", "settings", values)


@contextlib.contextmanager
def sandbox(scale: float, timeout: float) -> Iterator[Sandbox]:
    cmd = [str(BIN / "insightly-sandbox"), "--host", "127.0.0.1", "--port", "0", "--api-key", API_KEY,
           "--scale", str(scale), "--daily-limit", "10000000"]
    with server_process(cmd, "insightly-sandbox", timeout) as url:
        yield Sandbox(url)


@contextlib.contextmanager
def inbox(timeout: float) -> Iterator[str]:
    cmd = [str(BIN / "webhook-inbox"), "--host", "127.0.0.1", "--port", "0", "--signature-key", SIGNATURE_KEY]
    with server_process(cmd, "webhook-inbox", timeout) as url:
        yield url


# ----------------------------------------------------------------------------- tap


@dataclass
class TapRun:
    child: Child
    records: int = 0
    first_record: float | None = None
    last_record: float | None = None
    last_state: bytes | None = None
    statuses: dict[str, int] = field(default_factory=dict)  # API answers by status


def run_tap(config: Path, catalog: Path | None, timeout: float, state: Path | None = None,
            tee: Path | None = None, discover: bool = False) -> tuple[TapRun, bytes]:
    cmd = [str(BIN / "tap-insightly"), "--config", str(config)]
    if discover:
        cmd.append("--discover")
    if catalog is not None:
        cmd += ["--catalog", str(catalog)]
    if state is not None:
        cmd += ["--state", str(state)]
    chunks: list[bytes] = []
    run = TapRun(child=None)  # type: ignore[arg-type]
    out = tee.open("wb") if tee else None

    def on_line(line: bytes) -> None:
        head = line[:40]
        if b'"RECORD"' in head:
            now = time.time()
            run.records += 1
            run.last_record = now
            if run.first_record is None:
                run.first_record = now
        elif b'"STATE"' in head:
            run.last_state = line
        if discover:
            chunks.append(line)
        if out:
            out.write(line)

    try:
        run.child = run_child(cmd, timeout=timeout, on_line=on_line)
    finally:
        if out:
            out.close()
    return run, b"".join(chunks)


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def select_streams(catalog: dict[str, Any], names: set[str] | None) -> dict[str, Any]:
    """A copy of the catalog with only `names` selected (None: every stream)."""
    result = json.loads(json.dumps(catalog))
    for stream in result.get("streams", []):
        chosen = names is None or stream.get("tap_stream_id") in names
        metadata = stream.setdefault("metadata", [])
        top = next((m for m in metadata if m.get("breadcrumb") == []), None)
        if top is None:
            top = {"breadcrumb": [], "metadata": {}}
            metadata.append(top)
        top.setdefault("metadata", {})["selected"] = chosen
    return result


def first_data_request(sandbox_log: list[dict[str, Any]], resource: str = "Contacts") -> tuple[float | None, int]:
    """Arrival time of the first request for `resource` records, and how many there were."""
    prefix = f"/v3.1/{resource}"
    data = [r for r in sandbox_log if r["path"] == prefix or r["path"].startswith(prefix + "/")]
    if not data:
        return None, 0
    return min(r["wall"] for r in data), len(data)


def measure_tap_rate(sb: Sandbox, config: Path, catalog: Path, plan: Plan, tee: Path | None = None,
                     latency_ms: int = 0) -> tuple[float, TapRun, int]:
    sb.clear_log()
    run, _ = run_tap(config, catalog, plan.timeout, tee=tee)
    if run.child.returncode != 0 or run.child.timed_out:
        raise NotAvailable(run.child.why("tap-insightly"))
    if not run.records or run.last_record is None:
        raise NotAvailable("tap-insightly emitted no RECORD for contacts")
    log = sb.log()
    start, data_requests = first_data_request(log)
    if start is None:
        raise NotAvailable("the sandbox saw no request for contacts")
    # the sandbox logs a request as it answers, after its latency: the request arrived earlier
    start -= latency_ms / 1000
    statuses: dict[str, int] = {}
    for entry in log:
        statuses[str(entry["status"])] = statuses.get(str(entry["status"]), 0) + 1
    run.statuses = statuses
    return run.records / max(run.last_record - start, 1e-9), run, data_requests


# ----------------------------------------------------------------------------- floors


def floor_fetch(base_url: str, out: Path, max_pages: int | None = None) -> tuple[float, list[int]]:
    """The floor: a plain requests loop over the same pages, one JSON line per record.

    Returns the rate and the CONTACT_IDs seen (records are not kept: the benchmark stays small).
    """
    session = requests.Session()
    session.auth = (API_KEY, "")
    ids: list[int] = []
    skip, pages = 0, 0
    with out.open("w") as sink:
        started = time.time()
        while max_pages is None or pages < max_pages:
            response = session.get(f"{base_url}/Contacts/Search", timeout=120,
                                   params={"top": PAGE_SIZE, "skip": skip, "updated_after_utc": START_DATE})
            response.raise_for_status()
            page = response.json()
            for record in page:
                sink.write(json.dumps(record) + "\n")
            ids.extend(record["CONTACT_ID"] for record in page)
            pages += 1
            skip += PAGE_SIZE
            if len(page) < PAGE_SIZE:
                break
        ended = time.time()
    session.close()
    return len(ids) / max(ended - started, 1e-9), ids


def sandbox_alone(base_url: str) -> float:
    """Records/s the sandbox serves to one client that only reads the bytes."""
    session = requests.Session()
    session.auth = (API_KEY, "")
    params = {"top": PAGE_SIZE, "skip": 0, "updated_after_utc": START_DATE, "count_total": "true"}
    started = time.time()
    first = session.get(f"{base_url}/Contacts/Search", params=params, timeout=120)
    first.raise_for_status()
    total = int(first.headers["X-Total-Count"])
    for skip in range(PAGE_SIZE, total, PAGE_SIZE):
        params = {"top": PAGE_SIZE, "skip": skip, "updated_after_utc": START_DATE}
        session.get(f"{base_url}/Contacts/Search", params=params, timeout=120).raise_for_status()
    ended = time.time()
    session.close()
    return total / max(ended - started, 1e-9)


# ----------------------------------------------------------------------------- target


class Inbox:
    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def _call(self, method: str, endpoint: str, payload: Any = None, **params: Any) -> Any:
        response = self.http.request(method, f"{self.url}_inbox/{endpoint}", json=payload,
                                     params=params, timeout=300)
        response.raise_for_status()
        return response.json()

    def clear(self) -> None:
        self._call("POST", "clear", {})

    def delay(self, ms: int) -> None:
        self._call("POST", "delay", {"ms": ms})

    def summary(self) -> dict[str, Any]:
        return self._call("GET", "summary")

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")


def target_input(tap_output: Path, records: int, dest: Path) -> Path:
    """The tap's own output, cut to its first `records` RECORD messages (other messages kept)."""
    kept = 0
    with tap_output.open("rb") as src, dest.open("wb") as out:
        for line in src:
            if b'"RECORD"' in line[:40]:
                if kept >= records:
                    continue
                kept += 1
            out.write(line)
    return dest


def span_rate(summary: dict[str, Any]) -> float:
    if not summary["events"] or summary["first_arrival"] is None or summary["last_answered"] is None:
        raise NotAvailable("the inbox acknowledged no event")
    return summary["events"] / max(summary["last_answered"] - summary["first_arrival"], 1e-9)


def run_target(ib: Inbox, tmp: Path, input_path: Path, expected: int, plan: Plan, delay_ms: int = 0,
               **settings: Any) -> tuple[float, Child, dict[str, Any]]:
    config = {"callback_url": ib.url, "signature_key": SIGNATURE_KEY, **settings}
    config_path = write_json(tmp / "target-config.json", config)
    ib.clear()  # also ends any delay: set it again
    ib.delay(delay_ms)
    child = run_child([str(BIN / "target-webhook"), "--config", str(config_path)],
                      timeout=plan.timeout, stdin=input_path)
    if child.returncode != 0 or child.timed_out:
        raise NotAvailable(child.why("target-webhook"))
    summary = ib.summary()
    if summary["events"] < expected:
        raise NotAvailable(f"target-webhook delivered {summary['events']} of {expected} events")
    return span_rate(summary), child, summary


def floor_post(ib: Inbox) -> float:
    """The floor: the bodies the target sent, posted again by a plain requests.Session."""
    sent = [r for r in ib.requests() if 200 <= r["status"] < 300]
    keep = {"content-type", "elements-webhook-signature", "webhook-id", "webhook-timestamp",
            "webhook-signature"}
    prepared = [({k: v for k, v in r["headers"].items() if k.lower() in keep}, r["body"].encode())
                for r in sent]
    ib.clear()
    session = requests.Session()
    for headers, body in prepared:
        session.post(ib.url, data=body, headers=headers, timeout=120).raise_for_status()
    session.close()
    return span_rate(ib.summary())


# ----------------------------------------------------------------------------- meltano


def meltano_env(sb: Sandbox, callback_url: str, tmp: Path) -> dict[str, str]:
    # A private .meltano (the plugins' venvs linked in): other runs in this working tree write
    # the same run/ files (catalog, config) and would race with ours.
    sys_dir = tmp / "meltano-sys"
    sys_dir.mkdir(exist_ok=True)
    for kind in ("extractors", "loaders"):
        link = sys_dir / kind
        if not link.exists():
            link.symlink_to(REPO / ".meltano" / kind, target_is_directory=True)
    env = dict(os.environ)
    env.update({
        "MELTANO_SYS_DIR_ROOT": str(sys_dir),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "sandbox",
        "TAP_INSIGHTLY_API_URL": sb.base_url,
        "TAP_INSIGHTLY_API_KEY": API_KEY,
        "TARGET_WEBHOOK_CALLBACK_URL": callback_url,
        "TARGET_WEBHOOK_SIGNATURE_KEY": SIGNATURE_KEY,
        SELECT_ENV: json.dumps(["contacts.*"]),
    })
    return env


def meltano_run(env: dict[str, str], plan: Plan) -> Child:
    meltano = BIN / "meltano"
    if not meltano.exists():
        raise NotAvailable(f"meltano is not installed beside {sys.executable}")
    if not (REPO / "meltano.yml").exists():
        raise NotAvailable("the repository has no meltano.yml")
    venvs = [REPO / ".meltano" / "extractors" / "tap-insightly" / "venv",
             REPO / ".meltano" / "loaders" / "target-webhook" / "venv"]
    if not all(v.exists() for v in venvs):
        raise NotAvailable("Meltano's plugin venvs are absent: run `meltano install` in the repository first")
    child = run_child([str(meltano), "run", "tap-insightly", "target-webhook"], env=env,
                      timeout=plan.timeout)
    if child.returncode != 0 or child.timed_out:
        raise NotAvailable(child.why("meltano run"))
    return child


# ----------------------------------------------------------------------------- the run


def tap_config(sb: Sandbox, tmp: Path, name: str, requests_per_second: float) -> Path:
    """The tap's settings. With no latency the sandbox answers as fast as it can and the rows
    measure the tap itself: requests_per_second 0 turns the client-side limit off (at Insightly's
    10 per second no tap passes 10 x 499 records/s). At 300 ms the limit is Insightly's 10."""
    return write_json(tmp / name, {
        "api_key": API_KEY,
        "api_url": sb.base_url,
        "page_size": PAGE_SIZE,
        "requests_per_second": requests_per_second,
        "start_date": START_DATE,
        "custom_fields_as_columns": True,
    })


def best(current: float | None, measured: float) -> float:
    """Noise on a shared machine only ever slows a run down: keep the best attempt."""
    return measured if current is None else max(current, measured)


class Bench:
    def __init__(self, plan: Plan, tmp: Path, log: Callable[[str], None], repeat: int = 1):
        self.repeat = repeat
        self.plan = plan
        self.tmp = tmp
        self.log = log
        self.table = Table()
        declare_rows(self.table)
        self.catalog: dict[str, Any] | None = None
        self.tap_output: Path | None = None
        self.contact_ids: list[int] = []

    @contextlib.contextmanager
    def step(self, name: str, rows: list[str]) -> Iterator[None]:
        """Run one measurement; on failure mark its rows not available and go on."""
        self.log(f"-- {name}")
        try:
            yield
        except NotAvailable as exc:
            self.table.fail(rows, str(exc))
            self.log(f"   not available: {exc}")
        except (requests.RequestException, OSError, ValueError, KeyError) as exc:
            reason = f"{name} failed: {type(exc).__name__}: {str(exc)[:200]}"
            self.table.fail(rows, reason)
            self.log(f"   not available: {reason}")

    def discover(self, sb: Sandbox, config: Path) -> None:
        with self.step("discovery", ["api.discovery_requests"]):
            sb.clear_log()
            run, text = run_tap(config, None, self.plan.timeout, discover=True)
            if run.child.returncode != 0 or run.child.timed_out:
                raise NotAvailable(run.child.why("tap-insightly --discover"))
            catalog = json.loads(text)
            if not any(s.get("tap_stream_id") == "contacts" for s in catalog.get("streams", [])):
                raise NotAvailable("tap-insightly --discover lists no contacts stream")
            self.catalog = catalog
            self.table["api.discovery_requests"].value = len(sb.log())

    def catalog_file(self, names: set[str] | None, file_name: str) -> Path:
        if self.catalog is None:
            raise NotAvailable("no catalog: tap-insightly --discover failed")
        return write_json(self.tmp / file_name, select_streams(self.catalog, names))

    def tap_and_floor(self, sb: Sandbox, config: Path, size: str, tee: Path | None) -> None:
        t = self.table
        rate_row, rss_row = t[f"tap.records_per_s.{size}"], t[f"tap.peak_rss.{size}"]
        # each attempt measures the floor and then the tap, so both see the same machine load
        for attempt in range(self.repeat):
            with self.step(f"floor: plain requests loop ({size})", [rate_row.id]):
                floor, ids = floor_fetch(sb.base_url, self.tmp / "floor.jsonl")
                rate_row.floor = best(rate_row.floor, floor)
                rate_row.detail["records"] = len(ids)
                if size == "10k":
                    self.contact_ids = ids
            with self.step(f"tap-insightly contacts ({size})", [rate_row.id, rss_row.id, "api.full_sync_requests"]):
                catalog = self.catalog_file({"contacts"}, "catalog-contacts.json")
                rate, run, data_requests = measure_tap_rate(sb, config, catalog, self.plan, tee=tee)
                rate_row.value = best(rate_row.value, rate)
                rate_row.detail.setdefault("attempts", []).append(round(rate))
                rate_row.detail.update(tap_records=run.records, api_statuses=run.statuses,
                                       requests_per_second=json.loads(config.read_text())["requests_per_second"])
                rss_row.value = best(rss_row.value, run.child.maxrss_mb)  # the largest seen
                if tee is not None:
                    self.tap_output = tee
                if size == "100k":
                    row = t["api.full_sync_requests"]
                    n = run.records
                    minimum = math.ceil(n / PAGE_SIZE)
                    with_overlap = math.ceil((n - 1) / (PAGE_SIZE - 1)) if n > 1 else 1
                    row.value, row.floor = data_requests, minimum
                    row.detail.update(records=n, minimum_with_one_record_overlaps=with_overlap)
                    row.met = data_requests in (minimum, with_overlap)
            if rate_row.not_available:
                break

    def latency(self, sb: Sandbox, config: Path) -> None:
        row = self.table["tap.latency300.records_per_s"]
        try:
            sb.settings(latency_ms=300, rate_limit=10)
            with self.step("floor: one page at a time at 300 ms", [row.id]):
                row.floor, _ = floor_fetch(sb.base_url, self.tmp / "floor-latency.jsonl",
                                           max_pages=self.plan.floor_latency_pages)
            for _ in range(self.repeat):
                with self.step("tap-insightly at 300 ms, 10 requests/s", [row.id]):
                    catalog = self.catalog_file({"contacts"}, "catalog-contacts.json")
                    rate, run, _ = measure_tap_rate(sb, config, catalog, self.plan, latency_ms=300)
                    row.value = best(row.value, rate)
                    row.detail.setdefault("attempts", []).append(
                        {"records_per_s": round(rate), "api_statuses": run.statuses})
                    row.detail.update(ceiling=CEILING_RECORDS_PER_S, share_of_ceiling=row.value / CEILING_RECORDS_PER_S,
                                      records=run.records)
                    row.met = row.value >= 0.9 * CEILING_RECORDS_PER_S
                if row.not_available:
                    break
        finally:
            with contextlib.suppress(requests.RequestException):
                sb.settings(latency_ms=0, rate_limit=None)

    def no_change_poll(self, sb: Sandbox, config: Path) -> None:
        rows = ["api.no_change_poll_requests", "api.no_change_poll_seconds"]
        with self.step("tap-insightly: every stream, then a no-change poll", rows):
            catalog = self.catalog_file(None, "catalog-all.json")
            first, _ = run_tap(config, catalog, self.plan.timeout)
            if first.child.returncode != 0 or first.child.timed_out:
                raise NotAvailable(first.child.why("tap-insightly (every stream)"))
            if first.last_state is None:
                raise NotAvailable("tap-insightly wrote no STATE on a full sync of every stream")
            state = json.loads(first.last_state)["value"]
            state_path = write_json(self.tmp / "state.json", state)
            sb.clear_log()
            again, _ = run_tap(config, catalog, self.plan.timeout, state=state_path)
            if again.child.returncode != 0 or again.child.timed_out:
                raise NotAvailable(again.child.why("tap-insightly (no-change poll)"))
            self.table[rows[0]].value = len(sb.log())
            self.table[rows[1]].value = again.child.wall
            self.table[rows[0]].detail.update(records_emitted=again.records, streams=len(self.catalog["streams"]))
            self.table[rows[1]].detail.update(cpu_seconds=again.child.cpu, includes="process start to exit")

    def startup(self, sb: Sandbox, config: Path, callback_url: str) -> None:
        """CPU of a tap that syncs nothing and of a target given no input: the median of
        plan.startups runs each (one run alone is noisy)."""
        t = self.table
        with self.step("tap start-up", ["startup.tap_cpu", "startup.total_cpu"]):
            catalog = self.catalog_file(set(), "catalog-none.json")
            cmd = [str(BIN / "tap-insightly"), "--config", str(config), "--catalog", str(catalog)]
            self.median_cpu("startup.tap_cpu", cmd, "tap-insightly (nothing selected)")
        with self.step("target start-up", ["startup.target_cpu", "startup.total_cpu"]):
            config_path = write_json(self.tmp / "target-startup.json",
                                     {"callback_url": callback_url, "signature_key": SIGNATURE_KEY})
            empty = self.tmp / "empty.singer"
            empty.write_bytes(b"")
            cmd = [str(BIN / "target-webhook"), "--config", str(config_path)]
            self.median_cpu("startup.target_cpu", cmd, "target-webhook (empty input)", stdin=empty)
        tap_cpu, target_cpu = t["startup.tap_cpu"].value, t["startup.target_cpu"].value
        if tap_cpu is not None and target_cpu is not None:
            t["startup.total_cpu"].value = tap_cpu + target_cpu
            t["startup.total_cpu"].met = tap_cpu + target_cpu <= 1.0

    def median_cpu(self, row: str, cmd: list[str], what: str, stdin: Path | None = None) -> None:
        runs = []
        for _ in range(self.plan.startups):
            child = run_child(cmd, timeout=self.plan.timeout, stdin=stdin)
            if child.returncode != 0:
                raise NotAvailable(child.why(what))
            runs.append(child.cpu)
        self.table[row].value = statistics.median(runs)
        self.table[row].detail.update(runs=len(runs), min=min(runs), max=max(runs))

    def target(self, ib: Inbox) -> None:
        t = self.table
        if self.tap_output is None:
            reason = "no tap output to replay (the tap's 10k run failed)"
            t.fail([r for r in t.rows if r.startswith("target.")], reason)
            return
        total = sum(1 for line in self.tap_output.open("rb") if b'"RECORD"' in line[:40])
        for epr in (1, 10, 100):
            n = min(total, self.plan.target_one_per_request) if epr == 1 else total
            rate_row, rss_row = t[f"target.events_per_s.epr{epr}"], t[f"target.peak_rss.epr{epr}"]
            source = target_input(self.tap_output, n, self.tmp / f"target-{epr}.singer")
            for attempt in range(self.repeat):
                with self.step(f"target-webhook at {epr} per request", [rate_row.id, rss_row.id]):
                    rate, child, _ = run_target(ib, self.tmp, source, n, self.plan, events_per_request=epr)
                    rate_row.value = best(rate_row.value, rate)
                    rate_row.detail.setdefault("attempts", []).append(round(rate))
                    rss_row.value = best(rss_row.value, child.maxrss_mb)
                    rate_row.detail.update(events=n, requests_per_s=rate_row.value / epr)
                with self.step(f"floor: requests.Session, {epr} per request", [rate_row.id]):
                    if rate_row.value is None:
                        raise NotAvailable("no bodies to replay: the target run failed")
                    rate_row.floor = best(rate_row.floor, floor_post(ib))
                if rate_row.not_available:
                    break
        n = min(total, self.plan.slow_events)
        source = target_input(self.tap_output, n, self.tmp / "target-slow.singer")
        try:
            for concurrent in (1, 10):
                row = t[f"target.slow100ms.c{concurrent}"]
                with self.step(f"target-webhook, inbox 100 ms, {concurrent} concurrent", [row.id]):
                    row.value, _, _ = run_target(ib, self.tmp, source, n, self.plan, delay_ms=100,
                                                 events_per_request=10, max_concurrent_requests=concurrent)
                    row.detail.update(events=n, events_per_request=10)
        finally:
            ib.delay(0)
        c1, c10 = t["target.slow100ms.c1"], t["target.slow100ms.c10"]
        if c1.value and c10.value is not None:
            c10.floor = c1.value
            c10.met = c10.value >= 8 * c1.value

    def end_to_end(self, sb: Sandbox, ib: Inbox) -> None:
        rows = ["e2e.seconds_changed", "e2e.cpu_no_change_run"]
        with self.step("meltano run: initial sync, no-change run, changed records", rows):
            env = meltano_env(sb, ib.url, self.tmp)
            ib.clear()
            initial = meltano_run(env, self.plan)
            self.table["e2e.seconds_changed"].detail["initial_sync_seconds"] = initial.wall
            ib.clear()
            idle = meltano_run(env, self.plan)
            self.table["e2e.cpu_no_change_run"].value = idle.cpu
            self.table["e2e.cpu_no_change_run"].detail.update(seconds=idle.wall, events=ib.summary()["events"])
            if not self.contact_ids:
                raise NotAvailable("no contact ids to change (the floor loop failed)")
            ids = self.contact_ids[: self.plan.e2e_changes]
            sb.control("POST", "changes", {"changes": [
                {"op": "update", "resource": "Contacts", "id": i, "fields": {"LAST_NAME": f"Changed {i}"}}
                for i in ids]})
            ib.clear()
            changed = meltano_run(env, self.plan)
            summary = ib.summary()
            if summary["events"] < len(ids) or summary["last_answered"] is None:
                raise NotAvailable(f"meltano run delivered {summary['events']} events for {len(ids)} changed records")
            row = self.table["e2e.seconds_changed"]
            row.value = summary["last_answered"] - changed.started
            row.detail.update(changed_records=len(ids), events=summary["events"], run_seconds=changed.wall)

    def run(self) -> Table:
        plan, t = self.plan, self.table
        try:
            with sandbox(plan.small_scale, plan.timeout) as small, inbox(plan.timeout) as inbox_url:
                ib = Inbox(inbox_url)
                config = tap_config(small, self.tmp, "tap-small.json", requests_per_second=0)
                self.discover(small, config)
                with self.step("sandbox alone", ["sandbox.records_per_s"]):
                    t["sandbox.records_per_s"].value = sandbox_alone(small.base_url)
                self.tap_and_floor(small, config, "10k", tee=self.tmp / "tap-10k.singer")
                self.startup(small, config, ib.url)
                self.no_change_poll(small, config)
                self.target(ib)
                self.end_to_end(small, ib)
        except NotAvailable as exc:
            self.log(f"   not available: {exc}")
            t.fail(list(t.rows), str(exc))
        try:
            with sandbox(plan.large_scale, plan.timeout) as large:
                config = tap_config(large, self.tmp, "tap-large.json", requests_per_second=0)
                self.tap_and_floor(large, config, "100k", tee=None)
                self.latency(large, tap_config(large, self.tmp, "tap-latency.json",
                                               requests_per_second=10))
        except NotAvailable as exc:
            self.log(f"   not available: {exc}")
            t.fail([r for r in t.rows if r.endswith("100k") or "latency" in r or r == "api.full_sync_requests"],
                   str(exc))
        self.judge()
        t.finish()
        return t

    def judge(self) -> None:
        t = self.table
        for row in t.rows.values():
            if row.value is not None and row.floor and row.ratio is None and row.floor_label:
                row.ratio = row.value / row.floor
        goals = {
            "tap.records_per_s.10k": lambda v: v >= 15_000,
            "tap.records_per_s.100k": lambda v: v >= 15_000,
            "target.events_per_s.epr1": lambda v: v >= 1_000,
            "target.events_per_s.epr100": lambda v: v >= 10_000,
            "sandbox.records_per_s": lambda v: v >= 50_000,
        }
        for row_id, ok in goals.items():
            if t[row_id].value is not None:
                t[row_id].met = ok(t[row_id].value)
        small, large = t["tap.peak_rss.10k"], t["tap.peak_rss.100k"]
        if small.value and large.value is not None:
            large.floor, large.floor_label = small.value, "peak RSS at 10k"
            large.ratio = large.value / small.value
            large.met = large.value <= 1.2 * small.value


# ----------------------------------------------------------------------------- output


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("MB", "s", "CPU s") or abs(value) < 100:
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def render(table: Table) -> str:
    header = ("figure", "value", "unit", "floor", "ratio", "goal", "met")
    lines = []
    for row in table.rows.values():
        if row.not_available:
            lines.append((row.label, "n/a", row.unit, "", "", row.goal, "not available: " + row.not_available))
            continue
        met = {True: "yes", False: "NO", None: ""}[row.met]
        lines.append((row.label, fmt(row.value, row.unit), row.unit, fmt(row.floor, row.unit) if row.floor is not None else "",
                      f"{row.ratio:.2f}" if row.ratio is not None else "", row.goal, met))
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(6)]
    out = []
    for r in [header, *lines]:
        out.append("  ".join(str(r[i]).ljust(widths[i]) for i in range(6)) + "  " + str(r[6]))
    return "\n".join(out)


def markdown(result: dict[str, Any]) -> str:
    """A result file as the Markdown table the README carries."""
    host = result["machine"]
    lines = [
        f"Measured {result['date'][:10]} ({result['plan']} run) on {host['cpu_model']}, "
        f"{host['cores']} cores, Python {host['python']}.",
        "",
        "| figure | value | floor | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        if row["not_available"]:
            value, met = "n/a", "not available: " + row["not_available"].replace("|", "/")
        else:
            value = f"{fmt(row['value'], row['unit'])} {row['unit']}"
            met = {True: "yes", False: "no", None: ""}[row["met"]]
        floor = fmt(row["floor"], row["unit"]) if row["floor"] is not None else ""
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else ""
        lines.append(f"| {row['label']} | {value} | {floor} | {ratio} | {row['goal']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a few hundred records (what CI runs)")
    parser.add_argument("--out", help="JSON result file (default benchmarks/results/<time>[-tiny].json)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="measure the tap rates (no latency and 300 ms) and target rates, with their floors, N times; keep the best")
    parser.add_argument("--markdown", metavar="RESULT.json",
                        help="print a result file as a Markdown table (for the README) and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        try:
            text = markdown(json.loads(Path(args.markdown).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"benchmarks: --markdown {args.markdown} is not a readable result file ({exc})",
                  file=sys.stderr)
            return 2
        print(text)
        return 0
    plan = TINY if args.tiny else FULL
    if not 1 <= args.repeat <= 20:
        print(f"benchmarks: --repeat must be 1 to 20, got {args.repeat}", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.timezone.utc)
    out = Path(args.out) if args.out else (
        REPO / "benchmarks" / "results" / (now.strftime("%Y%m%dT%H%M%SZ") + ("-tiny" if args.tiny else "") + ".json"))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"benchmarks: cannot create the directory of --out {out}: {exc.strerror}", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.time()
    host = machine()
    # As a regular (non-editable) install does: start-ups should not compile our own
    # modules from source each time, as they would where Python caches no bytecode.
    for package in PRODUCT_PACKAGES:
        compileall.compile_dir(str(REPO / package), quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        table = Bench(plan, Path(tmp), log, repeat=args.repeat).run()
    result = {
        "date": now.isoformat(timespec="seconds"),
        "plan": plan.name,
        "repeat": args.repeat,
        "machine": host,
        "duration_seconds": round(time.time() - started, 1),
        "settings": {
            "plan": plan.__dict__,
            "tap": {"page_size": PAGE_SIZE, "start_date": START_DATE,
                    "requests_per_second": "0 (no client-side limit) with no latency; 10 at 300 ms",
                    "custom_fields_as_columns": True, "streams": ["contacts"]},
            "target": {"signature_key": "set", "events_per_request": [1, 10, 100],
                       "max_concurrent_requests": "the target's default, except 1 and 10 for the 100 ms rows"},
            "meltano": {"environment": "sandbox", SELECT_ENV: ["contacts.*"]},
            "spans": {"tap": "first contacts request arriving at the sandbox (its log time less the "
                            "latency) to the last RECORD line read",
                      "target": "first request arriving at the inbox to the last answer sent"},
        },
        "rows": [row.__dict__ for row in table.rows.values()],
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"benchmark ({plan.name}) {result['date']} on {result['machine']['cpu_model']}, "
          f"{result['machine']['cores']} cores, Python {result['machine']['python']}")
    if plan is TINY:
        print("tiny run: a few hundred records where labels say 10k/100k; it proves the harness "
              "works, its figures are not the product's")
    print(render(table))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
