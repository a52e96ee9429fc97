"""Throughput of tap-insightly on contacts (issue 3, point 10). Not a test: a measurement.

    .venv/bin/python tests/tap/bench_tap.py --scale 1000                       # no latency
    .venv/bin/python tests/tap/bench_tap.py --scale 1000 --latency-ms 300 --rate-limit 10
    .venv/bin/python tests/tap/bench_tap.py --scale 300 --unthrottled

``requests_per_second`` is at most 10, so through the throttle the tap can never pass
10 x 499 new records a second. ``--unthrottled`` measures the record processing itself:
the tap runs in this process with its throttle replaced by a no-op (the sandbox still a
separate process) and reports records per wall second and per CPU second of the tap.

Starts ``insightly-sandbox`` (a subprocess, 127.0.0.1, free port), discovers, then syncs
the contacts stream with ``tap-insightly`` (a subprocess, as Meltano runs it) and reports
records/s from the first data request (the sandbox's request log) to the last RECORD
line read, the request count, and the tap's peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tap_insightly.tap import TapInsightly

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
KEY = "bench-key"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument("--rps", type=float, default=10)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--unthrottled", action="store_true")
    args = parser.parse_args()

    command = [str(BIN / "insightly-sandbox"), "--port", "0", "--api-key", KEY, "--scale", str(args.scale)]
    if args.latency_ms:
        command += ["--latency-ms", str(args.latency_ms)]
    if args.rate_limit:
        command += ["--rate-limit", str(args.rate_limit)]
    sandbox = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = sandbox.stdout.readline().strip()
        control = url.removesuffix("/v3.1") + "/_sandbox"
        work = Path(tempfile.mkdtemp())
        config = {"api_key": KEY, "api_url": url, "requests_per_second": args.rps, "page_size": args.page_size}
        (work / "config.json").write_text(json.dumps(config))
        catalog = json.loads(subprocess.run(
            [str(BIN / "tap-insightly"), "--config", str(work / "config.json"), "--discover"],
            capture_output=True, text=True, check=True,
        ).stdout)
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == "contacts"
        (work / "catalog.json").write_text(json.dumps(catalog))
        requests.delete(control + "/requests", timeout=30)
        if args.unthrottled:
            unthrottled(config, catalog, work)
            return
        tap = subprocess.Popen(
            [str(BIN / "tap-insightly"), "--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        records = 0
        last = 0.0
        for line in tap.stdout:
            if line.startswith(b'{"type":"RECORD"'):
                records += 1
                last = time.time()
        tap.wait()
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        log = requests.get(control + "/requests", timeout=30).json()
        data = [r for r in log if r["path"].endswith("/Contacts/Search")]
        first = min(r["wall"] for r in data)
        seconds = last - first
        print(json.dumps({
            "scale": args.scale, "latency_ms": args.latency_ms, "rate_limit": args.rate_limit,
            "requests_per_second": args.rps, "records": records, "data_requests": len(data),
            "seconds": round(seconds, 2), "records_per_second": round(records / seconds),
            "peak_rss_mb": round(peak_kb / 1024), "tap_exit": tap.returncode,
        }))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


def unthrottled(config: dict, catalog: dict, work: Path) -> None:
    class NoLimit:
        def wait(self) -> None:
            pass

    class Unthrottled(TapInsightly):
        @functools.cached_property
        def limiter(self) -> NoLimit:  # type: ignore[override]
            return NoLimit()

    output = work / "out.jsonl"
    with output.open("w") as out:
        stdout, sys.stdout = sys.stdout, out
        try:
            wall, cpu = time.time(), time.process_time()
            Unthrottled(config=config, catalog=catalog).sync_all()
            wall, cpu = time.time() - wall, time.process_time() - cpu
        finally:
            sys.stdout = stdout
    with output.open("rb") as lines:
        records = sum(1 for line in lines if line.startswith(b'{"type":"RECORD"'))
    print(json.dumps({
        "mode": "unthrottled, in-process", "records": records, "seconds": round(wall, 2),
        "records_per_second": round(records / wall), "tap_cpu_seconds": round(cpu, 2),
        "records_per_cpu_second": round(records / cpu),
    }))


if __name__ == "__main__":
    sys.exit(main())
