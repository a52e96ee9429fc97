"""Insightly API v3.1 routing and query semantics over the store.

Assumptions where Insightly's behaviour is unknown (documented in the package docstring too):
- ``top`` above 500 is served as 500 (the documented maximum), silently, so a client that
  asks for more and stops at the first short page loses records — as it could in production.
  ``top`` below 1 or a negative ``skip`` answers 400.
- ``updated_after_utc`` is strictly after at one-second precision. On Emails, which have no
  DATE_UPDATED_UTC, it filters on DATE_CREATED_UTC.
- ``field_value`` is compared as text, case-insensitively; booleans as ``true``/``false``.
  A ``field_name`` ending in ``__c`` filters on that custom field.
- Query parameter names are case-insensitive (ASP.NET); unknown parameters are ignored, as
  they are on endpoints where the Swagger document does not list them (e.g. ``updated_after_utc``
  on a plain list endpoint is ignored, not applied).
- Parts of Insightly's API outside replication and simulated users (file attachments, follows,
  images, per-record tags/links/dates endpoints, ...) answer 404 with a plain-text reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import parse_instant
from .spec import Resource
from .store import ApiError, Store, Table, dumps, updated_after_predicate

MAX_TOP = 500
DEFAULT_TOP = 100
JSON = "application/json; charset=utf-8"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON


def _method_not_allowed(method: str) -> ApiError:
    return ApiError(405, f"The requested resource does not support http method '{method}'.")


def _params(query: dict[str, list[str]]) -> dict[str, str]:
    return {k.lower(): v[0] for k, v in query.items() if v}


def _bool(params: dict[str, str], name: str) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ApiError(400, f"Invalid value for {name}: {raw!r} (expected true or false)")


def _int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}: {raw!r} (expected an integer)") from None


def paging(params: dict[str, str]) -> tuple[int, int, bool, bool]:
    top = _int(params, "top", DEFAULT_TOP)
    skip = _int(params, "skip", 0)
    if top < 1:
        raise ApiError(400, f"Invalid value for top: {top} (expected 1 to {MAX_TOP})")
    if skip < 0:
        raise ApiError(400, f"Invalid value for skip: {skip} (expected 0 or more)")
    return min(top, MAX_TOP), skip, _bool(params, "brief"), _bool(params, "count_total")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class Api:
    """Answers one authenticated, admitted API request."""

    def __init__(self, store: Store, scrambled: Callable[[], bool]) -> None:
        self.store = store
        self.scrambled = scrambled
        self.spec = store.spec

    def handle(self, method: str, segments: list[str], query: dict[str, list[str]],
               body: bytes) -> Reply:
        params = _params(query)
        if not segments:
            raise ApiError(404, "No endpoint at /v3.1/")
        head = segments[0]
        alias = self.spec.by_alias(head)
        if alias is not None:
            # Insightly's singular endpoints: the plural spelling answers 405.
            raise ApiError(405, f"The requested resource does not support http method "
                                f"'{method}'. (The endpoint is /{alias.name}, singular.)")
        if head == "Instance" and len(segments) == 1:
            return self._single(method, self.store.instance)
        if head == "Tags" and len(segments) == 1:
            return self._tags(method, params)
        if head == "CustomObjects":
            return self._custom_objects(method, segments, params)
        if head == "CustomFields":
            return self._custom_fields(method, segments, params)
        if head == "Users" and segments[1:] == ["Me"]:
            return self._single(method, self.store.table("Users").records[self.store.default_user()])
        resource = self.spec.resources.get(head)
        if resource is not None and not head.startswith("{"):
            return self._resource(method, head, resource, segments[1:], params, body)
        if head in self.store.custom_objects:
            return self._resource(method, head, self.store.resource_of(head), segments[1:],
                                  params, body)
        raise ApiError(404, f"No endpoint /{'/'.join(segments)}")

    # -- helpers ---------------------------------------------------------------------------
    def _single(self, method: str, record: dict) -> Reply:
        if method != "GET":
            raise _method_not_allowed(method)
        return Reply(200, dumps(record))

    def _list(self, items: list[dict], params: dict[str, str]) -> Reply:
        top, skip, _brief, count_total = paging(params)
        headers = {"X-Total-Count": str(len(items))} if count_total else {}
        return Reply(200, dumps(items[skip:skip + top]), headers)

    def _tags(self, method: str, params: dict[str, str]) -> Reply:
        if method != "GET":
            raise _method_not_allowed(method)
        record_type = params.get("record_type")
        if not record_type:
            raise ApiError(400, "record_type is required: one of " + "|".join(self.spec.tag_record_types))
        if record_type.lower() not in self.spec.tag_record_types:
            raise ApiError(400, f"Invalid record_type {record_type!r}: one of "
                                + "|".join(self.spec.tag_record_types))
        with self.store.lock:
            return self._list(self.store.tags(record_type.lower()), params)

    def _custom_objects(self, method: str, segments: list[str], params: dict[str, str]) -> Reply:
        if method != "GET":
            raise _method_not_allowed(method)
        with self.store.lock:
            if len(segments) == 1:
                return self._list(list(self.store.custom_objects.values()), params)
            if len(segments) == 2:
                definition = self.store.custom_objects.get(segments[1])
                if definition is None:
                    raise ApiError(404, f"Custom object {segments[1]} not found")
                return Reply(200, dumps(definition))
        raise ApiError(404, f"No endpoint /{'/'.join(segments)}")

    def _custom_fields(self, method: str, segments: list[str], params: dict[str, str]) -> Reply:
        if len(segments) not in (2, 3) or (len(segments) == 3 and segments[2] != "Search"):
            raise ApiError(404, f"No endpoint /{'/'.join(segments)}")
        if method != "GET":
            raise _method_not_allowed(method)
        obj = self.store.custom_field_object(segments[1])
        if obj is None:
            raise ApiError(404, f"Object {segments[1]} not found")
        with self.store.lock:
            items = list(self.store.custom_fields.get(obj, []))
        if len(segments) == 3:
            name, value = params.get("field_name"), params.get("field_value")
            if (name is None) != (value is None):
                raise ApiError(400, "field_name and field_value must be given together")
            if name is not None:
                if items and name not in items[0]:
                    raise ApiError(400, f"Unknown field_name {name!r}")
                items = [m for m in items if _text(m.get(name)).casefold() == value.casefold()]
        return self._list(items, params)

    # -- records ---------------------------------------------------------------------------
    def _resource(self, method: str, name: str, resource: Resource, rest: list[str],
                  params: dict[str, str], body: bytes) -> Reply:
        if not rest:
            if method == "GET":
                return self._page(name, resource, params, search=False)
            if method == "POST" and resource.post:
                return Reply(201, dumps(self.store.create(name, _json_object(body))))
            if method == "PUT" and resource.put:
                return Reply(200, dumps(self.store.update(name, _json_object(body))))
            raise _method_not_allowed(method)
        if rest == ["Search"]:
            if not resource.search:
                raise ApiError(404, f"No endpoint /{name}/Search")
            if method != "GET":
                raise _method_not_allowed(method)
            return self._page(name, resource, params, search=True)
        if len(rest) == 1:
            if not (resource.get_one or resource.delete):
                raise ApiError(404, f"No endpoint /{name}/{{id}}")
            if not ((method == "GET" and resource.get_one) or (method == "DELETE" and resource.delete)):
                raise _method_not_allowed(method)
        key = _record_key(rest[0])
        if len(rest) == 1:
            if method == "GET" and resource.get_one:
                with self.store.lock:
                    table = self.store.table(name)
                    if key not in table.records:
                        raise ApiError(404, f"{name} record {rest[0]} not found")
                    return Reply(200, table.bytes_of(key, _bool(params, "brief")))
            if method == "DELETE" and resource.delete:
                self.store.delete(name, key)
                return Reply(202, b"", content_type="")
            raise _method_not_allowed(method)
        if rest[1:] == ["Notes"] and name in self.spec.note_parents:
            return self._notes(method, name, key, params, body)
        raise ApiError(404, f"The sandbox does not serve /{name}/{{id}}/{'/'.join(rest[1:])}")

    def _notes(self, method: str, parent: str, key: int, params: dict[str, str],
               body: bytes) -> Reply:
        if key not in self.store.table(parent).records:
            raise ApiError(404, f"{parent} record {key} not found")
        if method == "POST":
            note = self.store.create("Notes", _json_object(body), parent=(parent, key))
            return Reply(201, dumps(note))
        if method != "GET":
            raise _method_not_allowed(method)
        link = {"Contacts": "Contact", "Leads": "Lead", "Opportunities": "Opportunity",
                "Organisations": "Organisation", "Projects": "Project"}[parent]

        def linked(record: dict) -> bool:
            return any(lk.get("LINK_OBJECT_NAME") == link and lk.get("LINK_OBJECT_ID") == key
                       for lk in record.get("LINKS") or [])

        reply = self._page("Notes", self.spec.resources["Notes"], params, search=True,
                           extra=(("parent", parent, key), linked))
        # This endpoint answers with the document's APINote shape, narrower than /Notes.
        fields = self.spec.child_note_fields[parent]
        notes = json.loads(reply.body)
        reply.body = dumps([{f: note.get(f) for f in fields} for note in notes])
        return reply

    def _page(self, name: str, resource: Resource, params: dict[str, str], *, search: bool,
              extra: tuple[tuple, Callable[[dict], bool]] | None = None) -> Reply:
        top, skip, brief, count_total = paging(params)
        predicates: list[Callable[[dict], bool]] = []
        filters: list[tuple] = []
        if extra is not None:
            filters.append(extra[0])
            predicates.append(extra[1])
        if search:
            after = params.get("updated_after_utc")
            if after:
                try:
                    instant = parse_instant(after)
                except ValueError:
                    raise ApiError(400, f"Invalid updated_after_utc {after!r}: expected ISO 8601 "
                                        "UTC such as 2024-03-04T08:22:56Z") from None
                date_field = resource.date_updated or resource.date_created
                if date_field:
                    predicates.append(updated_after_predicate(date_field, instant))
                    filters.append(("after", date_field, instant.replace(microsecond=0)))
            field_name, field_value = params.get("field_name"), params.get("field_value")
            if (field_name is None) != (field_value is None):
                raise ApiError(400, "field_name and field_value must be given together")
            if field_name is not None:
                predicates.append(self._equality(name, resource, field_name, field_value))
                filters.append(("eq", field_name, field_value.casefold()))
        predicate = None
        if predicates:
            predicate = predicates[0] if len(predicates) == 1 else (
                lambda r: all(p(r) for p in predicates))
        with self.store.lock:
            table: Table = self.store.table(name)
            keys = table.query(self.scrambled(), tuple(filters), predicate)
            chosen = keys[skip:skip + top]
            body = b"[" + b",".join([table.bytes_of(k, brief) for k in chosen]) + b"]"
            total = len(keys)
        headers = {"X-Total-Count": str(total)} if count_total else {}
        return Reply(200, body, headers)

    def _equality(self, name: str, resource: Resource, field_name: str,
                  field_value: str) -> Callable[[dict], bool]:
        wanted = field_value.casefold()
        if field_name.endswith("__c"):
            obj = self.store.custom_field_object(name) or name
            known = {m["FIELD_NAME"] for m in self.store.custom_fields.get(obj, [])}
            if field_name not in known:
                raise ApiError(400, f"Unknown field_name {field_name!r} for {name}")

            def custom(record: dict) -> bool:
                for item in record.get("CUSTOMFIELDS") or []:
                    if item["FIELD_NAME"] == field_name:
                        return _text(item["FIELD_VALUE"]).casefold() == wanted
                return False

            return custom
        kind = resource.field_types.get(field_name)
        if kind is None or kind.startswith(("array:", "object")):
            raise ApiError(400, f"Unknown field_name {field_name!r} for {name}")
        return lambda record: _text(record.get(field_name)).casefold() == wanted


def _record_key(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid id {raw!r}: expected an integer") from None


def _json_object(body: bytes) -> dict:
    try:
        value = json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return value
