"""What a loss-free pipeline must have delivered, and a check of what it did deliver.

A *record version* is (stream, id, updated second, marker): every simulated user write puts a
fresh value into the resource's marker field, so two changes within one second are still two
versions, and a delivered event's raw record names exactly the version it carries.

The promise checked: every version that existed when a successful run started and still
existed when it ended was delivered at least once (by then or by a later run); no event
carries a version that never existed; duplicates are counted, and a duplicate always repeats
the eventId of its first delivery.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass, field

# stream name → (sandbox resource, id field, marker field written by simulated users)
STREAMS = {
    "contacts": ("Contacts", "CONTACT_ID", "BACKGROUND"),
    "organisations": ("Organisations", "ORGANISATION_ID", "BACKGROUND"),
    "leads": ("Leads", "LEAD_ID", "LEAD_DESCRIPTION"),
    "opportunities": ("Opportunities", "OPPORTUNITY_ID", "OPPORTUNITY_DETAILS"),
}
RESOURCE_TO_STREAM = {resource: stream for stream, (resource, _, _) in STREAMS.items()}

Version = tuple[str, str, str, object]


def second(value: str | None) -> str:
    """Insightly's `yyyy-MM-dd HH:mm:ss` and the tap's RFC 3339 as one comparable form."""
    if value is None:
        return ""
    text = value.replace("T", " ").replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def version_of(stream: str, record: dict) -> Version:
    _, id_field, marker = STREAMS[stream]
    return (stream, str(record[id_field]), second(record.get("DATE_UPDATED_UTC")),
            record.get(marker))


def snapshot(sandbox) -> set[Version]:
    return {
        version_of(stream, record)
        for stream, (resource, _, _) in STREAMS.items()
        for record in sandbox.all_records(resource)
    }


def delivered_versions(inbox_events: list[dict]) -> list[tuple[Version, str]]:
    """(version, eventId) for every acknowledged event (the inbox lists only those)."""
    return [(version_of(e["objectType"], e["record"]), e["eventId"]) for e in inbox_events
            if e["objectType"] in STREAMS]


@dataclass
class Ledger:
    ever: set[Version] = field(default_factory=set)
    must_deliver: set[Version] = field(default_factory=set)

    def observe(self, versions: set[Version]) -> None:
        self.ever |= versions

    def record_run(self, start: set[Version], end: set[Version], returncode: int) -> None:
        self.observe(start)
        self.observe(end)
        if returncode == 0:
            self.must_deliver |= start & end

    def check(self, delivered: list[tuple[Version, str]]) -> dict:
        seen = collections.Counter(v for v, _ in delivered)
        ids_per_version: dict[Version, set[str]] = collections.defaultdict(set)
        for version, event_id in delivered:
            ids_per_version[version].add(event_id)
        return {
            "lost": sorted(self.must_deliver - set(seen), key=str),
            "never_existed": sorted(set(seen) - self.ever, key=str),
            "duplicates": sum(n - 1 for n in seen.values()),
            "duplicate_with_new_event_id": sorted(
                (v for v, ids in ids_per_version.items() if len(ids) > 1), key=str),
            "delivered": len(delivered),
        }
