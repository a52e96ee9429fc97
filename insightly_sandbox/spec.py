"""The resource table: one row per Insightly resource, read from the package's ``spec.json``.

``spec.json`` is generated from Insightly's Swagger document and the captured samples by
``insightly_sandbox/tools/extract_spec.py``; at run time the sandbox reads only this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

# The pseudo-resource whose schema every custom object's records share.
OBJECT_RECORDS = "{objectName}"


@dataclass(frozen=True)
class Resource:
    """One Insightly resource as the Swagger document (and the samples) describe it."""

    name: str
    path: str
    id_field: str | None
    fields: tuple[tuple[str, str], ...]
    required: tuple[str, ...]
    read_only: frozenset[str]
    search: bool
    get_one: bool
    post: bool
    put: bool
    delete: bool
    plural_alias: str | None
    date_created: str | None
    date_updated: str | None
    extra_sample_fields: tuple[str, ...] = ()
    field_types: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def sub_collections(self) -> frozenset[str]:
        """Fields that ``brief=true`` leaves out (arrays of objects such as TAGS, LINKS)."""
        return frozenset(f for f, t in self.fields if t.startswith("array:"))


@dataclass(frozen=True)
class Spec:
    resources: dict[str, Resource]
    definitions: dict[str, tuple[tuple[str, str], ...]]
    note_parents: tuple[str, ...]
    tag_record_types: tuple[str, ...]
    child_note_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def by_alias(self, segment: str) -> Resource | None:
        for res in self.resources.values():
            if res.plural_alias == segment:
                return res
        return None


@lru_cache(maxsize=1)
def load_spec() -> Spec:
    raw = json.loads(resources.files("insightly_sandbox").joinpath("data/spec.json").read_text())
    table = {}
    for name, r in raw["resources"].items():
        fields = tuple((f, t) for f, t in r["fields"])
        table[name] = Resource(
            name=name,
            path=r["path"],
            id_field=r["id_field"],
            fields=fields,
            required=tuple(r["required"]),
            read_only=frozenset(r["read_only"]),
            search=r["search"],
            get_one=r["get_one"],
            post=r["post"],
            put=r["put"],
            delete=r["delete"],
            plural_alias=r["plural_alias"],
            date_created=r["date_created"],
            date_updated=r["date_updated"],
            extra_sample_fields=tuple(r["extra_sample_fields"]),
            field_types=dict(fields),
        )
    defs = {k: tuple((f, t) for f, t in v) for k, v in raw["definitions"].items()}
    return Spec(table, defs, tuple(raw["note_parents"]), tuple(raw["tag_record_types"]),
                {k: tuple(v) for k, v in raw["child_note_fields"].items()})
