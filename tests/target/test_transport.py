"""TLS stays on, CA bundles and proxies come from the standard environment variables."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.target.conftest import cli, contact, schema, singer_lines, state
from tests.target.receiver import Receiver

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_receiver(certificate: tuple[Path, Path]) -> t.Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: t.Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"callback_url": url, "max_retries": 1}))
    return str(path)


INPUT = singer_lines(schema("contacts"), contact(1), state({"s": 1}))


def test_untrusted_certificate_fails_at_once(tmp_path: Path, https_receiver) -> None:
    url, bodies = https_receiver
    done = cli("--config", _config(tmp_path, url), stdin=INPUT, env={"REQUESTS_CA_BUNDLE": ""})
    assert done.returncode == 1
    assert "TLS error" in done.stderr
    assert "REQUESTS_CA_BUNDLE" in done.stderr
    assert done.stdout == ""
    assert bodies == []


def test_ca_bundle_from_the_environment_is_trusted(
    tmp_path: Path,
    https_receiver,
    certificate: tuple[Path, Path],
) -> None:
    url, bodies = https_receiver
    done = cli(
        "--config",
        _config(tmp_path, url),
        stdin=INPUT,
        env={"REQUESTS_CA_BUNDLE": str(certificate[0])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"s":1}\n'
    assert len(bodies) == 1


def test_http_proxy_from_the_environment_is_used(tmp_path: Path) -> None:
    # The "proxy" is a receiver: a request sent through a proxy names the absolute URL.
    with Receiver() as proxy:
        proxy_url = proxy.url.rsplit("/hooks/in", 1)[0]
        callback = "http://127.0.0.1:9/via-proxy"  # nothing listens there
        done = cli(
            "--config",
            _config(tmp_path, callback),
            stdin=INPUT,
            env={"HTTP_PROXY": proxy_url, "NO_PROXY": "", "no_proxy": ""},
        )
        assert done.returncode == 0, done.stderr
        [request] = proxy.requests
        assert request.path == callback
