"""Authentication, headers, endpoint spellings and the command line, over real HTTP."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
from email.utils import parsedate_to_datetime

import pytest
import requests

from .conftest import API_KEY, Sandbox


def test_basic_auth_with_key_as_user_and_empty_password(sandbox: Sandbox) -> None:
    assert sandbox.get("/Contacts").status_code == 200
    token = base64.b64encode(f"{API_KEY}:".encode()).decode()
    raw = requests.get(sandbox.url + "/Instance", headers={"Authorization": f"Basic {token}"}, timeout=10)
    assert raw.status_code == 200
    assert raw.json()["PLAN_NAME"]


@pytest.mark.parametrize("auth", [None, ("wrong-key", ""), ("", "")])
def test_missing_or_wrong_key_is_401_and_never_echoed(sandbox: Sandbox, auth: tuple | None) -> None:
    response = requests.get(sandbox.url + "/Contacts", auth=auth, timeout=10)
    assert response.status_code == 401
    assert API_KEY not in response.text and "wrong-key" not in response.text
    assert sandbox.control.requests()[-1]["status"] == 401


def test_every_response_carries_limits_and_a_date_from_the_sandbox_clock(sandbox: Sandbox) -> None:
    sandbox.control.clock_freeze("2026-01-01T12:00:00Z")
    for path in ("/Contacts", "/Nope", "/Products"):
        response = sandbox.get(path)
        assert response.headers["X-RateLimit-Limit"] == "100000"
        assert int(response.headers["X-RateLimit-Remaining"]) < 100000
        assert parsedate_to_datetime(response.headers["Date"]).isoformat() == "2026-01-01T12:00:00+00:00"


def test_singular_endpoints_and_their_plural_spelling(sandbox: Sandbox) -> None:
    for singular, plural in [("Product", "Products"), ("Pricebook", "Pricebooks"),
                             ("PricebookEntry", "PricebookEntries"), ("Quotation", "Quotations"),
                             ("QuotationLineItem", "QuotationLineItems"),
                             ("OpportunityLineItem", "OpportunityLineItems"), ("Ticket", "Tickets"),
                             ("Prospect", "Prospects"), ("KnowledgeArticle", "KnowledgeArticles"),
                             ("KnowledgeArticleCategory", "KnowledgeArticleCategories"),
                             ("KnowledgeArticleFolder", "KnowledgeArticleFolders")]:
        assert sandbox.get(f"/{singular}").status_code == 200, singular
        assert sandbox.get(f"/{singular}/Search").status_code == 200, singular
        assert sandbox.get(f"/{plural}").status_code == 405, plural


def test_search_exists_only_where_the_swagger_document_has_it(sandbox: Sandbox) -> None:
    assert sandbox.get("/Contacts/Search").status_code == 200
    assert sandbox.get("/Fruit__c/Search").status_code == 200
    for path in ("/Teams/Search", "/Pipelines/Search", "/Tags/Search", "/Countries/Search"):
        assert sandbox.get(path).status_code == 404, path


def test_unknown_paths_and_methods(sandbox: Sandbox) -> None:
    assert sandbox.get("/Nope").status_code == 404
    assert sandbox.http.delete(sandbox.url + "/Users/2240727", timeout=10).status_code == 405
    assert sandbox.http.post(sandbox.url + "/Milestones", json={}, timeout=10).status_code == 405
    assert requests.get(sandbox.url.replace("/v3.1", "/v2.3/Contacts"), timeout=10).status_code == 404


def test_single_records_and_their_ids(sandbox: Sandbox) -> None:
    first = sandbox.get("/Contacts", top=1).json()[0]
    one = sandbox.get(f"/Contacts/{first['CONTACT_ID']}")
    assert one.json() == first
    assert sandbox.get("/Contacts/1").status_code == 404
    assert sandbox.get("/Contacts/abc").status_code == 400
    member = sandbox.get("/TeamMembers", top=1).json()[0]
    assert sandbox.get(f"/TeamMembers/{member['PERMISSION_ID']}").json() == member


def test_tags_need_a_record_type(sandbox: Sandbox) -> None:
    response = sandbox.get("/Tags")
    assert response.status_code == 400 and "record_type" in response.text
    assert sandbox.get("/Tags", record_type="planets").status_code == 400
    for record_type in ("contacts", "leads", "opportunities", "organisations", "projects", "emails"):
        tags = sandbox.get("/Tags", record_type=record_type).json()
        assert tags and all(set(t) == {"TAG_NAME"} for t in tags), record_type
    leads = {t["TAG_NAME"] for t in sandbox.get("/Tags", record_type="leads").json()}
    assert {"Paris", "Washington"} <= leads  # from the captured leads


def test_custom_fields_and_objects_endpoints(sandbox: Sandbox) -> None:
    fields = sandbox.get("/CustomFields/Contacts").json()
    assert [f["FIELD_NAME"] for f in fields][:2] == ["Hobby__c", "Interests__c"]
    assert sandbox.get("/CustomFields/Nothing__c").status_code == 404
    objects = sandbox.get("/CustomObjects").json()
    assert objects[0]["OBJECT_NAME"] == "Fruit__c"
    assert sandbox.get("/CustomObjects/Fruit__c").json() == objects[0]
    assert sandbox.get("/CustomFields/Fruit__c").json()
    apple = sandbox.get("/Fruit__c/54840676").json()
    assert apple["RECORD_NAME"] == "Apple"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_the_base_url_first_and_exits_0_on_a_stop_signal(stop_signal: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "insightly_sandbox.cli", "--port", "0", "--api-key", "cli-key",
         "--seed", "3", "--scale", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v3.1")
        response = requests.get(url + "/Contacts", auth=("cli-key", ""), params={"count_total": "true"},
                                timeout=10)
        assert response.status_code == 200
        assert response.headers["X-Total-Count"] == "51"  # 100 x 0.5 + the captured contact
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize("args, fragment", [
    (["--port", "0"], "--api-key"),
    (["--api-key", "k", "--scale", "zero"], "--scale"),
    (["--api-key", "k", "--rate-limit", "0"], "--rate-limit"),
    (["--api-key", " "], "--api-key"),
])
def test_cli_rejects_bad_options_with_one_line(args: list[str], fragment: str) -> None:
    result = subprocess.run([sys.executable, "-m", "insightly_sandbox.cli", *args],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


def test_cli_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "insightly_sandbox.cli", "--port", str(port),
                                 "--api-key", "secret-key"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and "secret-key" not in result.stderr
