"""The retry schedule and the pieces of delivery that need no network."""

from __future__ import annotations

import email.utils
import random

import pytest

from target_webhook.delivery import RetryPolicy, host_of, is_retriable, parse_retry_after


def test_backoff_doubles_up_to_the_cap_with_jitter_down_to_half() -> None:
    policy = RetryPolicy(max_retries=8, base_delay_ms=1000, max_delay_ms=8000)
    rng = random.Random(1)
    for retry, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        waits = [policy.delay(retry, None, rng) for _ in range(200)]
        assert all(full / 2 <= wait <= full for wait in waits)
        assert max(waits) - min(waits) > full / 4  # jittered, not a fixed wait


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_delay_ms=10, max_delay_ms=100)
    assert policy.delay(1, 30.0) == 30.0
    assert policy.delay(1, 0.0) <= 0.01
    assert policy.delay(1, 10_000_000.0) == 3600.0  # an absurd Retry-After is capped


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None
    now = 1_700_000_000
    date = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(42.0)
    assert parse_retry_after(email.utils.formatdate(now - 42, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "retriable"),
    [(408, True), (429, True), (500, True), (503, True), (599, True), (400, False),
     (401, False), (404, False), (410, False), (301, False), (200, False)],
)
def test_which_statuses_are_retried(status: int, retriable: bool) -> None:
    assert is_retriable(status) is retriable


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://user:pw@hooks.example.com/in?token=x", "hooks.example.com"),
        ("http://127.0.0.1:8080/a", "127.0.0.1:8080"),
        ("https://[::1]:9/x", "[::1]:9"),
    ],
)
def test_host_of_never_shows_credentials_or_query(url: str, host: str) -> None:
    assert host_of(url) == host
