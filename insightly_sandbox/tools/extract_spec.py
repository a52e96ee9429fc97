"""Generate ``insightly_sandbox/data/spec.json`` from Insightly's Swagger document.

Usage (from the repository root)::

    .venv/bin/python -m insightly_sandbox.tools.extract_spec \
        [--swagger ../shared/reference/insightly/swagger-v3.1.json] \
        [--samples insightly_sandbox/data/samples] [--out insightly_sandbox/data/spec.json]

The sandbox reads only the compact file this writes, so a clone without ``../shared`` runs.

Facts about the document that shape this script:
- Record schemas are mostly inline in each path's 200 response, not in ``definitions``.
- The list, ``/Search`` and ``/{id}`` responses of a resource carry the same field set.
- The captured samples carry fields the document lacks (VISIBLE_TO and VISIBLE_TEAM_ID on
  Contacts and Leads, LINKS on Leads, DATE_UPDATED_UTC and CREATED_USER_ID on custom object
  records). A live account returned them, so they are added, in the samples' field order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# name, id field, plural spelling that answers 405 (singular endpoints only), sample file.
# Names are Insightly's own path segments.
RESOURCES: list[tuple[str, str, str | None, str | None]] = [
    ("Contacts", "CONTACT_ID", None, "contacts-search-page.json"),
    ("Organisations", "ORGANISATION_ID", None, None),
    ("Opportunities", "OPPORTUNITY_ID", None, None),
    ("Leads", "LEAD_ID", None, "leads-search-page.json"),
    ("Projects", "PROJECT_ID", None, None),
    ("Tasks", "TASK_ID", None, None),
    ("Events", "EVENT_ID", None, None),
    ("Notes", "NOTE_ID", None, None),
    ("Emails", "EMAIL_ID", None, None),
    ("Milestones", "MILESTONE_ID", None, None),
    ("Users", "USER_ID", None, None),
    ("Teams", "TEAM_ID", None, None),
    ("TeamMembers", "PERMISSION_ID", None, None),
    ("Pipelines", "PIPELINE_ID", None, None),
    ("PipelineStages", "STAGE_ID", None, None),
    ("Product", "PRODUCT_ID", "Products", None),
    ("Pricebook", "PRICEBOOK_ID", "Pricebooks", None),
    ("PricebookEntry", "PRICEBOOK_ENTRY_ID", "PricebookEntries", None),
    ("Quotation", "QUOTE_ID", "Quotations", None),
    ("QuotationLineItem", "QUOTATION_ITEM_ID", "QuotationLineItems", None),
    ("OpportunityLineItem", "OPPORTUNITY_ITEM_ID", "OpportunityLineItems", None),
    ("Ticket", "TICKET_ID", "Tickets", None),
    ("Prospect", "PROSPECT_ID", "Prospects", None),
    ("KnowledgeArticle", "ARTICLE_ID", "KnowledgeArticles", None),
    ("KnowledgeArticleCategory", "CATEGORY_ID", "KnowledgeArticleCategories", None),
    ("KnowledgeArticleFolder", "FOLDER_ID", "KnowledgeArticleFolders", None),
    ("Tags", "TAG_NAME", None, None),
    ("Countries", "COUNTRY_NAME", None, None),
    ("Currencies", "CURRENCY_CODE", None, None),
    ("LeadSources", "LEAD_SOURCE_ID", None, None),
    ("LeadStatuses", "LEAD_STATUS_ID", None, None),
    ("OpportunityCategories", "CATEGORY_ID", None, None),
    ("ProjectCategories", "CATEGORY_ID", None, None),
    ("TaskCategories", "CATEGORY_ID", None, None),
    ("FileCategories", "CATEGORY_ID", None, None),
    ("OpportunityStateReasons", "STATE_REASON_ID", None, None),
    ("ActivitySets", "ACTIVITYSET_ID", None, None),
    ("Relationships", "RELATIONSHIP_ID", None, None),
    ("CommunityForums", "FORUM_ID", None, None),
    ("CommunityPosts", "POST_ID", None, None),
    ("CommunityComments", "COMMENT_ID", None, None),
    ("ForumCategories", "FORUM_CATEGORY_ID", None, None),
    ("DocumentTemplates", "TEMPLATE_ID", None, None),
    ("CustomObjects", "OBJECT_NAME", None, "customobjects.json"),
    ("CustomFields", "FIELD_NAME", None, "customfields-contacts.json"),
    ("Instance", "", None, None),
]
# The custom object records' schema, under the pseudo-resource name used in spec.json.
OBJECT_RECORDS = ("{objectName}", "RECORD_ID", "customobject-fruit-records.json")
# Paths whose segment after the resource name is a parameter, not "/{id}".
PATH_OVERRIDES = {"CustomFields": "/CustomFields/{objectName}", "CustomObjects": "/CustomObjects"}


def _type_of(schema: dict, definitions: dict, subdefs: dict, owner: str, name: str) -> str:
    """Compact type: integer, number, boolean, string, datetime, object, array:DEF."""
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        _register(ref, definitions[ref], definitions, subdefs)
        return f"object:{ref}"
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        if "$ref" in items:
            ref = items["$ref"].rsplit("/", 1)[-1]
            _register(ref, definitions[ref], definitions, subdefs)
            return f"array:{ref}"
        if items.get("type") == "object" or "properties" in items:
            ref = f"{owner}.{name}"
            _register(ref, items, definitions, subdefs)
            return f"array:{ref}"
        return f"array:{items.get('type', 'string')}"
    if kind == "string" and schema.get("format") == "date-time":
        return "datetime"
    if kind == "number":
        return "number"
    if kind in ("integer", "boolean", "string", "object"):
        return kind
    return "string"


def _register(ref: str, schema: dict, definitions: dict, subdefs: dict) -> None:
    if ref in subdefs:
        return
    subdefs[ref] = []  # placeholder against recursion
    subdefs[ref] = [
        [name, _type_of(prop, definitions, subdefs, ref, name)]
        for name, prop in schema.get("properties", {}).items()
    ]


def _item_schema(op: dict, definitions: dict) -> dict:
    schema = op["responses"]["200"]["schema"]
    if schema.get("type") == "array":
        schema = schema["items"]
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _sample_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array:APILinkDto"
    return "string"


def build(swagger: dict, samples_dir: Path) -> dict:
    paths, definitions = swagger["paths"], swagger["definitions"]
    subdefs: dict[str, list] = {}
    out: dict[str, dict] = {}
    rows = [(n, i, p, s) for n, i, p, s in RESOURCES] + [
        (OBJECT_RECORDS[0], OBJECT_RECORDS[1], None, OBJECT_RECORDS[2])
    ]
    for name, id_field, plural, sample in rows:
        base = PATH_OVERRIDES.get(name, f"/{name}")
        ops = paths[base]
        schema = _item_schema(ops["get"], definitions)
        props = schema.get("properties", {})
        fields = [[f, _type_of(p, definitions, subdefs, name, f)] for f, p in props.items()]
        read_only = sorted(f for f, p in props.items() if p.get("readOnly"))
        sample_fields: list[str] = []
        if sample:
            first = json.loads((samples_dir / sample).read_text())[0]
            known = dict(fields)
            ordered = []
            for f, v in first.items():
                if f in known:
                    ordered.append([f, known[f]])
                else:
                    sample_fields.append(f)
                    t = "datetime" if f.startswith("DATE_") else _sample_type(v)
                    if v is None:
                        t = "integer" if f.endswith("_ID") else "string"
                    ordered.append([f, t])
            ordered += [[f, t] for f, t in fields if f not in first]
            fields = ordered
        if id_field and id_field not in dict(fields):
            raise SystemExit(f"extract_spec: {name} has no id field {id_field} in the document")
        one = f"{base}/{{id}}" if name not in PATH_OVERRIDES else f"{base}/{{customObjectName}}"
        search = f"{base}/Search"
        search_params = []
        if search in paths:
            search_params = [p["name"] for p in paths[search]["get"].get("parameters", [])
                             if p.get("in") == "query"]
        list_params = [p["name"] for p in ops["get"].get("parameters", []) if p.get("in") == "query"]
        names = dict(fields)
        entry = {
            "path": base.lstrip("/"),
            "id_field": id_field or None,
            "fields": fields,
            "extra_sample_fields": sample_fields,
            "required": [r for r in schema.get("required", []) if r not in read_only],
            "read_only": read_only,
            "list_params": list_params,
            "search": search in paths,
            "search_params": search_params,
            "get_one": one in paths and "get" in paths[one],
            "post": "post" in ops,
            "put": "put" in ops,
            "delete": one in paths and "delete" in paths[one],
            "plural_alias": plural,
            "date_created": "DATE_CREATED_UTC" if "DATE_CREATED_UTC" in names else None,
            "date_updated": "DATE_UPDATED_UTC" if "DATE_UPDATED_UTC" in names else None,
            "array": ops["get"]["responses"]["200"]["schema"].get("type") == "array",
        }
        out[name] = entry
    # Notes are created under their parent record: POST /{Parent}/{id}/Notes.
    note_parents = sorted(
        p.split("/")[1] for p, ops in paths.items()
        if p.endswith("/{id}/Notes") and "post" in ops and not p.startswith("/{")
    )
    # GET /{Parent}/{id}/Notes answers with the APINote definition, which has fewer fields
    # than /Notes (no OWNER_USER_ID, no LINKS).
    child_note_fields = {
        parent: list(_item_schema(paths[f"/{parent}/{{id}}/Notes"]["get"], definitions)["properties"])
        for parent in note_parents
    }
    # The captured records carry CUSTOM_FIELD_ID in each CUSTOMFIELDS item (equal to
    # FIELD_NAME); the document's APICustomField lacks it.
    if ["CUSTOM_FIELD_ID", "string"] not in subdefs["APICustomField"]:
        subdefs["APICustomField"].append(["CUSTOM_FIELD_ID", "string"])
    return {
        "source": "Insightly API v3.1 Swagger document + captured samples",
        "resources": out,
        "definitions": subdefs,
        "note_parents": note_parents,
        "child_note_fields": child_note_fields,
        "tag_record_types": ["contacts", "leads", "opportunities", "organisations", "projects", "emails"],
    }


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swagger", default="../shared/reference/insightly/swagger-v3.1.json")
    parser.add_argument("--samples", default=str(here / "data" / "samples"))
    parser.add_argument("--out", default=str(here / "data" / "spec.json"))
    args = parser.parse_args(argv)
    swagger_path = Path(args.swagger)
    if not swagger_path.is_file():
        print(f"extract_spec: Swagger document not found at {swagger_path}; pass --swagger PATH",
              file=sys.stderr)
        return 2
    spec = build(json.loads(swagger_path.read_text()), Path(args.samples))
    Path(args.out).write_text(json.dumps(spec, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.out}: {len(spec['resources'])} resources, {len(spec['definitions'])} definitions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
