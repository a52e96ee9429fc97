"""In-memory records of one sandbox instance, with the serialized JSON of each record cached.

Serving a page joins cached bytes: each record is serialized once (full and ``brief``) and
re-serialized only after a write to it. Query results (the ordered ids that match a filter)
are cached per table version, so paging through a filter does not re-filter every time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .clock import SandboxClock, parse_instant, record_date
from .spec import OBJECT_RECORDS, Resource, Spec

# Custom field names end in __c; the objects that carry them, by every name a caller may use.
CUSTOM_FIELD_OBJECTS = {
    "contacts": "Contacts", "contact": "Contacts",
    "organisations": "Organisations", "organisation": "Organisations",
    "opportunities": "Opportunities", "opportunity": "Opportunities",
    "leads": "Leads", "lead": "Leads",
    "projects": "Projects", "project": "Projects",
    "tasks": "Tasks", "task": "Tasks",
    "events": "Events", "event": "Events",
    "product": "Product", "ticket": "Ticket", "prospect": "Prospect",
}
FIELD_FOR = {
    "Contacts": "CONTACT", "Organisations": "ORGANISATION", "Opportunities": "OPPORTUNITY",
    "Leads": "LEAD", "Projects": "PROJECT", "Tasks": "TASK", "Events": "EVENT",
    "Product": "PRODUCT", "Ticket": "TICKET", "Prospect": "PROSPECT",
}
# Link OBJECT_NAME of a note's parent record.
LINK_OBJECT = {"Contacts": "Contact", "Leads": "Lead", "Opportunities": "Opportunity",
               "Organisations": "Organisation", "Projects": "Project"}
CUSTOM_FIELD_TYPES = ("TEXT", "MULTILINETEXT", "DROPDOWN", "MULTISELECT", "BIT", "NUMERIC",
                      "PERCENT", "DATE", "DATETIME", "AUTONUMBER", "URL", "CURRENCY", "LOOKUP")


class ApiError(Exception):
    """An HTTP error answer with a plain-text reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


try:  # msgspec comes with singer-sdk[msgspec]; it serializes records several times faster
    from msgspec.json import encode as _encode
except ImportError:  # pragma: no cover - plain json gives the same bytes, slower
    _encode = None


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, keys in record order (the same bytes with or without msgspec)."""
    if _encode is not None:
        return _encode(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Table:
    """The records of one resource (or one custom object), keyed by id."""

    def __init__(self, name: str, resource: Resource, scramble_seed: int) -> None:
        self.name = name
        self.resource = resource
        self.records: dict[Any, dict] = {}
        self.version = 0
        self._scramble_seed = scramble_seed
        self._full: dict[Any, bytes] = {}
        self._brief: dict[Any, bytes] = {}
        self._orders: dict[bool, list] = {}
        self._queries: dict[tuple, list] = {}
        self._brief_drop = resource.sub_collections

    def put(self, record: dict) -> None:
        key = record[self.resource.id_field] if self.resource.id_field else len(self.records)
        if key not in self.records:
            self._orders.clear()
        self.records[key] = record
        self._full.pop(key, None)
        self._brief.pop(key, None)
        self._queries.clear()
        self.version += 1

    def remove(self, key: Any) -> dict | None:
        record = self.records.pop(key, None)
        if record is not None:
            self._full.pop(key, None)
            self._brief.pop(key, None)
            self._orders.clear()
            self._queries.clear()
            self.version += 1
        return record

    def touched(self) -> None:
        """Forget every cache (after an in-place change such as a new custom field)."""
        self._full.clear()
        self._brief.clear()
        self._orders.clear()
        self._queries.clear()
        self.version += 1

    def bytes_of(self, key: Any, brief: bool) -> bytes:
        cache = self._brief if brief else self._full
        data = cache.get(key)
        if data is None:
            record = self.records[key]
            if brief:
                record = {k: v for k, v in record.items() if k not in self._brief_drop}
            data = cache[key] = dumps(record)
        return data

    def ordered_keys(self, scrambled: bool) -> list:
        order = self._orders.get(scrambled)
        if order is None:
            if scrambled:
                seed = str(self._scramble_seed).encode()
                order = sorted(self.records, key=lambda k: hashlib.blake2b(
                    seed + str(k).encode(), digest_size=8).digest())
            else:
                order = sorted(self.records, key=_sort_key)
            self._orders[scrambled] = order
        return order

    def query(self, scrambled: bool, filters: tuple, predicate: Callable[[dict], bool] | None) -> list:
        if predicate is None:
            return self.ordered_keys(scrambled)
        cache_key = (scrambled, filters)
        keys = self._queries.get(cache_key)
        if keys is None:
            records = self.records
            keys = [k for k in self.ordered_keys(scrambled) if predicate(records[k])]
            if len(self._queries) > 64:
                self._queries.clear()
            self._queries[cache_key] = keys
        return keys


def _sort_key(key: Any) -> tuple:
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


class Store:
    """All tables, the custom field metadata and custom object definitions of one sandbox."""

    def __init__(self, spec: Spec, clock: SandboxClock, seed: int) -> None:
        self.spec = spec
        self.clock = clock
        self.seed = seed
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {}
        self.custom_fields: dict[str, list[dict]] = {}
        self.custom_objects: dict[str, dict] = {}
        self.instance: dict = {}
        self._next_ids: dict[str, int] = {}

    # -- tables ---------------------------------------------------------------------------
    def table(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            resource = self.spec.resources.get(name) or self.spec.resources[OBJECT_RECORDS]
            table = self.tables[name] = Table(name, resource, self.seed)
        return table

    def resource_of(self, name: str) -> Resource:
        return self.table(name).resource

    def custom_field_object(self, name: str) -> str | None:
        """Canonical object name for /CustomFields/{name}: a standard object or a custom one."""
        if name in self.custom_objects:
            return name
        lowered = name.lower()
        for obj in self.custom_objects:
            if obj.lower() == lowered:
                return obj
        return CUSTOM_FIELD_OBJECTS.get(lowered)

    def new_id(self, name: str) -> int:
        current = self._next_ids.get(name)
        if current is None:
            table = self.tables.get(name)
            ints = [k for k in table.records if isinstance(k, int)] if table else []
            current = max(ints) if ints else 1000
        current += 1
        self._next_ids[name] = current
        return current

    def note_seed_id(self, name: str, value: int) -> None:
        if value > self._next_ids.get(name, 0):
            self._next_ids[name] = value

    # -- records ----------------------------------------------------------------------------
    def blank(self, resource: Resource) -> dict:
        """A record with every field present: null, or [] for sub-collections."""
        return {f: ([] if t.startswith("array:") else None) for f, t in resource.fields}

    def create(self, name: str, body: dict, *, parent: tuple[str, int] | None = None) -> dict:
        resource = self.resource_of(name)
        with self.lock:
            record = self.blank(resource)
            self._apply(name, resource, record, body, creating=True)
            if resource.id_field:
                record[resource.id_field] = self.new_id(name)
            now = self.clock.now_record()
            if resource.date_created:
                record[resource.date_created] = now
            if resource.date_updated:
                record[resource.date_updated] = now
            for owner in ("OWNER_USER_ID", "CREATED_USER_ID"):
                # The API key's user owns and created what it creates, unless told otherwise.
                if owner in record and record[owner] is None:
                    record[owner] = self.default_user()
            if "VISIBLE_TO" in record and record["VISIBLE_TO"] is None:
                record["VISIBLE_TO"] = "EVERYONE"
            if parent is not None and "LINKS" in record:
                record["LINKS"] = [self._parent_link(name, record, parent)]
            self.table(name).put(record)
            return record

    def update(self, name: str, body: dict) -> dict:
        resource = self.resource_of(name)
        id_field = resource.id_field
        if not id_field or body.get(id_field) is None:
            raise ApiError(400, f"The request body must carry {id_field} of the record to update")
        with self.lock:
            table = self.table(name)
            key = _coerce_key(body[id_field])
            current = table.records.get(key)
            if current is None:
                raise ApiError(404, f"{name} record {body[id_field]} not found")
            record = dict(current)
            self._apply(name, resource, record, body, creating=False)
            if resource.date_updated:
                record[resource.date_updated] = self.clock.now_record()
            table.put(record)
            return record

    def delete(self, name: str, key: Any) -> None:
        with self.lock:
            if self.table(name).remove(_coerce_key(key)) is None:
                raise ApiError(404, f"{name} record {key} not found")

    def _parent_link(self, name: str, record: dict, parent: tuple[str, int]) -> dict:
        parent_name, parent_id = parent
        return {"LINK_ID": self.new_id("__links"), "OBJECT_NAME": "Note",
                "OBJECT_ID": record.get(self.resource_of(name).id_field),
                "LINK_OBJECT_NAME": LINK_OBJECT.get(parent_name, parent_name),
                "LINK_OBJECT_ID": parent_id, "ROLE": None, "DETAILS": None,
                "RELATIONSHIP_ID": None, "IS_FORWARD": True}

    def _apply(self, name: str, resource: Resource, record: dict, body: dict, *,
               creating: bool) -> None:
        types = resource.field_types
        for field_name, value in body.items():
            if field_name not in types:
                raise ApiError(400, f"Unknown field {field_name} for {name}")
            if field_name == resource.id_field or field_name in (
                    resource.date_created, resource.date_updated):
                continue
            kind = types[field_name]
            if field_name == "CUSTOMFIELDS":
                record["CUSTOMFIELDS"] = self._merge_custom_fields(
                    name, record.get("CUSTOMFIELDS") or [], value)
            elif kind.startswith("array:"):
                record[field_name] = self._sub_collection(field_name, kind, value)
            else:
                record[field_name] = _check_value(name, field_name, kind, value)
        if creating:
            missing = [f for f in resource.required if record.get(f) in (None, "")]
            if missing:
                raise ApiError(400, f"Missing required field(s) for {name}: {', '.join(missing)}")

    def _merge_custom_fields(self, name: str, current: list[dict], value: Any) -> list[dict]:
        if not isinstance(value, list):
            raise ApiError(400, "CUSTOMFIELDS must be a list of {FIELD_NAME, FIELD_VALUE}")
        known = {f["FIELD_NAME"]: f for f in self.custom_fields.get(self.custom_field_object(name)
                                                                     or name, [])}
        merged = {c["FIELD_NAME"]: dict(c) for c in current}
        for item in value:
            if not isinstance(item, dict) or "FIELD_NAME" not in item:
                raise ApiError(400, "CUSTOMFIELDS items need FIELD_NAME and FIELD_VALUE")
            field_name = item["FIELD_NAME"]
            meta = known.get(field_name)
            if meta is None:
                raise ApiError(400, f"Unknown custom field {field_name} for {name}")
            merged[field_name] = {"FIELD_NAME": field_name,
                                  "FIELD_VALUE": _custom_value(meta, item.get("FIELD_VALUE")),
                                  "CUSTOM_FIELD_ID": field_name}
        return list(merged.values())

    def _sub_collection(self, field_name: str, kind: str, value: Any) -> list[dict]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ApiError(400, f"{field_name} must be a list of objects")
        item_fields = self.spec.definitions.get(kind.split(":", 1)[1], ())
        names = [f for f, _ in item_fields]
        out = []
        for item in value:
            unknown = [k for k in item if k not in names]
            if unknown:
                raise ApiError(400, f"Unknown field {unknown[0]} in {field_name}")
            full = {f: item.get(f) for f in names}
            id_name = names[0] if names and names[0].endswith("_ID") else None
            if id_name and full[id_name] is None:
                full[id_name] = self.new_id(f"__{field_name}")
            out.append(full)
        return out

    # -- custom fields and objects (schema drift) -----------------------------------------
    def add_custom_field(self, object_name: str, field_name: str, field_type: str,
                         label: str | None = None, options: Iterable[str] = ()) -> dict:
        obj = self.custom_field_object(object_name)
        if obj is None:
            raise ApiError(400, f"Unknown object {object_name} for a custom field")
        if not field_name.endswith("__c"):
            raise ApiError(400, f"Custom field names end in __c: {field_name}")
        if field_type not in CUSTOM_FIELD_TYPES:
            raise ApiError(400, f"Unknown FIELD_TYPE {field_type}; one of {', '.join(CUSTOM_FIELD_TYPES)}")
        with self.lock:
            fields = self.custom_fields.setdefault(obj, [])
            if any(f["FIELD_NAME"] == field_name for f in fields):
                raise ApiError(409, f"Custom field {field_name} already exists on {obj}")
            meta = {
                "FIELD_NAME": field_name, "FIELD_ORDER": len(fields) + 1,
                "FIELD_FOR": FIELD_FOR.get(obj, obj), "FIELD_LABEL": label or field_name[:-3],
                "FIELD_TYPE": field_type, "FIELD_HELP_TEXT": None, "DEFAULT_VALUE": None,
                "EDITABLE": field_type != "AUTONUMBER", "VISIBLE": True,
                "CUSTOM_FIELD_OPTIONS": [{"OPTION_ID": i + 1, "OPTION_VALUE": o,
                                          "OPTION_DEFAULT": False} for i, o in enumerate(options)],
                "DEPENDENCY": None, "JOIN_OBJECT": None,
            }
            fields.append(meta)
            return meta

    def add_custom_object(self, object_name: str, *, fields: list[dict] | None = None,
                          records: list[dict] | None = None, singular: str | None = None,
                          plural: str | None = None) -> dict:
        if not object_name.endswith("__c"):
            raise ApiError(400, f"Custom object names end in __c: {object_name}")
        if object_name in self.spec.resources:
            raise ApiError(400, f"{object_name} is a standard resource name")
        with self.lock:
            if object_name in self.custom_objects:
                raise ApiError(409, f"Custom object {object_name} already exists")
            now = self.clock.now_record()
            label = singular or object_name[:-3].replace("_", " ")
            definition = {
                "OBJECT_NAME": object_name, "SINGULAR_LABEL": label,
                "PLURAL_LABEL": plural or f"{label}s", "DESCRIPTION": None,
                "RECORD_NAME_LABEL": f"{label} Name", "RECORD_NAME_TYPE": "TEXT",
                "RECORD_NAME_DISPLAY_FORMAT": None, "ENABLE_NAVBAR": True,
                "ENABLE_WORKFLOWS": True, "CREATED_USER_ID": self.default_user(),
                "DATE_CREATED_UTC": now, "DATE_UPDATED_UTC": now,
            }
            self.custom_objects[object_name] = definition
            self.custom_fields.setdefault(object_name, [])
            self.table(object_name)
            for f in fields or []:
                self.add_custom_field(object_name, f["FIELD_NAME"], f.get("FIELD_TYPE", "TEXT"),
                                      f.get("FIELD_LABEL"), f.get("OPTIONS", ()))
            for r in records or []:
                self.create(object_name, self.flat_to_body(object_name, r))
            return definition

    def flat_to_body(self, object_name: str, record: dict) -> dict:
        """Accept ``{"RECORD_NAME": "x", "Color__c": "Red"}``: __c keys become CUSTOMFIELDS,
        creating missing custom fields as TEXT/NUMERIC/BIT from the value's type."""
        body = {k: v for k, v in record.items() if not k.endswith("__c")}
        extra = [{"FIELD_NAME": k, "FIELD_VALUE": v} for k, v in record.items() if k.endswith("__c")]
        known = {f["FIELD_NAME"] for f in self.custom_fields.get(object_name, [])}
        for item in extra:
            if item["FIELD_NAME"] not in known:
                value = item["FIELD_VALUE"]
                kind = ("BIT" if isinstance(value, bool) else
                        "NUMERIC" if isinstance(value, (int, float)) else "TEXT")
                self.add_custom_field(object_name, item["FIELD_NAME"], kind)
        if extra:
            body["CUSTOMFIELDS"] = list(body.get("CUSTOMFIELDS", [])) + extra
        return body

    def default_user(self) -> int | None:
        """The API key's user: the account owner of the captured samples when present."""
        users = self.tables.get("Users")
        if users and users.records:
            return 2240727 if 2240727 in users.records else min(users.records)
        return None

    # -- tags -------------------------------------------------------------------------------
    def tags(self, record_type: str) -> list[dict]:
        name = {"contacts": "Contacts", "leads": "Leads", "opportunities": "Opportunities",
                "organisations": "Organisations", "projects": "Projects",
                "emails": "Emails"}[record_type]
        seen: dict[str, None] = {}
        for record in self.table(name).records.values():
            for tag in record.get("TAGS") or []:
                seen.setdefault(tag["TAG_NAME"], None)
        return [{"TAG_NAME": t} for t in sorted(seen, key=str.lower)]


def _coerce_key(value: Any) -> Any:
    if isinstance(value, bool):
        raise ApiError(400, f"Invalid id {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _check_value(resource: str, field_name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    ok = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "datetime": isinstance(value, str),
    }.get(kind, True)
    if not ok:
        raise ApiError(400, f"Invalid value for {resource}.{field_name}: expected {kind}")
    if kind == "datetime":
        try:
            return record_date(parse_instant(value))
        except ValueError:
            raise ApiError(400, f"Invalid date for {resource}.{field_name}: {value!r}") from None
    return value


def _custom_value(meta: dict, value: Any) -> Any:
    """Custom field values are typed as the live API returns them."""
    if value is None:
        return None
    kind = meta["FIELD_TYPE"]
    name = meta["FIELD_NAME"]
    if kind == "BIT":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
    elif kind in ("NUMERIC", "PERCENT", "CURRENCY"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif kind in ("DATE", "DATETIME"):
        try:
            parsed = parse_instant(str(value))
        except ValueError:
            raise ApiError(400, f"Invalid date for custom field {name}: {value!r}") from None
        if kind == "DATE":
            parsed = parsed.replace(hour=0, minute=0, second=0)
        return record_date(parsed)
    elif kind == "MULTISELECT":
        if isinstance(value, list):
            return ";".join(str(v) for v in value)
        return str(value)
    else:
        return value if isinstance(value, (str, int, float)) else str(value)
    raise ApiError(400, f"Invalid value for custom field {name} ({kind}): {value!r}")


def updated_after_predicate(field: str, after: datetime) -> Callable[[dict], bool]:
    """Strictly after, at one-second precision (the layout's string order is time order)."""
    bound = record_date(after)
    return lambda r: (r.get(field) or "") > bound
