"""``SandboxClient``: the Python face of a running sandbox, over HTTP only.

Record writes (``create``, ``update``, ``delete``, ``create_note``) go through the real API
with the API key, as a user's would: they use quota and appear in the request log. Everything
else talks to the control API under ``/_sandbox/``, which does neither.
"""

from __future__ import annotations

from typing import Any

import requests

from .server import API_PREFIX


class SandboxError(RuntimeError):
    """The sandbox answered a control or write call with an error status."""


class SandboxClient:
    def __init__(self, base_url: str, api_key: str = "test-key", timeout: float = 30) -> None:
        base = base_url.rstrip("/")
        self.api_url = base if base.endswith(API_PREFIX) else base + API_PREFIX
        self.root_url = self.api_url[: -len(API_PREFIX)]
        self.control_url = self.root_url + "/_sandbox"
        self.timeout = timeout
        self._api = requests.Session()
        self._api.auth = (api_key, "")
        self._control = requests.Session()

    def __repr__(self) -> str:  # never shows the key
        return f"SandboxClient({self.api_url!r})"

    def close(self) -> None:
        self._api.close()
        self._control.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        response = self._control.request(method, self.control_url + path, json=body,
                                         params=params, timeout=self.timeout)
        if response.status_code >= 400:
            raise SandboxError(f"{method} /_sandbox{path} -> {response.status_code}: {response.text}")
        return response.json()

    def _write(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self._api.request(method, self.api_url + path, json=body, timeout=self.timeout)
        if response.status_code != expect:
            raise SandboxError(f"{method} {API_PREFIX}{path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    # -- simulated users (real API calls) ---------------------------------------------------
    def create(self, resource: str, fields: dict) -> dict:
        return self._write("POST", f"/{resource}", fields, expect=201)

    def update(self, resource: str, fields: dict) -> dict:
        return self._write("PUT", f"/{resource}", fields)

    def delete(self, resource: str, record_id: Any) -> None:
        self._write("DELETE", f"/{resource}/{record_id}", expect=202)

    def create_note(self, parent: str, parent_id: Any, fields: dict) -> dict:
        return self._write("POST", f"/{parent}/{parent_id}/Notes", fields, expect=201)

    # -- request log ----------------------------------------------------------------------------
    def requests(self, path_prefix: str | None = None) -> list[dict]:
        params = {"path_prefix": path_prefix} if path_prefix else None
        return self._call("GET", "/requests", params=params)

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    # -- clock --------------------------------------------------------------------------------
    def clock_freeze(self, at: str | None = None) -> dict:
        return self._call("POST", "/clock/freeze", {"at": at})

    def clock_set(self, at: str) -> dict:
        return self._call("POST", "/clock/set", {"at": at})

    def clock_advance(self, seconds: float) -> dict:
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def clock_unfreeze(self) -> dict:
        return self._call("POST", "/clock/unfreeze", {})

    def now(self) -> str:
        return self._call("GET", "/clock")["now"]

    # -- faults, gates, scheduled changes ---------------------------------------------------------
    def fault(self, path_prefix: str, status: int = 429, count: int | None = 1,
              retry_after: Any = None, kind: str = "status", delay_ms: int = 0,
              method: str | None = "GET") -> dict:
        return self._call("POST", "/faults", {
            "path_prefix": path_prefix, "status": status, "count": count,
            "retry_after": retry_after, "kind": kind, "delay_ms": delay_ms, "method": method})

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def plan_gate(self, path_prefix: str, status: int = 403) -> None:
        self._call("POST", "/plan_gates", {"path_prefix": path_prefix, "status": status})

    def clear_plan_gates(self) -> None:
        self._call("DELETE", "/plan_gates")

    def schedule_change(self, path_prefix: str, after_requests: int, changes: list[dict]) -> dict:
        return self._call("POST", "/schedule", {"path_prefix": path_prefix,
                                                "after_requests": after_requests,
                                                "changes": changes})

    def apply_changes(self, changes: list[dict]) -> list[dict]:
        return self._call("POST", "/changes", {"changes": changes})

    # -- schema drift -----------------------------------------------------------------------------
    def add_custom_field(self, object_name: str, field_name: str, field_type: str = "TEXT",
                         label: str | None = None, options: list[str] | None = None) -> dict:
        return self._call("POST", "/custom_fields", {
            "object_name": object_name, "field_name": field_name, "field_type": field_type,
            "label": label, "options": options or []})

    def add_custom_object(self, object_name: str, records: list[dict] | None = None,
                          fields: list[dict] | None = None) -> dict:
        return self._call("POST", "/custom_objects", {"object_name": object_name,
                                                      "records": records or [],
                                                      "fields": fields or []})

    # -- limits, settings, data -------------------------------------------------------------------
    def reset_quota(self) -> None:
        self._call("POST", "/quota/reset", {})

    def set_daily_limit(self, limit: int) -> None:
        self._call("POST", "/settings", {"daily_limit": limit})

    def set_rate_limit(self, limit: int | None) -> None:
        self._call("POST", "/settings", {"rate_limit": limit})

    def set_latency(self, ms: int) -> None:
        self._call("POST", "/settings", {"latency_ms": ms})

    def set_scrambled(self, scrambled: bool) -> None:
        self._call("POST", "/settings", {"scrambled": scrambled})

    def reset_data(self) -> None:
        self._call("POST", "/data/reset", {})

    def state(self) -> dict:
        return self._call("GET", "/state")

    def count(self, resource: str) -> int:
        return self._call("GET", f"/count/{resource}")["count"]

    def all_records(self, resource: str) -> list[dict]:
        return self._call("GET", f"/records/{resource}")
