"""Rate limit, daily quota, injected faults and plan gates."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
import requests

from .conftest import Sandbox


@pytest.mark.parametrize("sandbox_options", [{"daily_limit": 3}])
def test_daily_quota_is_counted_and_then_429_with_remaining_0(sandbox: Sandbox) -> None:
    remaining = [sandbox.get("/Contacts", top=1).headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    spent = sandbox.get("/Contacts", top=1)
    assert spent.status_code == 429
    assert spent.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" not in spent.headers
    sandbox.control.reset_quota()
    assert sandbox.get("/Contacts", top=1).status_code == 200


@pytest.mark.parametrize("sandbox_options", [{"daily_limit": 1}])
def test_daily_quota_resets_at_midnight_utc_of_the_sandbox_clock(sandbox: Sandbox) -> None:
    sandbox.control.clock_freeze("2026-05-05T23:59:59Z")
    assert sandbox.get("/Instance").status_code == 200
    assert sandbox.get("/Instance").status_code == 429
    sandbox.control.clock_advance(1)
    response = sandbox.get("/Instance")
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("sandbox_options", [{"rate_limit": 2}])
def test_more_than_the_rate_limit_in_one_second_is_429_with_quota_left(sandbox: Sandbox) -> None:
    # Ten times the limit, back to back: some must be refused (unless each took > 0.5 s).
    responses = [sandbox.get("/Instance") for _ in range(20)]
    statuses = [r.status_code for r in responses]
    assert statuses[:2] == [200, 200] and 429 in statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["X-RateLimit-Remaining"]) > 0 and "Retry-After" not in refused.headers
    assert sandbox.control.state()["used"] == statuses.count(200)  # refusals use no quota
    sandbox.control.set_rate_limit(None)
    response = sandbox.get("/Instance")
    assert response.status_code == 200 and int(response.headers["X-RateLimit-Remaining"]) > 0


def test_status_fault_count_and_retry_after(sandbox: Sandbox) -> None:
    sandbox.control.fault("/Contacts/Search", status=429, count=2, retry_after=3)
    first, second, third = (sandbox.get("/Contacts/Search") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3" and "Retry-After" not in third.headers
    assert sandbox.get("/Leads/Search").status_code == 200
    sandbox.control.fault("Leads", status=500)
    assert sandbox.get("/Leads/Search").status_code == 500
    statuses = [r["status"] for r in sandbox.control.requests("/Contacts/Search")]
    assert statuses == [429, 429, 200]


def test_fault_on_other_methods_and_forever(sandbox: Sandbox) -> None:
    sandbox.control.fault("/Contacts", status=503, count=-1, method="*")
    assert [sandbox.get("/Contacts").status_code for _ in range(3)] == [503] * 3
    assert sandbox.http.post(sandbox.url + "/Contacts", json={"FIRST_NAME": "x"}, timeout=10).status_code == 503
    sandbox.control.clear_faults()
    assert sandbox.get("/Contacts").status_code == 200


def test_dropped_connection(sandbox: Sandbox) -> None:
    sandbox.control.fault("/Contacts", kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(sandbox.url + "/Contacts", auth=sandbox.http.auth, timeout=10)
    assert sandbox.get("/Contacts").status_code == 200
    assert [r["status"] for r in sandbox.control.requests("/Contacts")] == [0, 200]


def _raw_get(url: str, auth: tuple) -> tuple[int, dict, bytes, bool]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    import base64
    token = base64.b64encode(f"{auth[0]}:".encode()).decode()
    connection.request("GET", parts.path, headers={"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    complete = True
    try:
        body = response.read()
    except http.client.IncompleteRead as error:
        body, complete = error.partial, False
    connection.close()
    return response.status, dict(response.getheaders()), body, complete


def test_truncated_body_with_matching_content_length(sandbox: Sandbox) -> None:
    sandbox.control.fault("/Contacts", kind="truncate_short")
    status, headers, body, complete = _raw_get(sandbox.url + "/Contacts", sandbox.http.auth)
    assert status == 200 and complete and int(headers["Content-Length"]) == len(body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert sandbox.get("/Contacts").json()


def test_truncated_body_short_of_its_content_length(sandbox: Sandbox) -> None:
    sandbox.control.fault("/Contacts", kind="truncate_length")
    status, headers, body, complete = _raw_get(sandbox.url + "/Contacts", sandbox.http.auth)
    assert status == 200 and not complete and len(body) < int(headers["Content-Length"])
    sandbox.control.fault("/Contacts", kind="truncate_length")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(sandbox.url + "/Contacts", auth=sandbox.http.auth, timeout=10)
    assert sandbox.get("/Contacts").json()


def test_delay_fault_still_answers(sandbox: Sandbox) -> None:
    sandbox.control.fault("/Contacts", kind="delay", delay_ms=50)
    assert sandbox.get("/Contacts").status_code == 200
    assert sandbox.control.state()["faults"] == []


@pytest.mark.parametrize("status", [403, 404])
def test_plan_gates(sandbox: Sandbox, status: int) -> None:
    sandbox.control.plan_gate("/Ticket", status=status)
    assert sandbox.get("/Ticket").status_code == status
    assert sandbox.get("/Ticket/Search").status_code == status
    assert sandbox.get("/Contacts").status_code == 200
    sandbox.control.clear_plan_gates()
    assert sandbox.get("/Ticket").status_code == 200


def test_control_requests_are_not_counted_or_logged(sandbox: Sandbox) -> None:
    sandbox.get("/Contacts")
    for _ in range(5):
        sandbox.control.state()
        sandbox.control.count("Contacts")
    state = sandbox.control.state()
    assert state["used"] == 1 and len(sandbox.control.requests()) == 1
    assert "api_key" not in json.dumps(state)


def test_request_log_fields_and_prefix_filter(sandbox: Sandbox) -> None:
    sandbox.control.clock_freeze("2026-02-03T04:05:06Z")
    sandbox.get("/Contacts/Search", top=5, updated_after_utc="2025-01-01T00:00:00Z")
    sandbox.get("/Leads")
    log = sandbox.control.requests("/Contacts")
    assert log == [{"method": "GET", "path": "/v3.1/Contacts/Search",
                    "query": {"top": "5", "updated_after_utc": "2025-01-01T00:00:00Z"},
                    "status": 200, "time": "2026-02-03 04:05:06", "wall": log[0]["wall"]}]
    sandbox.control.clear_requests()
    assert sandbox.control.requests() == []
