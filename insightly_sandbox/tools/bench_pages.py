"""Measure how fast the sandbox serves 500-record pages of contacts (with custom fields) to one
client over HTTP keep-alive.

Usage: ``.venv/bin/python -m insightly_sandbox.tools.bench_pages [--scale 50] [--rounds 5]``

Prints records/s for cold pages (first serialization of each record) and warm pages (the
cached bytes joined per page), for ``/Contacts/Search`` with and without ``updated_after_utc``.
"""

from __future__ import annotations

import argparse
import sys
import time

import requests

from insightly_sandbox import running_sandbox


def walk(session: requests.Session, url: str, **params: object) -> int:
    total, skip = 0, 0
    while True:
        page = session.get(url, params={"top": 500, "skip": skip, **params}, timeout=60)
        page.raise_for_status()
        count = page.content.count(b'"CONTACT_ID"')
        total += count
        if count < 500:
            return total
        skip += 500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with running_sandbox(api_key="bench", scale=args.scale) as base, requests.Session() as session:
        session.auth = ("bench", "")
        url = base + "/Contacts/Search"
        started = time.perf_counter()
        cold = walk(session, url)
        cold_rate = cold / (time.perf_counter() - started)
        for label, params in (("full scan", {}),
                              ("updated_after_utc", {"updated_after_utc": "2021-01-01T00:00:00Z"})):
            records, started = 0, time.perf_counter()
            for _ in range(args.rounds):
                records += walk(session, url, **params)
            rate = records / (time.perf_counter() - started)
            print(f"{label}: {records} records in 500-record pages: {rate:,.0f} records/s")
        print(f"cold (first serialization): {cold_rate:,.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
