"""The control API for tests, under ``/_sandbox/`` (not part of Insightly's API).

JSON in and out, no authentication; requests here are not rate-limited, not counted against
the quota and not in the request log. Each endpoint maps onto a :class:`SandboxClient` method.

=======  ==============================  ==============================================================
Method   Path                            Body / query → result
=======  ==============================  ==============================================================
GET      /_sandbox/state                 → options, quota used/remaining, clock, faults, gates
GET      /_sandbox/requests              ?path_prefix=/Contacts → [{method, path, query, status, time}]
DELETE   /_sandbox/requests              clear the request log
GET      /_sandbox/clock                 → {now, iso, frozen}
POST     /_sandbox/clock/freeze          {"at": "2026-01-01T00:00:00Z" | null}  (null: now)
POST     /_sandbox/clock/set             {"at": "..."}
POST     /_sandbox/clock/advance         {"seconds": 1.5}
POST     /_sandbox/clock/unfreeze        {}
POST     /_sandbox/faults                {path_prefix, status=429, count=1 (-1: always), retry_after,
                                         kind=status|drop|truncate_short|truncate_length|delay,
                                         delay_ms, method="GET" ("*": any)}
GET      /_sandbox/faults                → the faults still armed
DELETE   /_sandbox/faults                clear faults
POST     /_sandbox/plan_gates            {path_prefix, status: 403|404}
DELETE   /_sandbox/plan_gates            clear plan gates
POST     /_sandbox/schedule              {path_prefix, after_requests: N, changes: [{op, resource,
                                         id, fields}]} — applied right after the N-th next request
                                         to a matching path has been answered
GET      /_sandbox/schedule              → scheduled changes and whether they were applied
DELETE   /_sandbox/schedule              clear scheduled changes
POST     /_sandbox/changes               {changes: [...]} apply now (as users would; dates = now)
POST     /_sandbox/custom_fields         {object_name, field_name, field_type="TEXT", label, options}
POST     /_sandbox/custom_objects        {object_name, fields: [{FIELD_NAME, FIELD_TYPE}],
                                         records: [{RECORD_NAME, X__c: value, ...}]}
POST     /_sandbox/quota/reset           daily quota back to full
POST     /_sandbox/settings              any of {daily_limit, rate_limit, latency_ms, scrambled}
POST     /_sandbox/data/reset            re-seed the data (same seed and scale)
GET      /_sandbox/count/{Resource}      → {"count": N}
GET      /_sandbox/records/{Resource}    → all records, ascending id
=======  ==============================  ==============================================================
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .clock import parse_instant
from .server import FAULT_KINDS, Fault, ScheduledChange, apply_changes, normalize_prefix
from .store import ApiError

if TYPE_CHECKING:
    from .server import SandboxState


def _instant(payload: dict, key: str = "at"):
    raw = payload.get(key)
    try:
        return parse_instant(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"{key} must be an ISO 8601 UTC time such as 2026-01-01T00:00:00Z") from None


def _table_name(state: SandboxState, name: str) -> str:
    store = state.store
    if name in store.custom_objects or (name in store.spec.resources and not name.startswith("{")):
        return name
    raise ApiError(404, f"Unknown resource {name}")


def handle_control(state: SandboxState, method: str, path: str, query: dict[str, list[str]],
                   payload: Any) -> tuple[int, Any]:
    if not isinstance(payload, dict):
        raise ApiError(400, "The control API takes a JSON object")
    route = (method, path.rstrip("/") or "/")
    store = state.store
    clock = state.clock
    if route == ("GET", "/state"):
        opts = state.options
        with state.lock:
            return 200, {
                "options": {k: v for k, v in asdict(opts).items() if k != "api_key"},
                "used": state.used, "remaining": max(0, opts.daily_limit - state.used),
                "clock": clock.state(), "faults": [asdict(f) for f in state.faults if f.count],
                "plan_gates": dict(state.plan_gates),
            }
    if route == ("GET", "/requests"):
        prefix = (query.get("path_prefix") or [None])[0]
        with state.lock:
            entries = list(state.log)
        if prefix:
            from .server import API_PREFIX, _segment_prefix
            wanted = normalize_prefix(prefix)
            entries = [e for e in entries if _segment_prefix(
                wanted, e["path"][len(API_PREFIX):] if e["path"].startswith(API_PREFIX) else e["path"])]
        return 200, entries
    if route == ("DELETE", "/requests"):
        with state.lock:
            state.log.clear()
        return 200, {"cleared": True}
    if route == ("GET", "/clock"):
        return 200, clock.state()
    if route == ("POST", "/clock/freeze"):
        clock.freeze(None if payload.get("at") is None else _instant(payload))
        return 200, clock.state()
    if route == ("POST", "/clock/set"):
        clock.set(_instant(payload))
        return 200, clock.state()
    if route == ("POST", "/clock/advance"):
        seconds = payload.get("seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise ApiError(400, "seconds must be a number")
        clock.advance(seconds)
        return 200, clock.state()
    if route == ("POST", "/clock/unfreeze"):
        clock.unfreeze()
        return 200, clock.state()
    if route == ("POST", "/faults"):
        kind = payload.get("kind", "status")
        if kind not in FAULT_KINDS:
            raise ApiError(400, f"kind must be one of {', '.join(FAULT_KINDS)}")
        count = payload.get("count", 1)
        if count is None:
            count = -1
        fault = Fault(path_prefix=normalize_prefix(payload.get("path_prefix")),
                      status=int(payload.get("status", 429)), count=int(count),
                      retry_after=payload.get("retry_after"), kind=kind,
                      delay_ms=int(payload.get("delay_ms", 0)), method=payload.get("method", "GET"))
        with state.lock:
            state.faults.append(fault)
        return 201, asdict(fault)
    if route == ("GET", "/faults"):
        with state.lock:
            return 200, [asdict(f) for f in state.faults if f.count]
    if route == ("DELETE", "/faults"):
        with state.lock:
            state.faults.clear()
        return 200, {"cleared": True}
    if route == ("POST", "/plan_gates"):
        status = int(payload.get("status", 403))
        if status not in (403, 404):
            raise ApiError(400, "status must be 403 or 404")
        with state.lock:
            state.plan_gates[normalize_prefix(payload.get("path_prefix"))] = status
        return 201, dict(state.plan_gates)
    if route == ("DELETE", "/plan_gates"):
        with state.lock:
            state.plan_gates.clear()
        return 200, {"cleared": True}
    if route == ("POST", "/schedule"):
        after = payload.get("after_requests")
        changes = payload.get("changes")
        if not isinstance(after, int) or after < 0 or not isinstance(changes, list):
            raise ApiError(400, "need after_requests (an integer >= 0) and changes (a list)")
        item = ScheduledChange(normalize_prefix(payload.get("path_prefix")), after, changes)
        if after == 0:
            apply_changes(store, changes)
            item.applied = True
        with state.lock:
            state.schedule.append(item)
        return 201, asdict(item)
    if route == ("GET", "/schedule"):
        with state.lock:
            return 200, [asdict(s) for s in state.schedule]
    if route == ("DELETE", "/schedule"):
        with state.lock:
            state.schedule.clear()
        return 200, {"cleared": True}
    if route == ("POST", "/changes"):
        changes = payload.get("changes")
        if not isinstance(changes, list):
            raise ApiError(400, "changes must be a list")
        return 200, apply_changes(store, changes)
    if route == ("POST", "/custom_fields"):
        meta = store.add_custom_field(payload.get("object_name", ""), payload.get("field_name", ""),
                                      payload.get("field_type", "TEXT"), payload.get("label"),
                                      payload.get("options") or ())
        return 201, meta
    if route == ("POST", "/custom_objects"):
        definition = store.add_custom_object(payload.get("object_name", ""),
                                             fields=payload.get("fields"),
                                             records=payload.get("records"),
                                             singular=payload.get("singular_label"),
                                             plural=payload.get("plural_label"))
        return 201, definition
    if route == ("POST", "/quota/reset"):
        with state.lock:
            state.used = 0
            state.window.clear()
        return 200, {"remaining": state.options.daily_limit}
    if route == ("POST", "/settings"):
        opts = state.options
        with state.lock:
            if "daily_limit" in payload:
                opts.daily_limit = int(payload["daily_limit"])
            if "rate_limit" in payload:
                opts.rate_limit = None if payload["rate_limit"] is None else int(payload["rate_limit"])
            if "latency_ms" in payload:
                opts.latency_ms = int(payload["latency_ms"])
            if "scrambled" in payload:
                opts.scrambled = bool(payload["scrambled"])
        return 200, {k: v for k, v in asdict(opts).items() if k != "api_key"}
    if route == ("POST", "/data/reset"):
        state.reset_data()
        return 200, {"reset": True}
    if method == "GET" and path.startswith(("/count/", "/records/")):
        _, what, name = path.split("/", 2)
        name = _table_name(state, name)
        with store.lock:
            table = store.table(name)
            if what == "count":
                return 200, {"count": len(table.records)}
            return 200, [table.records[k] for k in table.ordered_keys(False)]
    raise ApiError(404, f"No control endpoint {method} /_sandbox{path}")
