"""The webhook inbox against real HTTP requests on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from insightly_sandbox.inbox import InboxClient, running_inbox

KEY = "inbox-test-key"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def oc_body(object_type: str = "contacts", ids: tuple[int, ...] = (1, 2), event_type: str = "UPDATED") -> bytes:
    records = [{"CONTACT_ID": i, "FIRST_NAME": f"N{i}", "DATE_UPDATED_UTC": "2024-03-04 08:22:56"} for i in ids]
    events = [
        {
            "eventId": f"e{i}",
            "eventType": event_type,
            "objectType": object_type,
            "objectId": str(i),
            "date": "2024-03-04T08:22:56Z",
            "elementKey": "insightly",
            "hubKey": "crm",
        }
        for i in ids
    ]
    message = {
        "eventId": "m-" + "-".join(map(str, ids)),
        "elementKey": "insightly",
        "instanceId": None,
        "instanceName": None,
        "instanceTags": [],
        "events": events,
        "raw": {"objectType": object_type, object_type: records},
    }
    return json.dumps({"message": message}).encode()


def sign(body: bytes, keys: list[str], msg_id: str = "msg_1", stamp: int | None = None) -> dict[str, str]:
    """Sign as the target does, computed here with hmac directly."""
    stamp = int(time.time()) if stamp is None else stamp
    elements = base64.b64encode(hmac.new(keys[0].encode(), body, hashlib.sha256).digest()).decode()
    entries = []
    for key in keys:
        secret = base64.b64decode(key[6:]) if key.startswith("whsec_") else key.encode()
        mac = hmac.new(secret, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        entries.append("v1," + base64.b64encode(mac).decode())
    return {
        "Content-Type": "application/json",
        "Elements-Webhook-Signature": "sha256=" + elements,
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(entries),
    }


def test_open_connectors_payload_is_stored_normalised_and_verified() -> None:
    body = oc_body(ids=(7, 8))
    with running_inbox(signature_key=KEY) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        response = requests.post(url + "hooks/crm?x=1", data=body, headers=sign(body, [KEY]), timeout=10)
        assert response.status_code == 200
        ib = InboxClient(url)
        events = ib.events()
        assert [e["objectId"] for e in events] == ["7", "8"]
        assert events[0]["format"] == "open-connectors"
        assert events[0]["eventType"] == "UPDATED" and events[0]["objectType"] == "contacts"
        assert events[0]["record"]["CONTACT_ID"] == 7 and events[1]["record"]["FIRST_NAME"] == "N8"
        assert events[0]["original"]["hubKey"] == "crm"
        assert events[0]["messageId"] == "m-7-8" and events[0]["_request"] == 0
        [req] = ib.requests()
        assert req["path"] == "/hooks/crm" and req["query"] == "x=1"
        assert req["body"] == body.decode()
        assert req["verified"] == {"elements": True, "standard_webhooks": True}
        assert req["headers"]["webhook-id"] == "msg_1"
        assert req["status"] == 200


def test_cloudevents_batch_is_normalised() -> None:
    batch = [
        {
            "specversion": "1.0",
            "id": "ev-1",
            "source": "insightly/inst",
            "type": "insightly.Fruit__c.created",
            "subject": "42",
            "time": "2024-03-04T08:22:56Z",
            "datacontenttype": "application/json",
            "data": {"RECORD_ID": 42},
        }
    ]
    body = json.dumps(batch).encode()
    with running_inbox() as url:
        r = requests.post(url, data=body, headers={"Content-Type": "application/cloudevents-batch+json"}, timeout=10)
        assert r.status_code == 200
        [event] = InboxClient(url).events()
        assert event["format"] == "cloudevents"
        assert (event["objectType"], event["eventType"], event["objectId"]) == ("Fruit__c", "CREATED", "42")
        assert event["eventId"] == "ev-1" and event["record"] == {"RECORD_ID": 42}
        assert event["original"]["specversion"] == "1.0"
        [req] = InboxClient(url).requests()
        assert req["verified"] == {"elements": None, "standard_webhooks": None}


def test_wrong_key_stale_timestamp_and_rotation() -> None:
    body = oc_body()
    with running_inbox(signature_key=["new-key", WHSEC]) as url:
        # rotation: signed with the old key first (Elements) and both (Standard Webhooks)
        requests.post(url, data=body, headers=sign(body, [WHSEC, "new-key"]), timeout=10)
        requests.post(url, data=body, headers=sign(body, ["wrong"]), timeout=10)
        requests.post(url, data=body, headers=sign(body, ["new-key"], stamp=int(time.time()) - 600), timeout=10)
        requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        ib = InboxClient(url)
        verified = [r["verified"] for r in ib.requests()]
        assert verified == [
            {"elements": True, "standard_webhooks": True},
            {"elements": False, "standard_webhooks": False},
            {"elements": True, "standard_webhooks": False},
            {"elements": False, "standard_webhooks": False},
        ]
        assert "away from now" in ib.requests()[2]["verify_reasons"]["standard_webhooks"]
        summary = ib.summary()
        assert summary["signatures"]["elements"] == {"verified": 2, "failed": 2, "unchecked": 0}
        assert summary["signatures"]["standard_webhooks"] == {"verified": 1, "failed": 3, "unchecked": 0}


def test_fail_with_retry_after_then_recovers() -> None:
    body = oc_body(ids=(1,))
    with running_inbox() as url:
        ib = InboxClient(url)
        ib.fail(status=503, count=2, retry_after=7)
        statuses = []
        for _ in range(3):
            r = requests.post(url, data=body, timeout=10)
            statuses.append((r.status_code, r.headers.get("Retry-After")))
        assert statuses == [(503, "7"), (503, "7"), (200, None)]
        assert [r["status"] for r in ib.requests()] == [503, 503, 200]
        # only the acknowledged delivery counts as arrived; all=1 shows the rejected ones too
        assert len(ib.events()) == 1
        assert [e["_status"] for e in ib.events(include_rejected=True)] == [503, 503, 200]
        # GET /events (issue 2's spelling) is the same list
        assert requests.get(url + "events", timeout=10).json() == ib.events()
        assert len(requests.get(url + "events?all=1", timeout=10).json()) == 3
        ib.fail(status=410, count=1)
        r = requests.post(url, data=body, timeout=10)
        assert r.status_code == 410 and "Retry-After" not in r.headers
        summary = ib.summary()
        assert (summary["requests"], summary["accepted"], summary["rejected"]) == (4, 1, 3)
        reqs = ib.requests(bodies=False)
        assert [r["body"] for r in reqs] == [None] * 4
        # the last answer is that of the only accepted request (the third)
        assert summary["first_arrival"] == reqs[0]["time"]
        assert summary["last_answered"] == reqs[2]["answered"]
        # count=-1: every request fails until told otherwise
        ib.fail(status=502, count=-1)
        assert [requests.post(url, data=body, timeout=10).status_code for _ in range(3)] == [502] * 3
        ib.fail(count=0)
        assert requests.post(url, data=body, timeout=10).status_code == 200


def test_summary_counts_per_object_and_event_type() -> None:
    with running_inbox() as url:
        for body in (oc_body("contacts", (1, 2), "CREATED"), oc_body("contacts", (3,)), oc_body("leads", (4,))):
            requests.post(url, data=body, timeout=10)
        ib = InboxClient(url)
        summary = ib.summary()
        assert summary["events"] == 4
        assert summary["by_object_type"] == {"contacts": {"CREATED": 2, "UPDATED": 1}, "leads": {"UPDATED": 1}}
        text = ib.summary_text()
        assert "contacts: CREATED 2, UPDATED 1" in text and "4 events accepted" in text
        ib.clear()
        assert ib.events() == [] and ib.requests() == [] and ib.summary()["events"] == 0


def test_unparsable_body_is_stored_with_a_reason() -> None:
    with running_inbox() as url:
        r = requests.post(url, data=b"not json", timeout=10)
        assert r.status_code == 200
        requests.post(url, json={"hello": 1}, timeout=10)
        reqs = InboxClient(url).requests()
        assert reqs[0]["error"].startswith("not a webhook payload")
        assert "neither an open-connectors message nor a CloudEvents batch" in reqs[1]["error"]
        assert InboxClient(url).summary()["unparsable"] == 2


def test_bad_control_requests_answer_400() -> None:
    with running_inbox() as url:
        assert requests.post(url + "_inbox/fail", json={"status": 99}, timeout=10).status_code == 400
        assert requests.post(url + "_inbox/delay", json={"ms": -1}, timeout=10).status_code == 400
        assert requests.post(url + "_inbox/delay", data=b"[1]", timeout=10).status_code == 400
        assert requests.post(url + "_inbox/nope", json={}, timeout=10).status_code == 404
        assert requests.get(url + "_inbox/nope", timeout=10).status_code == 404
        # control requests are not webhook deliveries
        assert InboxClient(url).requests() == []


def test_slow_inbox_answers_ten_clients_in_parallel() -> None:
    """With a delay on every request, ten clients all get in before any is answered.

    Proven by order, not by duration: the inbox stamps each request when it arrives and when
    its answer has been sent; every arrival precedes the first answer, which a server that
    handles one request at a time cannot do while it sleeps.
    """
    body = oc_body(ids=(1,))
    with running_inbox() as url:
        ib = InboxClient(url)
        ib.delay(1000)
        threads = [threading.Thread(target=requests.post, args=(url,), kwargs={"data": body, "timeout": 30}) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ib.delay(0)
        reqs = ib.requests()
        assert len(reqs) == 10 and all(r["status"] == 200 for r in reqs)
        assert max(r["time"] for r in reqs) < min(r["answered"] for r in reqs)
        assert len(ib.events()) == 10


def test_keep_alive_connection_is_reused() -> None:
    body = oc_body(ids=(1,))
    with running_inbox() as url, requests.Session() as session:
        for _ in range(3):
            assert session.post(url, data=body, timeout=10).status_code == 200
        # the inbox records each request's client address: one address = one connection
        assert len({r["connection"] for r in InboxClient(url).requests()}) == 1


def test_out_file_has_one_line_per_request_without_auth_secrets(tmp_path: Path) -> None:
    out = tmp_path / "inbox.jsonl"
    body = oc_body(ids=(1, 2))
    with running_inbox(signature_key=KEY, out=out) as url:
        headers = sign(body, [KEY]) | {"Authorization": "Bearer sekret-token"}
        requests.post(url, data=body, headers=headers, timeout=10)
        assert InboxClient(url).requests()[0]["headers"]["Authorization"] == "Bearer sekret-token"
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert [e["objectId"] for e in line["events"]] == ["1", "2"]
    assert line["verified"]["elements"] is True
    assert "sekret-token" not in lines[0] and KEY not in lines[0]


def _start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "insightly_sandbox.inbox", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_url_serves_and_prints_summary_on_signal(stop_signal: int) -> None:
    proc = _start_cli("--signature-key", "old", "--signature-key", KEY)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        body = oc_body(ids=(1, 2, 3), event_type="CREATED")
        assert requests.post(url, data=body, headers=sign(body, [KEY]), timeout=10).status_code == 200
        assert InboxClient(url).summary()["signatures"]["elements"]["verified"] == 1
    finally:
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "3 events accepted" in out and "contacts: CREATED 3" in out
    assert "Elements-Webhook-Signature: 1 verified, 0 failed" in out
    assert "Standard Webhooks: 1 verified, 0 failed" in out
    assert KEY not in out + err and "Traceback" not in err


def test_cli_reports_a_request_whose_signature_fails() -> None:
    proc = _start_cli("--signature-key", KEY)
    try:
        url = proc.stdout.readline().strip()
        body = oc_body(ids=(1,), event_type="UPDATED")
        wrong = "not-the-inbox-key"
        assert requests.post(url, data=body, headers=sign(body, [wrong]), timeout=10).status_code == 200
        assert requests.post(url, data=body, headers=sign(body, [KEY]), timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    failures = [line for line in err.splitlines() if "signature check failed" in line]
    assert len(failures) == 1 and failures[0].startswith("webhook-inbox: request 0:")
    assert KEY not in out + err and wrong not in out + err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--signature-key", "whsec_@@notbase64@@"], "--signature-key"),
        (["--port", "70000"], "--port must be 0-65535"),
        (["--out", os.path.join("/nonexistent-dir", "x.jsonl")], "cannot open --out"),
    ],
)
def test_cli_user_errors_are_one_clear_line(args: list[str], expected: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "insightly_sandbox.inbox", *args], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode != 0
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "notbase64" not in proc.stderr


def test_cli_port_in_use_is_a_clear_error() -> None:
    with running_inbox() as url:
        port = url.rsplit(":", 1)[1].strip("/")
        proc = subprocess.run(
            [sys.executable, "-m", "insightly_sandbox.inbox", "--port", port], capture_output=True, text=True, timeout=30
        )
    assert proc.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_a_sender_that_hangs_up_early_is_no_traceback(capfd):
    # A killed target leaves requests unanswered: the inbox notes it and carries on quietly.
    import socket
    import time as _time
    import urllib.parse

    from insightly_sandbox.inbox import InboxClient, running_inbox

    with running_inbox() as url:
        client = InboxClient(url)
        client.delay(300)
        host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        body = b'{"message": {"events": []}}'
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        _time.sleep(0.8)
        client.delay(0)
        assert len(client.requests()) == 1
    assert "Traceback" not in capfd.readouterr().err
