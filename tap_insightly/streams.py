"""Stream classes, made from the rows of the resource table (not written one by one)."""

from __future__ import annotations

import copy
import typing as t

from typing_extensions import override

from tap_insightly.client import InsightlyStream
from tap_insightly.custom_fields import CustomFieldMapper
from tap_insightly.resources import Resource
from tap_insightly.schemas import SCHEMAS

if t.TYPE_CHECKING:
    from tap_insightly.tap import TapInsightly

_DATETIME = {"type": ["string", "null"], "format": "date-time"}


def build_schema(resource: Resource, custom_fields: CustomFieldMapper) -> dict:
    """The stream's JSON schema: the resource's record schema plus custom-field columns."""
    schema = copy.deepcopy(SCHEMAS[resource.schema_key])
    properties = schema["properties"]
    for key in resource.key:
        properties.setdefault(key, {"type": ["integer", "string", "null"]})
    for field in (resource.updated_field, resource.created_field):
        if field:
            properties[field] = dict(_DATETIME)
    for name, prop in custom_fields.schema_properties().items():
        properties.setdefault(name, prop)
    return schema


class TagsStream(InsightlyStream):
    """``/Tags`` needs one request per record type; records carry ``record_type``."""

    @property
    @override
    def partitions(self) -> list[dict] | None:
        return [{"record_type": record_type} for record_type in self.resource.record_types]


def make_stream(
    tap: TapInsightly,
    resource: Resource,
    custom_fields: CustomFieldMapper | None = None,
) -> InsightlyStream:
    """An instance of a stream class made for one resource table row."""
    custom_fields = custom_fields or CustomFieldMapper([], as_columns=False)
    base = TagsStream if resource.record_types else InsightlyStream
    cls = type(
        f"{''.join(part.title() for part in resource.name.split('_'))}Stream",
        (base,),
        {"resource": resource, "__module__": __name__},
    )
    return cls(tap, custom_fields=custom_fields, schema=build_schema(resource, custom_fields))
