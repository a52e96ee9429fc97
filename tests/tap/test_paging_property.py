"""Issue 3, point 6c as a property: whatever users create, update or delete between the
pages of a sync, no record is lost (generated scenarios, each on a fresh sandbox)."""

from __future__ import annotations

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from insightly_sandbox import SandboxClient, running_sandbox
from tests.tap.helpers import API_KEY, base_config, discover, run_tap, select

_change = st.tuples(
    st.sampled_from(["delete", "update", "create"]),
    st.integers(min_value=0, max_value=100),  # position in the query's order
    st.integers(min_value=1, max_value=8),  # after this many data requests
)


# No shrinking: each example is two real syncs; a failure reports the example as drawn.
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    page_size=st.integers(min_value=4, max_value=30),
    scrambled=st.booleans(),
    changes=st.lists(_change, min_size=1, max_size=12),
)
def test_changes_between_pages_lose_nothing(page_size, scrambled, changes):
    with running_sandbox(api_key=API_KEY, seed=3, scrambled=scrambled) as url, SandboxClient(url, api_key=API_KEY) as sandbox:
        order = requests.get(f"{url}/Contacts/Search", params={"top": 500}, auth=(API_KEY, ""), timeout=30).json()
        before = {c["CONTACT_ID"] for c in order}
        for op, position, after in changes:
            contact_id = order[min(position, len(order) - 1)]["CONTACT_ID"]
            change = {"op": op, "resource": "Contacts"}
            if op == "create":
                change["fields"] = {"FIRST_NAME": "New", "LAST_NAME": f"Contact {position}"}
            else:
                change["id"] = contact_id
                if op == "update":
                    change["fields"] = {"BACKGROUND": f"edit {position}"}
            sandbox.schedule_change("/Contacts/Search", after_requests=after, changes=[change])
        config = base_config(url, page_size=page_size)
        catalog = select(discover(base_config(url)), ["contacts"])
        first = run_tap(config, catalog=catalog)
        # Changes due after the first sync's last request never happen.
        control = url.removesuffix("/v3.1") + "/_sandbox/schedule"
        applied = [c for c in requests.get(control, timeout=30).json() if c["applied"]]
        requests.delete(control, timeout=30)
        touched = {ch["id"] for c in applied for ch in c["changes"] if ch["op"] != "create"}
        second = run_tap(config, catalog=catalog, state=first.state)
        third = run_tap(config, catalog=catalog, state=second.state)
        live = {c["CONTACT_ID"] for c in sandbox.all_records("Contacts")}

    emitted_first = set(first.ids("contacts", "CONTACT_ID"))
    emitted = emitted_first | set(second.ids("contacts", "CONTACT_ID"))
    unchanged = before - touched
    # Every record that existed unchanged throughout the sync is emitted by it; every
    # changed (or new) record that still exists, by it or by the next.
    assert unchanged <= emitted_first, f"lost: {sorted(unchanged - emitted_first)}"
    assert live - unchanged <= emitted, f"changes lost: {sorted(live - unchanged - emitted)}"
    # An unchanged record is emitted once.
    ids = first.ids("contacts", "CONTACT_ID")
    assert [i for i in ids if i in unchanged and ids.count(i) > 1] == []
    assert third.records() == [], "a run with nothing changed emitted records"
