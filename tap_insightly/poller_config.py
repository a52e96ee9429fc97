"""Open Connectors ``event.poller.configuration`` -> resource table rows.

A configuration copied unchanged from an Open Connectors Insightly instance looks like::

    {"contacts": {"url": "/hubs/crm/contacts?where=updated_after_utc='${gmtDate:yyyy-MM-dd HH:mm:ss}'",
                  "idField": "CONTACT_ID",
                  "datesConfiguration": {"updatedDateField": "DATE_UPDATED_UTC",
                                         "updatedDateFormat": "yyyy-MM-dd HH:mm:ss",
                                         "updatedDateTimezone": "GMT", ...}}}

Open Connectors polled its normalised "hub" (``/hubs/crm/accounts`` is Insightly's
Organisations); this tap reads the native endpoint the hub URL stands for, keeps the
resource key as the stream name (so events keep the objectType Open Connectors sent) and
replaces the placeholder (the last poll time) by its own bookmark.
"""

from __future__ import annotations

import json
import re
import typing as t
from urllib.parse import parse_qsl, urlsplit

from tap_insightly.dates import DatePatternError, JavaDateFormat, get_zone
from tap_insightly.resources import (
    RESOURCES,
    RESOURCES_BY_NAME,
    Resource,
    custom_object_resource,
)


class PollerConfigError(ValueError):
    """A poller_configuration this tap cannot follow (message names the place)."""


#: Open Connectors' CRM hub names for Insightly objects, where they differ from ours.
HUB_ALIASES = {
    "accounts": "organisations",
    "organizations": "organisations",
    "activities-events": "events",
    "activities-tasks": "tasks",
    "activities-notes": "notes",
}

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
# One where-condition on the updated date: ``updated_after_utc='${...}'`` or
# ``DATE_UPDATED_UTC >= '${...}'``.
_DATE_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|>=|>)\s*'?(\$\{[^}]*\})'?\s*$")
_NATIVE_PASS_THROUGH = {"field_name", "field_value", "brief"}
_NATIVE_MANAGED = {"top", "skip", "count_total", "updated_after_utc"}
_TARGET_KEYS = {"createdCheckTolerance"}
_KNOWN_KEYS = {"url", "idField", "datesConfiguration", "pageSize", "pollDelay", "filterByUpdatedDate"}
_DATES_KEYS = {
    "updatedDateField",
    "updatedDateFormat",
    "updatedDateTimezone",
    "createdDateField",
    "createdDateFormat",
    "createdDateTimezone",
}


def check_placeholder(body: str, where: str) -> None:
    """Validate one ``${...}`` placeholder (the last poll time in some form)."""
    kind, _, rest = body.partition(":")
    try:
        if kind in {"gmtDate", "date"}:
            JavaDateFormat(rest)
        elif kind == "dateTimeZone":
            zone, sep, pattern = rest.partition(":")
            if not sep:
                msg = "expected ${dateTimeZone:ZONE:FORMAT}"
                raise DatePatternError(msg)
            get_zone(zone)
            JavaDateFormat(pattern)
        elif kind == "epoch":
            if rest not in {"", "s", "ms", "us"}:
                msg = "expected ${epoch}, ${epoch:s}, ${epoch:ms} or ${epoch:us}"
                raise DatePatternError(msg)
        else:
            msg = "unknown placeholder (expected gmtDate, date, dateTimeZone or epoch)"
            raise DatePatternError(msg)
    except DatePatternError as exc:
        msg = f"{where}: ${{{body}}}: {exc}"
        raise PollerConfigError(msg) from None


def _resource_for_path(segment: str, where: str) -> Resource:
    lowered = segment.lower()
    name = HUB_ALIASES.get(lowered, lowered)
    if name in RESOURCES_BY_NAME:
        return RESOURCES_BY_NAME[name]
    for row in RESOURCES:
        if row.path.lower() == lowered:
            return row
    if lowered.endswith("__c"):
        return custom_object_resource(segment)
    known = ", ".join(sorted(RESOURCES_BY_NAME))
    msg = f"{where}: unknown Insightly resource {segment!r} (known: {known}, or a custom object NAME__c)"
    raise PollerConfigError(msg)


def parse_url(url: str, where: str) -> tuple[Resource, dict[str, t.Any], list[str]]:
    """Map a hub or native URL onto a table row, query parameters and warnings."""
    for match in _PLACEHOLDER.finditer(url):
        check_placeholder(match.group(1), where)
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if "hubs" in segments:
        # /hubs/crm/contacts, also with Open Connectors' own prefix
        # (https://api.openconnectors.../elements/api-v2/hubs/crm/contacts).
        segments = segments[segments.index("hubs") + 2 :]
    elif segments and segments[0].lower() in {"v3.1", "v3.0"}:
        segments = segments[1:]
    if segments and segments[-1].lower() == "search":
        segments = segments[:-1]
    if len(segments) != 1:
        msg = f"{where}: cannot read {parts.path!r} (expected /hubs/crm/RESOURCE or /RESOURCE)"
        raise PollerConfigError(msg)
    base = _resource_for_path(segments[0], where)
    params: dict[str, str] = {}
    warnings: list[str] = []
    date_filtered = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        lowered = key.lower()
        if lowered == "where":
            for condition in re.split(r"\s+and\s+", value, flags=re.IGNORECASE):
                match = _DATE_CONDITION.match(condition)
                if match and match.group(1).lower() in {
                    "updated_after_utc",
                    (base.updated_field or "").lower(),
                }:
                    date_filtered = True
                else:
                    warnings.append(f"{where}: condition {condition.strip()!r} is not supported and is ignored")
        elif lowered in _NATIVE_PASS_THROUGH:
            params[lowered] = value
        elif lowered == "updated_after_utc":
            date_filtered = True
        elif lowered in _NATIVE_MANAGED:
            continue
        else:
            warnings.append(f"{where}: query parameter {key!r} is not supported and is ignored")
    if ("field_name" in params) != ("field_value" in params):
        msg = f"{where}: field_name and field_value must be given together"
        raise PollerConfigError(msg)
    return base, {"params": tuple(sorted(params.items())), "date_filtered": date_filtered}, warnings


def _int_in(value: t.Any, low: int, high: int | None, where: str) -> int:  # noqa: ANN401
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        msg = f"{where}: expected a whole number"
        raise PollerConfigError(msg)
    try:
        number = int(value)
    except ValueError:
        msg = f"{where}: expected a whole number, got {value!r}"
        raise PollerConfigError(msg) from None
    if number < low or (high is not None and number > high):
        bound = f"{low} to {high}" if high is not None else f"{low} or more"
        msg = f"{where}: {number} is out of range ({bound})"
        raise PollerConfigError(msg)
    return number


def _entry(name: str, entry: t.Any) -> tuple[Resource, list[str]]:  # noqa: ANN401, C901, PLR0912
    where = f"poller_configuration.{name}"
    if not isinstance(entry, dict):
        msg = f"{where}: expected an object with url, idField, datesConfiguration, ..."
        raise PollerConfigError(msg)
    warnings = []
    for key in entry:
        if key in _TARGET_KEYS:
            warnings.append(f"{where}.{key} is used by target-webhook, not the tap; ignored here")
        elif key not in _KNOWN_KEYS:
            warnings.append(f"{where}.{key} is not used by tap-insightly; ignored")
    if "url" in entry:
        if not isinstance(entry["url"], str) or not entry["url"].strip():
            msg = f"{where}.url: expected a URL such as /hubs/crm/contacts?where=..."
            raise PollerConfigError(msg)
        base, query, url_warnings = parse_url(entry["url"], f"{where}.url")
        warnings += url_warnings
    elif name in RESOURCES_BY_NAME or name in HUB_ALIASES:
        base, query = RESOURCES_BY_NAME[HUB_ALIASES.get(name, name)], None
    else:
        base, query, _ = parse_url(f"/{name}", where)
    changes: dict[str, t.Any] = {"name": name, "schema_name": base.schema_key}
    if query is not None:
        changes["params"] = query["params"]
        if not query["date_filtered"] and base.updated_field:
            # A URL without the date condition read everything on every poll.
            changes["filter_by_updated"] = False
    if "idField" in entry:
        if not isinstance(entry["idField"], str) or not entry["idField"]:
            msg = f"{where}.idField: expected a field name such as CONTACT_ID"
            raise PollerConfigError(msg)
        changes["key"] = (entry["idField"],)
    dates = entry.get("datesConfiguration", {})
    if not isinstance(dates, dict):
        msg = f"{where}.datesConfiguration: expected an object"
        raise PollerConfigError(msg)
    for key in dates:
        if key not in _DATES_KEYS:
            warnings.append(f"{where}.datesConfiguration.{key} is not used by tap-insightly; ignored")
    for side in ("updated", "created"):
        field = dates.get(f"{side}DateField")
        if field is not None:
            changes[f"{side}_field"] = field
        pattern = dates.get(f"{side}DateFormat")
        if pattern is not None:
            if pattern.lower() not in {"milliseconds", "seconds", "epoch"}:
                try:
                    JavaDateFormat(pattern)
                except DatePatternError as exc:
                    msg = f"{where}.datesConfiguration.{side}DateFormat: {exc}"
                    raise PollerConfigError(msg) from None
            changes[f"{side}_format"] = pattern
        zone = dates.get(f"{side}DateTimezone")
        if zone is not None:
            try:
                get_zone(zone)
            except DatePatternError as exc:
                msg = f"{where}.datesConfiguration.{side}DateTimezone: {exc}"
                raise PollerConfigError(msg) from None
            changes[f"{side}_timezone"] = zone
    if "pageSize" in entry:
        changes["page_size"] = _int_in(entry["pageSize"], 2, 500, f"{where}.pageSize")
    if "pollDelay" in entry:
        changes["look_back"] = _int_in(entry["pollDelay"], 0, None, f"{where}.pollDelay")
    if "filterByUpdatedDate" in entry:
        flag = entry["filterByUpdatedDate"]
        if not isinstance(flag, bool):
            msg = f"{where}.filterByUpdatedDate: expected true or false"
            raise PollerConfigError(msg)
        changes["filter_by_updated"] = flag and changes.get("filter_by_updated", True)
    return base.replace(**changes), warnings


def parse_poller_configuration(value: t.Any) -> tuple[list[Resource], list[str]]:  # noqa: ANN401
    """Rows (overrides of the defaults or new resources) and one warning per unused key."""
    if value is None or value == "":
        return [], []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            msg = f"poller_configuration: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            raise PollerConfigError(msg) from None
    if not isinstance(value, dict):
        msg = "poller_configuration: expected an object keyed by resource (e.g. {\"contacts\": {...}})"
        raise PollerConfigError(msg)
    rows, warnings = [], []
    for name, entry in value.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            msg = f"poller_configuration: resource key {name!r} is not a valid stream name"
            raise PollerConfigError(msg)
        row, entry_warnings = _entry(name, entry)
        rows.append(row)
        warnings += entry_warnings
    return rows, warnings
