"""Custom fields: their types from ``/CustomFields/{object}``, as schema columns.

Records carry custom fields as ``CUSTOMFIELDS: [{FIELD_NAME, FIELD_VALUE,
CUSTOM_FIELD_ID}]``. With ``custom_fields_as_columns`` each known field also becomes a
typed top-level property, so a database target gets a real column.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_insightly.dates import insightly_to_rfc3339

_DATETIME = {"type": ["string", "null"], "format": "date-time"}

#: Insightly FIELD_TYPE -> JSON schema of the column. Unknown types fall back to a
#: schema accepting any scalar (values are kept as Insightly sends them).
FIELD_TYPE_SCHEMAS: dict[str, dict] = {
    "TEXT": {"type": ["string", "null"]},
    "MULTILINETEXT": {"type": ["string", "null"]},
    "DROPDOWN": {"type": ["string", "null"]},
    # Multi-select values arrive as one ";"-joined string.
    "MULTISELECT": {"type": ["string", "null"]},
    "URL": {"type": ["string", "null"]},
    "EMAIL": {"type": ["string", "null"]},
    "PHONE": {"type": ["string", "null"]},
    "BIT": {"type": ["boolean", "null"]},
    "NUMERIC": {"type": ["number", "null"]},
    "PERCENT": {"type": ["number", "null"]},
    "CURRENCY": {"type": ["number", "null"]},
    "DATE": _DATETIME,
    "DATETIME": _DATETIME,
    "AUTONUMBER": {"type": ["string", "integer", "null"]},
    "LOOKUP": {"type": ["integer", "string", "null"]},
}
_ANY_SCALAR = {"type": ["string", "number", "boolean", "null"]}


@dataclasses.dataclass(frozen=True)
class CustomField:
    name: str
    field_type: str

    @property
    def schema(self) -> dict:
        return dict(FIELD_TYPE_SCHEMAS.get(self.field_type.upper(), _ANY_SCALAR))

    @property
    def is_date(self) -> bool:
        return self.schema.get("format") == "date-time"


def from_metadata(rows: t.Iterable[dict]) -> list[CustomField]:
    """Fields from a ``/CustomFields/{object}`` response."""
    return [
        CustomField(name=row["FIELD_NAME"], field_type=str(row.get("FIELD_TYPE") or ""))
        for row in rows
        if row.get("FIELD_NAME")
    ]


def from_schema(schema: dict) -> list[CustomField]:
    """Fields recovered from a catalog schema's ``__c`` columns (no API request)."""
    fields = []
    for name, prop in schema.get("properties", {}).items():
        if not name.endswith("__c"):
            continue
        types = prop.get("type", [])
        types = [types] if isinstance(types, str) else types
        if prop.get("format") == "date-time":
            kind = "DATETIME"
        elif "boolean" in types and len(types) <= 2:  # noqa: PLR2004
            kind = "BIT"
        elif "number" in types and len(types) <= 2:  # noqa: PLR2004
            kind = "NUMERIC"
        elif types in (["string", "null"], ["string"]):
            kind = "TEXT"
        else:
            kind = ""
        fields.append(CustomField(name=name, field_type=kind))
    return fields


class CustomFieldMapper:
    """Types CUSTOMFIELDS values in place and (optionally) adds them as columns."""

    def __init__(self, fields: t.Sequence[CustomField], *, as_columns: bool) -> None:
        self.fields = list(fields)
        self.as_columns = as_columns
        self._dates = frozenset(f.name for f in self.fields if f.is_date)
        # A custom field absent from a record is a null column.
        self._nulls = dict.fromkeys(f.name for f in self.fields) if as_columns else {}
        self._known = frozenset(f.name for f in self.fields)
        #: Top-level properties this mapper adds (empty without columns).
        self.column_names = self._known if as_columns else frozenset()

    def schema_properties(self) -> dict[str, dict]:
        if not self.as_columns:
            return {}
        return {f.name: f.schema for f in self.fields}

    def apply(self, record: dict) -> None:
        entries = record.get("CUSTOMFIELDS")
        if self.as_columns:
            record.update(self._nulls)
        if not entries:
            return
        dates, known = self._dates, self._known
        for entry in entries:
            name = entry.get("FIELD_NAME")
            if name in dates:
                value = entry.get("FIELD_VALUE")
                if value is not None:
                    entry["FIELD_VALUE"] = insightly_to_rfc3339(value)
            # A field created after discovery has no column; it stays in CUSTOMFIELDS.
            if name in known and self.as_columns:
                record[name] = entry.get("FIELD_VALUE")
