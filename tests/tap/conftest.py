"""Fixtures for the tap tests: a real Insightly sandbox on 127.0.0.1 per test."""

from __future__ import annotations

import typing as t

import pytest

from insightly_sandbox import SandboxClient, running_sandbox
from tests.tap.helpers import API_KEY


@pytest.fixture
def sandbox_url() -> t.Iterator[str]:
    with running_sandbox(api_key=API_KEY, seed=3, scale=1) as url:
        yield url


@pytest.fixture
def sandbox(sandbox_url: str) -> t.Iterator[SandboxClient]:
    with SandboxClient(sandbox_url, api_key=API_KEY) as client:
        yield client


@pytest.fixture(scope="module")
def shared_sandbox_url() -> t.Iterator[str]:
    """One sandbox for tests that only read."""
    with running_sandbox(api_key=API_KEY, seed=3, scale=1) as url:
        yield url


