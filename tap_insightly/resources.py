"""The Insightly resources the tap reads, as one table: one row per resource.

Adding a resource is adding a row. Stream classes are made from these rows in
``streams.py``; ``poller_config.py`` turns an Open Connectors poller configuration
into more rows (or overrides of these).
"""

from __future__ import annotations

import dataclasses
import typing as t

# Insightly writes every date as ``yyyy-MM-dd HH:mm:ss`` in UTC, without a zone.
INSIGHTLY_DATE_FORMAT = "yyyy-MM-dd HH:mm:ss"


@dataclasses.dataclass(frozen=True)
class Resource:
    """One Insightly resource and how to replicate it."""

    #: Stream name (also the Open Connectors resource key / event objectType).
    name: str
    #: Path under the base URL, e.g. ``Contacts`` or ``Product`` (singular!).
    path: str
    #: Primary key fields. Usually the id field alone.
    key: tuple[str, ...]
    #: Field holding the last-update time; None = no such field.
    updated_field: str | None = "DATE_UPDATED_UTC"
    #: Field holding the creation time; None = no such field.
    created_field: str | None = "DATE_CREATED_UTC"
    #: True when ``/{path}/Search?updated_after_utc=`` exists.
    searchable: bool = True
    #: False for endpoints without ``top``/``skip`` (one request returns all).
    paged: bool = True
    #: Status a lower plan answers for this endpoint (403 or 404), if any.
    plan_gated: bool = False
    #: Whether users can add custom fields to this object (then discovery reads
    #: ``/CustomFields/{path}``). Other records may carry an empty CUSTOMFIELDS.
    has_custom_fields: bool = False
    #: ``/Tags`` needs one request per record type; records get ``record_type``.
    record_types: tuple[str, ...] = ()
    #: Java date pattern and time zone of the updated / created fields.
    updated_format: str = INSIGHTLY_DATE_FORMAT
    updated_timezone: str = "UTC"
    created_format: str = INSIGHTLY_DATE_FORMAT
    created_timezone: str = "UTC"
    #: Records per request (1-500); None = the tap's ``page_size``.
    page_size: int | None = None
    #: Extra look-back in seconds (Open Connectors ``pollDelay``).
    look_back: int = 0
    #: Read with ``updated_after_utc`` (Open Connectors ``filterByUpdatedDate``).
    filter_by_updated: bool = True
    #: Fixed query parameters (e.g. ``field_name``/``field_value`` from a poller URL).
    params: tuple[tuple[str, str], ...] = ()
    #: Name of the schema this resource's records follow (a table row name, or
    #: ``custom_object`` for records of a custom object).
    schema_name: str | None = None
    #: True for a stream made from a custom object found at discovery.
    custom_object: bool = False

    @property
    def id_field(self) -> str:
        return self.key[-1]

    @property
    def incremental(self) -> bool:
        """Searchable with an updated date: read through ``/Search`` by bookmark."""
        return bool(self.searchable and self.updated_field and self.filter_by_updated)

    @property
    def schema_key(self) -> str:
        return self.schema_name or self.name

    def replace(self, **changes: t.Any) -> Resource:  # noqa: ANN401
        return dataclasses.replace(self, **changes)


def _row(name: str, path: str, id_field: str, **kwargs: t.Any) -> Resource:  # noqa: ANN401
    return Resource(name=name, path=path, key=(id_field,), **kwargs)


_LIST = {"searchable": False, "updated_field": None, "created_field": None}
_PLAN_GATED = {"plan_gated": True}
_CF = {"has_custom_fields": True}

#: Record types accepted by ``/Tags?record_type=``.
TAG_RECORD_TYPES = ("contacts", "leads", "opportunities", "organisations", "projects", "emails")

RESOURCES: tuple[Resource, ...] = (
    # Searchable, with DATE_UPDATED_UTC: incremental.
    _row("contacts", "Contacts", "CONTACT_ID", **_CF),
    _row("organisations", "Organisations", "ORGANISATION_ID", **_CF),
    _row("opportunities", "Opportunities", "OPPORTUNITY_ID", **_CF),
    _row("leads", "Leads", "LEAD_ID", **_CF),
    _row("projects", "Projects", "PROJECT_ID", **_CF),
    _row("tasks", "Tasks", "TASK_ID", **_CF),
    _row("events", "Events", "EVENT_ID", **_CF),
    _row("notes", "Notes", "NOTE_ID"),
    # /Emails/Search takes updated_after_utc, but e-mails have no DATE_UPDATED_UTC to
    # bookmark on: read fully.
    _row("emails", "Emails", "EMAIL_ID", updated_field=None, searchable=False),
    _row("milestones", "Milestones", "MILESTONE_ID"),
    _row("users", "Users", "USER_ID"),
    # Singular spellings: the plural answers 405. Lower plans answer 404 or 403.
    _row("products", "Product", "PRODUCT_ID", **_CF, **_PLAN_GATED),
    _row("pricebooks", "Pricebook", "PRICEBOOK_ID", **_PLAN_GATED),
    _row("pricebook_entries", "PricebookEntry", "PRICEBOOK_ENTRY_ID", **_PLAN_GATED),
    _row("quotes", "Quotation", "QUOTE_ID", **_PLAN_GATED),
    _row("quote_line_items", "QuotationLineItem", "QUOTATION_ITEM_ID", **_PLAN_GATED),
    _row(
        "opportunity_line_items", "OpportunityLineItem", "OPPORTUNITY_ITEM_ID", **_PLAN_GATED
    ),
    _row("tickets", "Ticket", "TICKET_ID", **_CF, **_PLAN_GATED),
    _row("prospects", "Prospect", "PROSPECT_ID", **_CF, **_PLAN_GATED),
    _row("knowledge_articles", "KnowledgeArticle", "ARTICLE_ID", **_PLAN_GATED),
    _row("knowledge_article_categories", "KnowledgeArticleCategory", "CATEGORY_ID", **_PLAN_GATED),
    _row("knowledge_article_folders", "KnowledgeArticleFolder", "FOLDER_ID", **_PLAN_GATED),
    # List only: read fully on every run.
    _row("teams", "Teams", "TEAM_ID", **_LIST),
    _row("team_members", "TeamMembers", "PERMISSION_ID", **_LIST),
    _row("pipelines", "Pipelines", "PIPELINE_ID", **_LIST),
    _row("pipeline_stages", "PipelineStages", "STAGE_ID", **_LIST),
    Resource(
        name="tags",
        path="Tags",
        key=("record_type", "TAG_NAME"),
        record_types=TAG_RECORD_TYPES,
        **_LIST,
    ),
    _row("countries", "Countries", "COUNTRY_NAME", paged=False, **_LIST),
    _row("currencies", "Currencies", "CURRENCY_CODE", paged=False, **_LIST),
    _row("lead_sources", "LeadSources", "LEAD_SOURCE_ID", **_LIST),
    _row("lead_statuses", "LeadStatuses", "LEAD_STATUS_ID", **_LIST),
    _row("opportunity_categories", "OpportunityCategories", "CATEGORY_ID", **_LIST),
    _row("project_categories", "ProjectCategories", "CATEGORY_ID", **_LIST),
    _row("task_categories", "TaskCategories", "CATEGORY_ID", **_LIST),
    _row("opportunity_state_reasons", "OpportunityStateReasons", "STATE_REASON_ID", **_LIST),
    _row("activity_sets", "ActivitySets", "ACTIVITYSET_ID", **_LIST),
    _row("relationships", "Relationships", "RELATIONSHIP_ID", **_LIST),
    _row("custom_objects", "CustomObjects", "OBJECT_NAME", paged=False, **_LIST),
)

RESOURCES_BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}


def custom_object_resource(object_name: str) -> Resource:
    """The row for the records of one custom object (e.g. ``Fruit__c``)."""
    return Resource(
        name=object_name.lower(),
        path=object_name,
        key=("RECORD_ID",),
        has_custom_fields=True,
        schema_name="custom_object",
        custom_object=True,
    )
