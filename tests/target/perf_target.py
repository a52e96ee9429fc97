"""Measure target-webhook throughput against loopback receivers (not a test: run by hand).

    .venv/bin/python -m tests.target.perf_target [--events N]

Three measurements, each a real `target-webhook` process reading a generated .singer file:

1. events/s with events_per_request=100 to a minimal keep-alive receiver (another process);
2. requests/s with events_per_request=1 to the same receiver (--inbox: both to the
   sandbox's webhook inbox, which parses, verifies and stores every request);
3. with every answer 100 ms late (the sandbox's webhook inbox with delay): the rate at
   max_concurrent_requests=1 and =10.

Rates are taken at the receiver, from the first request's arrival to the last answer, so the
process start-up (about a second of imports) does not count; whole-process times are shown too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from insightly_sandbox.inbox import InboxClient

TARGET = Path(sys.executable).parent / "target-webhook"
INBOX = Path(sys.executable).parent / "webhook-inbox"

FAST_RECEIVER = r"""
import json, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
seen = {"count": 0, "first": None, "last": None}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        if seen["first"] is None:
            seen["first"] = time.time()
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        seen["count"] += 1
        seen["last"] = time.time()
    def do_GET(self):
        body = json.dumps(seen).encode()
        seen.update(count=0, first=None, last=None)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
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


def receiver_span(url: str, inbox: bool) -> tuple[int, float]:
    """(requests, seconds from the first arrival to the last answer) at the receiver."""
    if inbox:
        client = InboxClient(url)
        requests = client.requests()
        client.clear()
        span = max(r["answered"] for r in requests) - min(r["time"] for r in requests)
        return len(requests), span
    seen = json.loads(urllib.request.urlopen(url).read())  # noqa: S310 - loopback
    return seen["count"], seen["last"] - seen["first"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument(
        "--inbox",
        action="store_true",
        help="use the sandbox's webhook inbox (verifies and stores) for 1 and 2 too",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big, small, slow = (work / f"{n}.singer" for n in ("b", "s", "w"))
        contacts_file(big, args.events, 5000)
        contacts_file(small, args.requests, 5000)
        contacts_file(slow, args.slow, 1000)
        if args.inbox:
            receiver, url = start([str(INBOX), "--port", "0", "--signature-key", "bench-key"])
        else:
            receiver, url = start([sys.executable, "-c", FAST_RECEIVER])
        try:
            base = {"callback_url": url, "signature_key": "bench-key"}
            wall = run_target({**base, "events_per_request": 100}, big, work)
            count, span = receiver_span(url, args.inbox)
            print(
                f"events_per_request=100: {args.events / span:,.0f} events/s "
                f"({count} requests in {span:.2f} s; whole process {wall:.2f} s)",
            )
            wall = run_target({**base, "events_per_request": 1}, small, work)
            count, span = receiver_span(url, args.inbox)
            print(
                f"events_per_request=1: {count / span:,.0f} requests/s "
                f"({count} requests in {span:.2f} s; whole process {wall:.2f} s)",
            )
        finally:
            receiver.terminate()
            receiver.wait()
        inbox, url = start([str(INBOX), "--port", "0"])
        try:
            rates = {}
            for concurrency in (1, 10):
                InboxClient(url).delay(100)  # (clearing the inbox clears the delay)
                config = {
                    "callback_url": url,
                    "events_per_request": 1,
                    "max_concurrent_requests": concurrency,
                }
                run_target(config, slow, work)
                count, span = receiver_span(url, inbox=True)
                rates[concurrency] = count / span
                print(
                    f"100 ms receiver, {concurrency} concurrent: "
                    f"{rates[concurrency]:.1f} requests/s",
                )
            print(f"speed-up at 10 concurrent: {rates[10] / rates[1]:.1f}x")
        finally:
            inbox.terminate()
            inbox.wait()


if __name__ == "__main__":
    main()
