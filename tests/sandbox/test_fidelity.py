"""Fidelity: every path, id field and record field the sandbox serves, checked against
Insightly's Swagger document and the captured samples (read from ../shared/reference, not from
the sandbox's own spec.json, so the check is not circular)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from insightly_sandbox.spec import load_spec
from insightly_sandbox.tools.extract_spec import build

from .conftest import Sandbox

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "insightly"
pytestmark = pytest.mark.skipif(
    not (REFERENCE / "swagger-v3.1.json").is_file(),
    reason=f"Insightly reference material not found at {REFERENCE} (../shared/reference "
           "beside the repository); the fidelity check needs the Swagger document and samples")

DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
# Sample file → the sandbox resource whose records it shows.
SAMPLES = {"contacts-search-page.json": "/Contacts/Search",
           "leads-search-page.json": "/Leads/Search",
           "customobject-fruit-records.json": "/{objectName}/Search",
           "customobjects.json": "/CustomObjects",
           "customfields-contacts.json": "/CustomFields/{objectName}"}
# The resources the issue names (point 3), as the sandbox serves them.
ISSUE_RESOURCES = [
    "Contacts", "Organisations", "Opportunities", "Leads", "Projects", "Tasks", "Events", "Notes",
    "Emails", "Milestones", "Users", "Teams", "TeamMembers", "Pipelines", "PipelineStages",
    "Product", "Pricebook", "PricebookEntry", "Quotation", "QuotationLineItem",
    "OpportunityLineItem", "Ticket", "Prospect", "KnowledgeArticle", "KnowledgeArticleCategory",
    "KnowledgeArticleFolder", "Countries", "Currencies", "LeadSources", "LeadStatuses",
    "OpportunityCategories", "ProjectCategories", "TaskCategories", "OpportunityStateReasons",
    "ActivitySets", "Relationships", "CustomObjects"]


@pytest.fixture(scope="module")
def swagger() -> dict:
    return json.loads((REFERENCE / "swagger-v3.1.json").read_text())


def _resolve(swagger: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return swagger["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _item_schema(swagger: dict, path: str) -> dict:
    schema = swagger["paths"][path]["get"]["responses"]["200"]["schema"]
    if schema.get("type") == "array":
        schema = schema["items"]
    return _resolve(swagger, schema)


def _sample_extras(swagger: dict) -> dict[str, set[str]]:
    """Per Swagger path: the fields the captured samples carry beyond the document."""
    extras: dict[str, set[str]] = {}
    for file, path in SAMPLES.items():
        sample = json.loads((REFERENCE / "samples" / file).read_text())
        props = set(_item_schema(swagger, path)["properties"])
        extras[path] = {k for record in sample for k in record} - props
    return extras


def _check_value(where: str, value: Any, schema: dict, swagger: dict, sub_extras: set[str]) -> None:
    schema = _resolve(swagger, schema)
    if value is None:
        return
    kind = schema.get("type")
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind == "string":
        assert isinstance(value, str), where
        if schema.get("format") == "date-time":
            assert DATE.match(value), f"{where}: {value!r} is not yyyy-MM-dd HH:mm:ss"
    elif kind == "array":
        assert isinstance(value, list), where
        items = _resolve(swagger, schema.get("items", {}))
        props = items.get("properties")
        for item in value:
            if props is not None:
                extra = set(item) - set(props) - sub_extras
                assert not extra, f"{where}: item fields not in the document: {extra}"
                for key, sub in item.items():
                    if key in props:
                        _check_value(f"{where}.{key}", sub, props[key], swagger, sub_extras)
    elif "properties" in schema:
        assert isinstance(value, dict), where


def _served_paths(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(sandbox path to GET, Swagger path it answers for)."""
    spec = load_spec()
    out = []
    for name, res in spec.resources.items():
        if name.startswith("{") or name in ("Tags", "CustomFields", "Instance"):
            continue
        out.append((f"/{name}", f"/{name}"))
        if res.search:
            out.append((f"/{name}/Search", f"/{name}/Search"))
    out += [("/Tags?record_type=contacts", "/Tags"), ("/Instance", "/Instance"),
            ("/CustomFields/Contacts", "/CustomFields/{objectName}"),
            ("/CustomFields/Fruit__c", "/CustomFields/{objectName}"),
            ("/Fruit__c", "/{objectName}"), ("/Fruit__c/Search", "/{objectName}/Search"),
            ("/Users/Me", "/Users/Me")]
    plural = {"Contact": "Contacts", "Organisation": "Organisations", "Opportunity": "Opportunities",
              "Lead": "Leads", "Project": "Projects"}
    parents = {}
    for note in sandbox.control.all_records("Notes"):
        link = note["LINKS"][0]
        parents.setdefault(plural[link["LINK_OBJECT_NAME"]], link["LINK_OBJECT_ID"])
    assert len(parents) == 5, "seeded notes hang under every kind of parent"
    out += [(f"/{parent}/{key}/Notes", f"/{parent}/{{id}}/Notes") for parent, key in parents.items()]
    return out


def test_every_resource_of_the_issue_is_served(sandbox: Sandbox) -> None:
    for name in ISSUE_RESOURCES:
        response = sandbox.get(f"/{name}")
        assert response.status_code == 200, name
        assert response.json(), f"{name} has no records"


def test_every_served_path_and_field_matches_the_document(sandbox: Sandbox, swagger: dict) -> None:
    extras = _sample_extras(swagger)
    # CUSTOM_FIELD_ID in CUSTOMFIELDS items is in the captured records, not in the document.
    sub_extras = {"CUSTOM_FIELD_ID"}
    for path, swagger_path in _served_paths(sandbox):
        assert swagger_path in swagger["paths"], f"{path}: no {swagger_path} in the document"
        assert "get" in swagger["paths"][swagger_path], path
        schema = _item_schema(swagger, swagger_path)
        props = schema["properties"]
        # The samples' extras apply to every endpoint of the same records.
        allowed = set(props)
        for sample_path, extra in extras.items():
            base = "/" + sample_path.split("/")[1]
            if swagger_path in (base, base + "/Search", base + "/{id}"):
                allowed |= extra
        response = sandbox.get(path + ("&" if "?" in path else "?") + "top=500")
        assert response.status_code == 200, path
        body = response.json()
        records = body if isinstance(body, list) else [body]
        assert records, f"{path} served nothing"
        for record in records:
            keys = set(record)
            assert keys <= allowed, f"{path}: fields not in the document or samples: {keys - allowed}"
            assert set(props) <= keys, f"{path}: missing fields {set(props) - keys}"
            for key, value in record.items():
                if key in props:
                    _check_value(f"{path}.{key}", value, props[key], swagger, sub_extras)


def test_id_fields_and_single_record_paths(sandbox: Sandbox, swagger: dict) -> None:
    spec = load_spec()
    for name, res in spec.resources.items():
        if not res.id_field or name in ("CustomFields", "Tags"):
            continue
        path = "/{objectName}" if name.startswith("{") else f"/{name}"
        props = _item_schema(swagger, path if path in swagger["paths"] else "/CustomObjects")["properties"]
        assert res.id_field in props or res.id_field in _sample_extras(swagger).get(path, set()), name
        one = f"{path}/{{id}}" if name != "CustomObjects" else "/CustomObjects/{customObjectName}"
        served = "/Fruit__c" if name.startswith("{") else f"/{name}"
        first = sandbox.get(served, top=1).json()[0]
        single = sandbox.get(f"{served}/{first[res.id_field]}")
        if one in swagger["paths"] and "get" in swagger["paths"][one]:
            assert single.status_code == 200 and single.json() == first, name
        else:
            assert single.status_code in (404, 405), name


def test_writes_exist_exactly_where_the_document_has_them(sandbox: Sandbox, swagger: dict) -> None:
    spec = load_spec()
    for name, res in spec.resources.items():
        if name.startswith("{") or not res.id_field or name in ("CustomFields", "CustomObjects", "Tags"):
            continue
        ops = swagger["paths"][f"/{name}"]
        for method in ("post", "put"):
            response = sandbox.http.request(method.upper(), sandbox.url + f"/{name}", json={},
                                            timeout=10)
            if method in ops:
                assert response.status_code in (201, 400), (name, method, response.text)
            else:
                assert response.status_code == 405, (name, method)
        first = sandbox.get(f"/{name}", top=1).json()[0]
        response = sandbox.http.delete(sandbox.url + f"/{name}/{first[res.id_field]}", timeout=10)
        one = swagger["paths"].get(f"/{name}/{{id}}")
        expected = 404 if one is None else 202 if "delete" in one else 405
        assert response.status_code == expected, name


def test_captured_samples_are_served_verbatim(sandbox: Sandbox) -> None:
    contacts = json.loads((REFERENCE / "samples" / "contacts-search-page.json").read_text())
    for record in contacts:
        assert sandbox.get(f"/Contacts/{record['CONTACT_ID']}").json() == record
    leads = json.loads((REFERENCE / "samples" / "leads-search-page.json").read_text())
    for record in leads:
        assert sandbox.get(f"/Leads/{record['LEAD_ID']}").json() == record
    fruit = json.loads((REFERENCE / "samples" / "customobject-fruit-records.json").read_text())
    for record in fruit:
        assert sandbox.get(f"/Fruit__c/{record['RECORD_ID']}").json() == record
    assert sandbox.get("/CustomObjects").json()[0] == json.loads(
        (REFERENCE / "samples" / "customobjects.json").read_text())[0]
    assert sandbox.get("/CustomFields/Contacts").json() == json.loads(
        (REFERENCE / "samples" / "customfields-contacts.json").read_text())


def test_package_samples_match_the_reference() -> None:
    package = Path(__file__).resolve().parents[2] / "insightly_sandbox" / "data" / "samples"
    for file in SAMPLES:
        assert (package / file).read_text() == (REFERENCE / "samples" / file).read_text(), file


def test_committed_spec_is_what_the_generator_makes(swagger: dict) -> None:
    package = Path(__file__).resolve().parents[2] / "insightly_sandbox" / "data"
    committed = json.loads((package / "spec.json").read_text())
    assert build(swagger, package / "samples") == committed
