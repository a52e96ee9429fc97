"""`make demo`: the whole job on the local sandbox, as a user would see it.

1. Start the Insightly sandbox (seeded data) and the webhook inbox (verifying signatures).
2. First `meltano run tap-insightly target-webhook`: every record becomes an event.
3. Simulated users create and update records through the sandbox's API.
4. Second run: exactly those changes arrive, as CREATED or UPDATED.
5. Third run: nothing changed, nothing arrives, the bookmark stays.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

from insightly_sandbox import InboxClient, SandboxClient, running_inbox, running_sandbox

from demo.pipeline import MeltanoPipeline

API_KEY = "demo-api-key"
SIGNATURE_KEY = "demo-signature-key"


def summarize(title: str, events: list[dict], requests: list[dict]) -> None:
    counts = collections.Counter((e["objectType"], e["eventType"]) for e in events)
    print(f"\n== {title}: {len(events)} events in {len(requests)} requests")
    if counts:
        print(f"   {'object type':<16} {'CREATED':>8} {'UPDATED':>8}")
        for object_type in sorted({t for t, _ in counts}):
            print(
                f"   {object_type:<16} {counts[(object_type, 'CREATED')]:>8}"
                f" {counts[(object_type, 'UPDATED')]:>8}"
            )
    verified = sum(1 for r in requests if r["verified"] and all(r["verified"].values()))
    print(f"   signatures verified on {verified} of {len(requests)} requests"
          " (Elements-Webhook-Signature and Standard Webhooks)")


def simulate_users(sandbox: SandboxClient) -> list[str]:
    done = []
    contact = sandbox.create("Contacts", {"FIRST_NAME": "Dana", "LAST_NAME": "Demo",
                                          "EMAIL_ADDRESS": "dana@example.com"})
    done.append(f"created contact {contact['CONTACT_ID']}")
    lead = sandbox.create("Leads", {
        "FIRST_NAME": "Lee", "LAST_NAME": "Prospect",
        # Insightly requires a lead's source and status
        "LEAD_SOURCE_ID": sandbox.all_records("LeadSources")[0]["LEAD_SOURCE_ID"],
        "LEAD_STATUS_ID": sandbox.all_records("LeadStatuses")[0]["LEAD_STATUS_ID"]})
    done.append(f"created lead {lead['LEAD_ID']}")
    for org in sandbox.all_records("Organisations")[:2]:
        sandbox.update("Organisations", {"ORGANISATION_ID": org["ORGANISATION_ID"],
                                         "BACKGROUND": "Renewal talks started"})
        done.append(f"updated organisation {org['ORGANISATION_ID']}")
    opportunity = sandbox.all_records("Opportunities")[0]
    sandbox.update("Opportunities", {"OPPORTUNITY_ID": opportunity["OPPORTUNITY_ID"],
                                     "PROBABILITY": 80})
    done.append(f"updated opportunity {opportunity['OPPORTUNITY_ID']}")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="sandbox size (contacts = 100 x scale)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="insightly-demo-") as tmp, \
            running_sandbox(api_key=API_KEY, seed=1, scale=args.scale) as api_url, \
            running_inbox(signature_key=SIGNATURE_KEY) as inbox_url:
        print(f"Insightly sandbox: {api_url}\nWebhook inbox:     {inbox_url}")
        sandbox, inbox = SandboxClient(api_url, api_key=API_KEY), InboxClient(inbox_url)
        pipeline = MeltanoPipeline(api_url=api_url, api_key=API_KEY, callback_url=inbox_url,
                                   signature_key=SIGNATURE_KEY,
                                   system_db=Path(tmp) / "meltano.db")
        seen_events = seen_requests = 0
        steps = [("first sync", None), ("after simulated edits", simulate_users),
                 ("no changes", None)]
        for title, before in steps:
            if before:
                print("\nSimulated users:")
                for line in before(sandbox):
                    print(f"   {line}")
            print(f"\n$ meltano run tap-insightly target-webhook   ({title})")
            result = pipeline.run()
            if result.returncode != 0:
                print(result.output[-4000:], file=sys.stderr)
                print(f"demo: meltano run failed with exit code {result.returncode}",
                      file=sys.stderr)
                return 1
            events, requests = inbox.events(), inbox.requests()
            summarize(title, events[seen_events:], requests[seen_requests:])
            seen_events, seen_requests = len(events), len(requests)
        state = pipeline.state()
        bookmarks = state.get("singer_state", {}).get("bookmarks", {})
        print("\nStored bookmarks (meltano state get):")
        for stream, bookmark in sorted(bookmarks.items()):
            print(f"   {stream:<16} {bookmark.get('replication_key_value')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
