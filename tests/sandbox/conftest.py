"""Fixtures for the sandbox's own tests: a real sandbox on a free port per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from insightly_sandbox import SandboxClient, running_sandbox

API_KEY = "sandbox-test-key"


@dataclass
class Sandbox:
    url: str
    control: SandboxClient
    http: requests.Session

    def get(self, path: str, **params: object) -> requests.Response:
        return self.http.get(self.url + path, params=params or None, timeout=30)


@pytest.fixture
def sandbox_options() -> dict:
    return {}


@pytest.fixture
def sandbox(sandbox_options: dict) -> Iterator[Sandbox]:
    with running_sandbox(api_key=API_KEY, **sandbox_options) as url:
        with requests.Session() as http, SandboxClient(url, api_key=API_KEY) as control:
            http.auth = (API_KEY, "")
            yield Sandbox(url, control, http)
