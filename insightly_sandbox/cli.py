"""``insightly-sandbox``: serve the sandbox until SIGINT/SIGTERM; the first stdout line is the
base URL (``http://HOST:PORT/v3.1``), exactly what the tap's ``api_url`` takes."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import NoReturn

from .server import SandboxServer


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"insightly-sandbox: {message} (see --help)\n")


def _positive(kind: type, minimum: float) -> object:
    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="insightly-sandbox",
                     description="A local Insightly API v3.1 sandbox over real HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_positive(int, 0), default=0, help="port; 0 picks a free one")
    parser.add_argument("--api-key", required=True, help="the API key clients must send")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument("--scale", type=_positive(float, 0.01), default=1,
                        help="data size factor: contacts = 100 x scale; other resources grow "
                             "with it up to scale 20 (default 1)")
    parser.add_argument("--rate-limit", type=_positive(int, 1), default=None,
                        help="requests per sliding second before 429 (default: none)")
    parser.add_argument("--daily-limit", type=_positive(int, 0), default=100000,
                        help="daily request quota (default 100000)")
    parser.add_argument("--latency-ms", type=_positive(int, 0), default=0,
                        help="delay added to every API response, in ms")
    parser.add_argument("--scrambled", action="store_true",
                        help="serve records in a scrambled but stable order")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.api_key.strip():
        print("insightly-sandbox: --api-key must not be empty", file=sys.stderr)
        return 2
    try:
        server = SandboxServer(args.host, args.port, api_key=args.api_key, seed=args.seed,
                               scale=args.scale, rate_limit=args.rate_limit,
                               daily_limit=args.daily_limit, latency_ms=args.latency_ms,
                               scrambled=args.scrambled)
    except OSError as error:
        print(f"insightly-sandbox: cannot listen on {args.host}:{args.port}: {error.strerror}; "
              "pick another --port (0 = any free port)", file=sys.stderr)
        return 1
    print(server.base_url, flush=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
