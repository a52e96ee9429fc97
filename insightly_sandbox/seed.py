"""Seeded, realistic data: the same for the same seed, sizes scaled by ``scale``.

Dates lie between 2021 and late 2025 and do not depend on the sandbox clock, so a seed always
gives the same records. Some records were never updated (created = updated) and some updates
cluster within one second, as bulk edits and imports do in a real account. The captured
records in ``data/samples/`` are part of the data, verbatim, with the users, lead sources and
lead statuses they refer to.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

from .clock import record_date
from .store import FIELD_FOR, Store

SAMPLE_USER = 2240727
EPOCH = datetime(2021, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = int((datetime(2025, 11, 30, tzinfo=timezone.utc) - EPOCH).total_seconds())

# (resource, count at scale 1, grows with scale, first id)
SIZES: list[tuple[str, int, bool, int]] = [
    ("Users", 6, False, 2240720),
    ("Teams", 3, False, 410000),
    ("TeamMembers", 6, False, 820000),
    ("Countries", 0, False, 0),
    ("Currencies", 0, False, 0),
    ("LeadSources", 4, False, 3794747),
    ("LeadStatuses", 4, False, 3724793),
    ("OpportunityCategories", 4, False, 5100000),
    ("ProjectCategories", 3, False, 5200000),
    ("TaskCategories", 4, False, 5300000),
    ("FileCategories", 3, False, 5400000),
    ("OpportunityStateReasons", 4, False, 900000),
    ("Relationships", 4, False, 1100000),
    ("Pipelines", 2, False, 600000),
    ("PipelineStages", 6, False, 700000),
    ("ActivitySets", 2, False, 1200000),
    ("Organisations", 40, True, 150000000),
    ("Contacts", 100, True, 366600000),
    ("Leads", 50, True, 78560000),
    ("Opportunities", 30, True, 30000000),
    ("Projects", 10, True, 12000000),
    ("Milestones", 10, True, 6000000),
    ("Tasks", 40, True, 90000000),
    ("Events", 20, True, 24000000),
    ("Notes", 30, True, 55000000),
    ("Emails", 20, True, 170000000),
    ("Product", 8, True, 2100000),
    ("Pricebook", 2, False, 2200000),
    ("PricebookEntry", 8, True, 2300000),
    ("OpportunityLineItem", 10, True, 2400000),
    ("Quotation", 5, True, 2500000),
    ("QuotationLineItem", 8, True, 2600000),
    ("Ticket", 10, True, 3100000),
    ("Prospect", 10, True, 3200000),
    ("KnowledgeArticleCategory", 2, False, 3300000),
    ("KnowledgeArticleFolder", 3, False, 3400000),
    ("KnowledgeArticle", 6, True, 3500000),
    ("ForumCategories", 2, False, 3600000),
    ("CommunityForums", 2, False, 3700000),
    ("CommunityPosts", 4, True, 3800000),
    ("CommunityComments", 6, True, 3900000),
    ("DocumentTemplates", 2, False, 4000000),
]
# Records made field by field per resource; further records are variants of these.
TEMPLATES = 300
# Beyond this scale only contacts grow (100 x scale); the other resources stay at this size,
# so a 100,000-contact sandbox starts in seconds and fits in memory.
OTHERS_MAX_SCALE = 20
# Which table an id field points to (fields named like another resource's key).
REFERENCES = {
    "CONTACT_ID": "Contacts", "ORGANISATION_ID": "Organisations", "OPPORTUNITY_ID": "Opportunities",
    "LEAD_ID": "Leads", "PROJECT_ID": "Projects", "PIPELINE_ID": "Pipelines",
    "STAGE_ID": "PipelineStages", "LEAD_SOURCE_ID": "LeadSources", "LEAD_STATUS_ID": "LeadStatuses",
    "TEAM_ID": "Teams", "PRODUCT_ID": "Product", "PRICEBOOK_ID": "Pricebook",
    "PRICEBOOK_ENTRY_ID": "PricebookEntry", "QUOTE_ID": "Quotation",
    "OPPORTUNITY_ITEM_ID": "OpportunityLineItem", "FOLDER_ID": "KnowledgeArticleFolder",
    "FORUM_ID": "CommunityForums", "POST_ID": "CommunityPosts",
    "FORUM_CATEGORY_ID": "ForumCategories", "MILESTONE_ID": "Milestones",
    "STATE_REASON_ID": "OpportunityStateReasons", "ACTIVITYSET_ID": "ActivitySets",
    "RELATIONSHIP_ID": "Relationships", "EMAIL_ID": "Emails", "TICKET_ID": "Ticket",
}
CATEGORY_OF = {"Opportunities": "OpportunityCategories", "Projects": "ProjectCategories",
               "Tasks": "TaskCategories", "KnowledgeArticle": "KnowledgeArticleCategory",
               "KnowledgeArticleFolder": "KnowledgeArticleCategory"}
TAGGED = {"Contacts": ["VIP", "Newsletter", "Partner", "Berlin", "Trade show"],
          "Leads": ["Paris", "Washington", "Webinar", "Cold"],
          "Opportunities": ["Q1", "Q2", "Upsell", "Renewal"],
          "Organisations": ["Customer", "Supplier", "Prospect"],
          "Projects": ["Internal", "Onboarding"],
          "Emails": ["Inbound", "Follow-up"]}
FIRST = ["Ann", "Ben", "Carla", "Dev", "Elif", "Femi", "Gita", "Hugo", "Ines", "Jon", "Kai",
         "Lena", "Mateo", "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sven", "Tara", "Ugo", "Vera"]
LAST = ["Adams", "Brandt", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito",
        "Jensen", "Khan", "Lopez", "Muller", "Novak", "Okafor", "Petrov", "Rossi", "Silva"]
WORDS = ["alpha", "harbor", "cedar", "summit", "delta", "river", "quartz", "maple", "orbit",
         "nova", "pixel", "amber", "lumen", "atlas", "vector", "zephyr"]
CITIES = [("Berlin", "Germany"), ("Paris", "France"), ("Austin", "United States"),
          ("Leeds", "United Kingdom"), ("Lyon", "France"), ("Osaka", "Japan")]
COUNTRIES = ["Australia", "Canada", "France", "Germany", "Japan", "United Kingdom", "United States"]
CURRENCIES = [("AUD", "$"), ("EUR", "€"), ("GBP", "£"), ("JPY", "¥"), ("USD", "$")]
# Custom fields of every type in samples/customfields-contacts.json, for the other objects.
OTHER_CUSTOM_FIELDS = ["Organisations", "Opportunities", "Leads"]


def _sample(name: str) -> Any:
    return json.loads(resources.files("insightly_sandbox").joinpath(f"data/samples/{name}").read_text())


class Seeder:
    def __init__(self, store: Store, seed: int, scale: float) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.scale = scale
        self.seq = 0
        self._keys: dict[str, list] = {}

    # -- values -------------------------------------------------------------------------------
    def date(self, start: int = 0) -> str:
        return record_date(EPOCH + timedelta(seconds=self.rng.randint(start, SPAN_SECONDS)))

    def ref(self, table: str, optional: bool = False) -> Any:
        records = self.store.table(table).records
        if not records or (optional and self.rng.random() < 0.2):
            return None
        cached = self._keys.get(table)
        if cached is None or len(cached) != len(records):
            cached = self._keys[table] = sorted(records)
        return self.rng.choice(cached)

    def value(self, resource: str, field: str, kind: str) -> Any:
        value = self._value(resource, field, kind)
        if kind == "string" and isinstance(value, int):
            return str(value)  # a few id references are typed string in the document
        return value

    def _value(self, resource: str, field: str, kind: str) -> Any:
        rng = self.rng
        if field.endswith("USER_ID"):
            return self.ref("Users")
        if field == "CATEGORY_ID" and resource in CATEGORY_OF:
            return self.ref(CATEGORY_OF[resource])
        if field in REFERENCES and REFERENCES[field] != resource:
            optional = field not in ("PIPELINE_ID", "STAGE_ID", "PRICEBOOK_ID", "PRODUCT_ID")
            return self.ref(REFERENCES[field], optional=optional)
        if field == "VISIBLE_TO":
            return "EVERYONE"
        if field == "VISIBLE_TEAM_ID":
            return None
        if kind == "datetime":
            if rng.random() < 0.5:
                return None
            # Date-only fields (DUE_DATE, FORECAST_CLOSE_DATE, DATE_OF_BIRTH, ...) carry midnight
            # in the same layout (API-NOTES: likely, not verified); *_UTC fields carry a time.
            return self.date() if field.endswith("_UTC") else self.date()[:10] + " 00:00:00"
        if kind == "boolean":
            return rng.random() < 0.3
        if kind == "integer":
            return rng.randint(0, 500) if rng.random() < 0.6 else None
        if kind == "number":
            return round(rng.uniform(10, 20000), 2) if rng.random() < 0.7 else None
        if kind.startswith("array:") or kind.startswith("object"):
            return [] if kind.startswith("array:") else None
        if field.endswith("URL") or field.startswith("SOCIAL_"):
            return None
        if "EMAIL" in field:
            return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{rng.randint(1, 99)}@example.com"
        if field == "FIRST_NAME":
            return rng.choice(FIRST)
        if field == "LAST_NAME":
            return rng.choice(LAST)
        if field in ("SALUTATION",):
            return rng.choice(["Mr", "Ms", "Dr", None])
        if "PHONE" in field or field in ("MOBILE", "FAX"):
            return f"+1 555 01{rng.randint(10, 99)}" if rng.random() < 0.5 else None
        if field.endswith("_CITY"):
            return rng.choice(CITIES)[0]
        if field.endswith("_COUNTRY"):
            return rng.choice(CITIES)[1]
        if field == "CURRENCY_CODE":
            return "USD"
        if field.endswith("NAME") or field in ("TITLE", "SUBJECT", "Title", "STATUS"):
            return " ".join(rng.choice(WORDS).capitalize() for _ in range(2))
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) if rng.random() < 0.5 else None

    # -- records --------------------------------------------------------------------------------
    def make(self, name: str, key: Any) -> dict:
        resource = self.store.resource_of(name)
        record = {}
        for field, kind in resource.fields:
            record[field] = self.value(name, field, kind)
        if resource.id_field:
            record[resource.id_field] = key
        created = self.date()
        if resource.date_created:
            record[resource.date_created] = created
        if resource.date_updated:
            roll = self.rng.random()
            if roll < 0.3:
                record[resource.date_updated] = created  # never updated
            else:
                start = int((datetime.strptime(created, "%Y-%m-%d %H:%M:%S")
                             .replace(tzinfo=timezone.utc) - EPOCH).total_seconds())
                record[resource.date_updated] = self.date(start)
        self.sub_collections(name, record)
        return record

    def variant(self, name: str, template: dict, key: Any) -> dict:
        """A cheap new record from a generated one: new id, names, dates and custom values.
        Large scales are built this way, so 100,000 contacts take seconds, not minutes."""
        resource = self.store.resource_of(name)
        record = dict(template)
        record[resource.id_field] = key
        rng = self.rng
        if "FIRST_NAME" in record:
            record["FIRST_NAME"], record["LAST_NAME"] = rng.choice(FIRST), rng.choice(LAST)
        for email in ("EMAIL_ADDRESS", "EMAIL"):
            if record.get(email):
                record[email] = f"{record.get('FIRST_NAME') or 'x'}.{key}@example.com".lower()
        created = self.date()
        if resource.date_created:
            record[resource.date_created] = created
        if resource.date_updated:
            record[resource.date_updated] = created if rng.random() < 0.3 else max(created, self.date())
        if "CUSTOMFIELDS" in record:
            record["CUSTOMFIELDS"] = self.custom_values(name)
        return record

    def sub_collections(self, name: str, record: dict) -> None:
        rng = self.rng
        if "TAGS" in record and name in TAGGED:
            record["TAGS"] = [{"TAG_NAME": t} for t in rng.sample(TAGGED[name], rng.randint(0, 2))]
        if "EMAILDOMAINS" in record:
            record["EMAILDOMAINS"] = [{"EMAIL_DOMAIN_ID": self.store.new_id("__EMAILDOMAINS"),
                                       "EMAIL_DOMAIN": f"{rng.choice(WORDS)}.example.com"}]
        if "DATES" in record and rng.random() < 0.2:
            record["DATES"] = [{"DATE_ID": self.store.new_id("__DATES"), "OCCASION_NAME": "Birthday",
                                "OCCASION_DATE": self.date()[:10] + " 00:00:00",
                                "REPEAT_YEARLY": True, "CREATE_TASK_YEARLY": False}]
        if "CUSTOMFIELDS" in record:
            record["CUSTOMFIELDS"] = self.custom_values(name)
        for field in ("TEAMMEMBERS", "ACTIVITIES"):
            if field in record:
                record[field] = []

    def custom_values(self, name: str) -> list[dict]:
        """Like the real sample, a record lists only some of the object's custom fields."""
        metas = self.store.custom_fields.get(name, [])
        if not metas:
            return []
        chosen = [m for m in metas if self.rng.random() < 0.55]
        return [{"FIELD_NAME": m["FIELD_NAME"], "FIELD_VALUE": self.custom_value(m),
                 "CUSTOM_FIELD_ID": m["FIELD_NAME"]} for m in chosen]

    def custom_value(self, meta: dict) -> Any:
        rng = self.rng
        if rng.random() < 0.1:
            return None
        options = [o["OPTION_VALUE"] for o in meta.get("CUSTOM_FIELD_OPTIONS") or []]
        kind = meta["FIELD_TYPE"]
        if kind == "BIT":
            return rng.random() < 0.5
        if kind == "DROPDOWN":
            return rng.choice(options) if options else "Other"
        if kind == "MULTISELECT":
            picked = [o for o in options if rng.random() < 0.4] or options[:1]
            return ";".join(picked)
        if kind in ("NUMERIC", "CURRENCY"):
            return rng.choice([rng.randint(0, 1000), round(rng.uniform(0, 1000), 2)])
        if kind == "PERCENT":
            return rng.randint(0, 100)
        if kind == "DATE":
            return self.date()[:10] + " 00:00:00"
        if kind == "DATETIME":
            return self.date()
        if kind == "AUTONUMBER":
            self.seq += 1
            return f"{1000 + self.seq}"
        if kind == "MULTILINETEXT":
            return f"{rng.choice(WORDS)} {rng.choice(WORDS)}\n{rng.choice(WORDS)}"
        return rng.choice(WORDS).capitalize()

    # -- the whole account ------------------------------------------------------------------------
    def run(self) -> None:
        store = self.store
        store.instance = {"INSTANCE_NAME": "Sandbox Instance", "INSTANCE_SUBDOMAIN": "sandbox",
                          "PLAN_NAME": "Enterprise", "NEW_USER_EXPERIENCE_ENABLED": True}
        self.custom_field_metadata()
        for name, count, grows, first_id in SIZES:
            if name == "Countries":
                for c in COUNTRIES:
                    store.table(name).put({"COUNTRY_NAME": c})
                continue
            if name == "Currencies":
                for code, symbol in CURRENCIES:
                    store.table(name).put({"CURRENCY_CODE": code, "CURRENCY_SYMBOL": symbol})
                continue
            scale = self.scale if name == "Contacts" else min(self.scale, OTHERS_MAX_SCALE)
            total = max(1, round(count * scale)) if grows else count
            key = first_id
            table = store.table(name)
            templates: list[dict] = []
            for i in range(total):
                if i < TEMPLATES:
                    record = self.make(name, key)
                    templates.append(record)
                else:
                    record = self.variant(name, self.rng.choice(templates), key)
                table.records[key] = record
                key += self.rng.randint(1, 40)
            self.fixups(name)
        self.samples()
        self.same_second_clusters()
        self.custom_object_records()
        for name in store.tables:
            ints = [k for k in store.table(name).records if isinstance(k, int)]
            if ints:
                store.note_seed_id(name, max(ints))

    def custom_field_metadata(self) -> None:
        contacts = _sample("customfields-contacts.json")
        self.store.custom_fields["Contacts"] = contacts
        for obj in OTHER_CUSTOM_FIELDS:
            self.store.custom_fields[obj] = [
                dict(m, FIELD_FOR=FIELD_FOR[obj],
                     CUSTOM_FIELD_OPTIONS=[dict(o) for o in m["CUSTOM_FIELD_OPTIONS"]])
                for m in contacts]
        fruit = _sample("customobjects.json")[0]
        self.store.custom_objects[fruit["OBJECT_NAME"]] = fruit
        self.store.custom_fields[fruit["OBJECT_NAME"]] = [
            _meta(fruit["OBJECT_NAME"], "Color__c", 1, "DROPDOWN", ["Green", "Red", "Yellow"]),
            _meta(fruit["OBJECT_NAME"], "Weight__c", 2, "NUMERIC", []),
        ]

    def fixups(self, name: str) -> None:
        """Links that must agree with each other across tables."""
        store, rng = self.store, self.rng
        table = store.table(name)
        if name == "Users":
            first = min(table.records)
            record = table.records.pop(first)
            record["USER_ID"] = SAMPLE_USER  # owner of every captured sample record
            record["ADMINISTRATOR"] = record["ACCOUNT_OWNER"] = record["ACTIVE"] = True
            table.put(record)
            table.touched()
        if name == "TeamMembers":
            teams = store.table("Teams")
            for member in table.records.values():
                member["TEAM_ID"] = self.ref("Teams")
                member["MEMBER_USER_ID"] = self.ref("Users")
            for team_id, team in teams.records.items():
                team["TEAMMEMBERS"] = [dict(m) for m in table.records.values()
                                       if m["TEAM_ID"] == team_id]
            teams.touched()
        if name in ("LeadSources", "LeadStatuses"):
            # The captured leads refer to these ids.
            wanted = 3794750 if name == "LeadSources" else 3724795
            if wanted not in table.records:
                record = self.make(name, wanted)
                table.put(record)
        if name == "PipelineStages":
            pipelines = sorted(store.table("Pipelines").records)
            for i, stage in enumerate(sorted(table.records)):
                table.records[stage]["PIPELINE_ID"] = pipelines[i % len(pipelines)]
                table.records[stage]["STAGE_ORDER"] = i // len(pipelines) + 1
        if name in ("Opportunities", "Projects", "Leads"):
            stages = store.table("PipelineStages").records
            for record in table.records.values():
                if "STAGE_ID" in record:
                    stage = rng.choice(sorted(stages)) if name != "Leads" or rng.random() < 0.3 else None
                    record["STAGE_ID"] = stage
                    record["PIPELINE_ID"] = stages[stage]["PIPELINE_ID"] if stage else None
        if name == "Contacts":
            orgs = store.table("Organisations").records
            for record in table.records.values():
                if record["ORGANISATION_ID"] is not None and rng.random() < 0.5:
                    org = record["ORGANISATION_ID"]
                    record["LINKS"] = [{
                        "LINK_ID": store.new_id("__LINKS"), "OBJECT_NAME": "Contact",
                        "OBJECT_ID": record["CONTACT_ID"], "LINK_OBJECT_NAME": "Organisation",
                        "LINK_OBJECT_ID": org, "ROLE": rng.choice(["Employee", "Owner", None]),
                        "DETAILS": None, "RELATIONSHIP_ID": None, "IS_FORWARD": True}]
            assert orgs is not None
        if name == "Notes":
            parents = ["Contacts", "Organisations", "Opportunities", "Leads", "Projects"]
            for record in table.records.values():
                parent = rng.choice(parents)
                parent_id = self.ref(parent)
                record["LINKS"] = [{
                    "LINK_ID": store.new_id("__LINKS"), "OBJECT_NAME": "Note",
                    "OBJECT_ID": record["NOTE_ID"],
                    "LINK_OBJECT_NAME": {"Contacts": "Contact", "Organisations": "Organisation",
                                         "Opportunities": "Opportunity", "Leads": "Lead",
                                         "Projects": "Project"}[parent],
                    "LINK_OBJECT_ID": parent_id, "ROLE": None, "DETAILS": None,
                    "RELATIONSHIP_ID": None, "IS_FORWARD": True}]
        table.touched()

    def samples(self) -> None:
        for name, file in (("Contacts", "contacts-search-page.json"), ("Leads", "leads-search-page.json")):
            for record in _sample(file):
                self.store.table(name).put(record)

    def same_second_clusters(self) -> None:
        """Bulk edits: groups of records whose DATE_UPDATED_UTC is the very same second."""
        for name in ("Contacts", "Organisations", "Opportunities", "Leads", "Tasks", "Notes"):
            table = self.store.table(name)
            keys = sorted(k for k, r in table.records.items()
                          if "CONTACT_ID" not in r or r["CONTACT_ID"] != 366638973)
            sample_ids = {366638973, 78563840, 78563874}
            keys = [k for k in keys if k not in sample_ids]
            for _ in range(max(1, len(keys) // 25)):
                group = self.rng.sample(keys, min(len(keys), self.rng.randint(3, 6)))
                stamp = max(table.records[k]["DATE_CREATED_UTC"] for k in group)
                for k in group:
                    table.records[k]["DATE_UPDATED_UTC"] = stamp
            table.touched()

    def custom_object_records(self) -> None:
        table = self.store.table("Fruit__c")
        for record in _sample("customobject-fruit-records.json"):
            table.put(record)
        names = ["Cherry", "Damson", "Elderberry", "Fig", "Grape", "Kiwi", "Lemon", "Mango"]
        key = 54840700
        for n in names[: max(3, round(4 * self.scale))] if self.scale <= 2 else names:
            record = self.make("Fruit__c", key)
            record["RECORD_NAME"] = n
            record["VISIBLE_TO"], record["VISIBLE_TEAM_ID"] = "EVERYONE", None
            table.put(record)
            key += self.rng.randint(1, 30)
        table.touched()


def _meta(obj: str, name: str, order: int, kind: str, options: list[str]) -> dict:
    return {"FIELD_NAME": name, "FIELD_ORDER": order, "FIELD_FOR": obj,
            "FIELD_LABEL": name[:-3], "FIELD_TYPE": kind, "FIELD_HELP_TEXT": None,
            "DEFAULT_VALUE": None, "EDITABLE": True, "VISIBLE": True,
            "CUSTOM_FIELD_OPTIONS": [{"OPTION_ID": i + 1, "OPTION_VALUE": o, "OPTION_DEFAULT": False}
                                     for i, o in enumerate(options)],
            "DEPENDENCY": None, "JOIN_OBJECT": None}


def seed_store(store: Store, seed: int, scale: float) -> None:
    Seeder(store, seed, scale).run()
