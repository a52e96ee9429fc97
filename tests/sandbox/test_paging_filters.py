"""Query semantics: top/skip/brief/count_total, field equality, updated_after_utc, order."""

from __future__ import annotations

import pytest

from .conftest import Sandbox


def _all_ids(sandbox: Sandbox, path: str, id_field: str, top: int, **params: object) -> list[int]:
    ids, skip = [], 0
    while True:
        page = sandbox.get(path, top=top, skip=skip, **params).json()
        ids += [r[id_field] for r in page]
        if len(page) < top:
            return ids
        skip += top


def test_default_page_is_100_in_ascending_id_order(sandbox: Sandbox) -> None:
    page = sandbox.get("/Contacts").json()
    ids = [r["CONTACT_ID"] for r in page]
    assert len(ids) == 100 and ids == sorted(ids)


def test_top_skip_walk_every_record_exactly_once(sandbox: Sandbox) -> None:
    expected = sorted(r["CONTACT_ID"] for r in sandbox.control.all_records("Contacts"))
    assert _all_ids(sandbox, "/Contacts/Search", "CONTACT_ID", 7) == expected
    assert _all_ids(sandbox, "/Contacts", "CONTACT_ID", 500) == expected


@pytest.mark.parametrize("sandbox_options", [{"scale": 6}])
def test_top_above_500_is_served_as_500(sandbox: Sandbox) -> None:
    assert len(sandbox.get("/Contacts", top=1000).json()) == 500
    assert len(sandbox.get("/Contacts", top=500).json()) == 500


@pytest.mark.parametrize("params, name", [
    ({"top": "ten"}, "top"), ({"top": 0}, "top"), ({"skip": -1}, "skip"), ({"skip": "x"}, "skip"),
    ({"brief": "yes"}, "brief"), ({"count_total": "1"}, "count_total"),
    ({"updated_after_utc": "yesterday"}, "updated_after_utc"),
    ({"field_name": "FIRST_NAME"}, "field_value"), ({"field_value": "Ann"}, "field_name"),
    ({"field_name": "NOPE", "field_value": "x"}, "NOPE"),
])
def test_malformed_parameters_are_400_with_a_plain_reason(sandbox: Sandbox, params: dict,
                                                         name: str) -> None:
    response = sandbox.get("/Contacts/Search", **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert name in response.text


def test_count_total_header(sandbox: Sandbox) -> None:
    total = sandbox.control.count("Contacts")
    response = sandbox.get("/Contacts", top=1, count_total="true")
    assert response.headers["X-Total-Count"] == str(total)
    assert "X-Total-Count" not in sandbox.get("/Contacts", top=1).headers
    filtered = sandbox.get("/Contacts/Search", top=1, count_total="true",
                           updated_after_utc="2025-04-22T20:03:24Z")
    assert 0 < int(filtered.headers["X-Total-Count"]) < total


def test_brief_drops_sub_collections_only(sandbox: Sandbox) -> None:
    full = sandbox.get("/Contacts/366638973").json()
    brief = sandbox.get("/Contacts/Search", field_name="CONTACT_ID", field_value="366638973",
                        brief="true").json()[0]
    assert set(full) - set(brief) == {"CUSTOMFIELDS", "TAGS", "DATES", "LINKS"}
    assert {k: full[k] for k in brief} == brief
    org = sandbox.get("/Organisations", brief="true", top=1).json()[0]
    assert "EMAILDOMAINS" not in org and "ORGANISATION_NAME" in org


def test_field_equality_on_standard_custom_and_boolean_fields(sandbox: Sandbox) -> None:
    by_email = sandbox.get("/Contacts/Search", field_name="EMAIL_ADDRESS",
                           field_value="jordan@example.com").json()
    assert [r["CONTACT_ID"] for r in by_email] == [366638973]
    hobby = sandbox.get("/Contacts/Search", field_name="Hobby__c", field_value="skiing").json()
    assert 366638973 in [r["CONTACT_ID"] for r in hobby]
    opted = sandbox.get("/Contacts/Search", field_name="EMAIL_OPTED_OUT", field_value="true").json()
    assert opted and all(r["EMAIL_OPTED_OUT"] is True for r in opted)
    assert sandbox.get("/Contacts/Search", field_name="Nope__c", field_value="1").status_code == 400


def test_updated_after_is_strictly_after_at_one_second_precision(sandbox: Sandbox) -> None:
    # The captured contact was updated at 2025-04-22 20:03:25.
    def ids(after: str) -> set[int]:
        return {r["CONTACT_ID"] for r in sandbox.get("/Contacts/Search", top=500,
                                                      updated_after_utc=after).json()}
    assert 366638973 in ids("2025-04-22T20:03:24Z")
    assert 366638973 not in ids("2025-04-22T20:03:25Z")
    assert 366638973 not in ids("2025-04-22T20:03:25.900Z")
    assert 366638973 in ids("2025-04-22T22:03:24+02:00")
    records = sandbox.control.all_records("Contacts")
    bound = "2024-06-01 00:00:00"
    expected = {r["CONTACT_ID"] for r in records if r["DATE_UPDATED_UTC"] > bound}
    assert ids("2024-06-01T00:00:00Z") == expected


def test_updated_after_is_not_applied_on_plain_lists(sandbox: Sandbox) -> None:
    everything = sandbox.get("/Contacts", top=500, updated_after_utc="2099-01-01T00:00:00Z").json()
    assert len(everything) == sandbox.control.count("Contacts")


def test_emails_filter_on_their_created_date(sandbox: Sandbox) -> None:
    emails = sandbox.control.all_records("Emails")
    assert "DATE_UPDATED_UTC" not in emails[0]
    middle = sorted(e["DATE_CREATED_UTC"] for e in emails)[len(emails) // 2]
    after = middle.replace(" ", "T") + "Z"
    got = sandbox.get("/Emails/Search", top=500, updated_after_utc=after).json()
    assert {e["EMAIL_ID"] for e in got} == {e["EMAIL_ID"] for e in emails if e["DATE_CREATED_UTC"] > middle}


def test_scrambled_order_is_stable_and_complete(sandbox: Sandbox) -> None:
    ordered = _all_ids(sandbox, "/Contacts/Search", "CONTACT_ID", 30)
    sandbox.control.set_scrambled(True)
    first = _all_ids(sandbox, "/Contacts/Search", "CONTACT_ID", 30)
    again = _all_ids(sandbox, "/Contacts/Search", "CONTACT_ID", 30)
    assert first == again and first != ordered and sorted(first) == ordered


def test_same_seed_same_data_other_seed_other_data() -> None:
    from insightly_sandbox import running_sandbox
    import requests

    def snapshot(seed: int) -> str:
        with running_sandbox(api_key="k", seed=seed) as url:
            return requests.get(url + "/Opportunities", auth=("k", ""), params={"top": 500},
                                timeout=10).text
    assert snapshot(5) == snapshot(5)
    assert snapshot(5) != snapshot(6)
