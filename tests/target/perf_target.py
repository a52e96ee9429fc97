"""Measure target-webhook throughput against loopback receivers (not a test: run by hand).

    .venv/bin/python -m tests.target.perf_target [--events N]

Three measurements, each a real `target-webhook` process reading a generated .singer file:

1. events/s with events_per_request=100 to a minimal keep-alive receiver (another process);
2. requests/s with events_per_request=1 to the same receiver;
3. with every answer 100 ms late (the sandbox's webhook inbox with delay): the rate at
   max_concurrent_requests=1 and =10.

Process start-up (about a second of imports) is measured with an empty input and subtracted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from insightly_sandbox.inbox import InboxClient

TARGET = Path(sys.executable).parent / "target-webhook"
INBOX = Path(sys.executable).parent / "webhook-inbox"

FAST_RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
server.daemon_threads = True
print(f"http://127.0.0.1:{server.server_port}/", flush=True)
server.serve_forever()
"""


def contacts_file(path: Path, count: int, objects: int) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "contacts",
        "key_properties": ["CONTACT_ID"],
        "schema": {
            "type": "object",
            "properties": {
                "CONTACT_ID": {"type": "integer"},
                "FIRST_NAME": {"type": "string"},
                "LAST_NAME": {"type": "string"},
                "EMAIL_ADDRESS": {"type": "string"},
                "DATE_CREATED_UTC": {"type": "string", "format": "date-time"},
                "DATE_UPDATED_UTC": {"type": "string", "format": "date-time"},
            },
        },
    }
    with path.open("w") as out:
        out.write(json.dumps(schema) + "\n")
        for n in range(count):
            record = {
                "CONTACT_ID": n % objects,
                "FIRST_NAME": f"First{n}",
                "LAST_NAME": "Last",
                "EMAIL_ADDRESS": f"p{n}@example.com",
                "DATE_CREATED_UTC": "2026-01-01 00:00:00",
                "DATE_UPDATED_UTC": f"2026-01-01 00:{n // 60 % 60:02d}:{n % 60:02d}",
            }
            out.write(json.dumps({"type": "RECORD", "stream": "contacts", "record": record}))
            out.write("\n")
            if n % 1000 == 999:
                out.write(json.dumps({"type": "STATE", "value": {"n": n}}) + "\n")


def start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def run_target(config: dict, input_path: Path, workdir: Path) -> float:
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    began = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        [str(TARGET), "--config", str(config_path), "--input", str(input_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--slow", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        empty, big, small, slow = (work / f"{n}.singer" for n in ("e", "b", "s", "w"))
        contacts_file(empty, 0, 1)
        contacts_file(big, args.events, 5000)
        contacts_file(small, args.requests, 5000)
        contacts_file(slow, args.slow, 1000)
        receiver, url = start([sys.executable, "-c", FAST_RECEIVER])
        try:
            base = {"callback_url": url, "signature_key": "bench-key"}
            startup = run_target(base, empty, work)
            print(f"start-up (empty input): {startup:.2f} s")
            took = run_target({**base, "events_per_request": 100}, big, work) - startup
            print(f"events_per_request=100: {args.events / took:,.0f} events/s")
            took = run_target({**base, "events_per_request": 1}, small, work) - startup
            print(f"events_per_request=1: {args.requests / took:,.0f} requests/s")
        finally:
            receiver.terminate()
            receiver.wait()
        inbox, url = start([str(INBOX), "--port", "0"])
        try:
            InboxClient(url).delay(100)
            rates = {}
            for concurrency in (1, 10):
                config = {
                    "callback_url": url,
                    "events_per_request": 1,
                    "max_concurrent_requests": concurrency,
                }
                took = run_target(config, slow, work) - startup
                rates[concurrency] = args.slow / took
                print(f"100 ms receiver, {concurrency} concurrent: {rates[concurrency]:.1f} requests/s")
            print(f"speed-up at 10 concurrent: {rates[10] / rates[1]:.1f}x")
        finally:
            inbox.terminate()
            inbox.wait()


if __name__ == "__main__":
    main()
