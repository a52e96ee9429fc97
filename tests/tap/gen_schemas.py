"""Generate ``tap_insightly/schemas.json`` from Insightly's Swagger document.

Run from the repository root:  .venv/bin/python tests/tap/gen_schemas.py
The test ``test_schemas_are_generated`` (tests/tap/test_streams.py) checks the committed
file is current.

Swagger gives most record schemas inline and some incompletely; the additions below
come from records captured from a live account (``samples/``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tap_insightly.resources import RESOURCES  # noqa: E402

SWAGGER = ROOT.parent / "shared" / "reference" / "insightly" / "swagger-v3.1.json"
TARGET = ROOT / "tap_insightly" / "schemas.json"

# Fields live records carry that the Swagger document leaves out.
_VISIBILITY = {
    "VISIBLE_TO": {"type": ["string", "null"]},
    "VISIBLE_TEAM_ID": {"type": ["integer", "null"]},
}


def _convert(prop: dict, defs: dict) -> dict:
    if "$ref" in prop:
        prop = defs[prop["$ref"].rsplit("/", 1)[-1]]
    kind = prop.get("type")
    if kind == "array":
        return {"type": ["array", "null"], "items": _convert(prop.get("items", {}), defs)}
    if kind == "object" or "properties" in prop:
        props = prop.get("properties")
        if props is None:
            return {}
        return {
            "type": ["object", "null"],
            "properties": {k: _convert(v, defs) for k, v in props.items()},
        }
    if kind == "string" and prop.get("format") == "date-time":
        return {"type": ["string", "null"], "format": "date-time"}
    if kind in {"string", "integer", "number", "boolean"}:
        return {"type": [kind, "null"]}
    return {}


# CUSTOMFIELDS values are typed (string, number, boolean or null); Swagger says
# "object".
_CUSTOMFIELD = {
    "type": ["object", "null"],
    "properties": {
        "FIELD_NAME": {"type": ["string", "null"]},
        "FIELD_VALUE": {"type": ["string", "number", "boolean", "null"]},
        "CUSTOM_FIELD_ID": {"type": ["string", "null"]},
    },
}


def build() -> dict[str, dict]:
    doc = json.loads(SWAGGER.read_text())
    paths, defs = doc["paths"], doc["definitions"]
    schemas: dict[str, dict] = {}
    for resource in [*RESOURCES, None]:
        if resource is None:
            name, path = "custom_object", "/{objectName}/Search"
        else:
            name = resource.name
            path = f"/{resource.path}/Search" if resource.searchable else f"/{resource.path}"
        items = paths[path]["get"]["responses"]["200"]["schema"]["items"]
        if "$ref" in items:
            items = defs[items["$ref"].rsplit("/", 1)[-1]]
        props = {k: _convert(v, defs) for k, v in items.get("properties", {}).items()}
        if "CUSTOMFIELDS" in props:
            props["CUSTOMFIELDS"] = {"type": ["array", "null"], "items": _CUSTOMFIELD}
        if "OWNER_USER_ID" in props:
            for key, value in _VISIBILITY.items():
                props.setdefault(key, value)
        if "TAGS" in props and "LINKS" not in props:
            props["LINKS"] = _convert({"type": "array", "items": {"$ref": "#/APILinkDto"}}, defs)
        if name == "custom_object":
            # The document omits DATE_UPDATED_UTC, which captured records carry.
            props.setdefault("DATE_CREATED_UTC", {"type": ["string", "null"], "format": "date-time"})
            props.setdefault("DATE_UPDATED_UTC", {"type": ["string", "null"], "format": "date-time"})
            props.setdefault("CREATED_USER_ID", {"type": ["integer", "null"]})
        if name == "tags":
            props = {"record_type": {"type": ["string"]}, **props}
        if resource is not None:
            for key in resource.key:
                if key not in props:
                    msg = f"{name}: key {key} not in the Swagger schema of {path}"
                    raise SystemExit(msg)
        schemas[name] = {"type": "object", "properties": props}
    return schemas


def render(schemas: dict[str, dict]) -> str:
    """JSON with one line per property, to read and diff as a table."""
    streams = []
    for name, schema in schemas.items():
        assert list(schema) == ["type", "properties"], name
        lines = [f"  {json.dumps(key)}: {json.dumps(prop)}" for key, prop in schema["properties"].items()]
        streams.append(
            f' {json.dumps(name)}: {{"type": "object", "properties": {{\n' + ",\n".join(lines) + "\n }}"
        )
    return "{\n" + ",\n".join(streams) + "\n}\n"


if __name__ == "__main__":
    TARGET.write_text(render(build()))
    print(f"wrote {TARGET}")
