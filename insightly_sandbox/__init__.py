"""A faithful local Insightly API v3.1 sandbox (and, from ``insightly_sandbox.inbox``, a
webhook inbox) for tests, the demo and benchmarks.

``running_sandbox(...)`` serves the API on a free port of 127.0.0.1 from a background thread and
yields the base URL (``http://127.0.0.1:PORT/v3.1``); ``SandboxClient`` drives it (simulated
users through the real API, everything else through the control API under ``/_sandbox/``).
The command ``insightly-sandbox`` does the same from a shell. See ``docs/sandbox-contract.md``.

Where it comes from: paths, id fields, field sets and types are generated from Insightly's
Swagger document into ``data/spec.json`` (``tools/extract_spec.py``); the captured responses in
``data/samples/`` are served verbatim and win where they differ from the document.

Assumptions where Insightly's behaviour is unknown:
- ``top`` > 500 is served as 500; ``top`` < 1 and ``skip`` < 0 answer 400.
- ``updated_after_utc`` is strictly after at one-second precision; on Emails (no
  DATE_UPDATED_UTC) it filters on DATE_CREATED_UTC.
- ``field_value`` equality is textual and case-insensitive; ``__c`` names filter custom fields.
- Unknown query parameters are ignored; ``updated_after_utc`` is honoured only on ``/Search``
  (and on ``/{Parent}/{id}/Notes``, where the document lists it).
- 429 carries ``Retry-After`` only when an injected fault sets it. Requests answered 401 or
  429 use no quota and do not count in the one-second window.
- The daily quota resets when the sandbox clock passes midnight UTC (reportedly Insightly's
  reset time).
- Deleted records simply disappear (no tombstones), as in Insightly.
- AUTONUMBER custom field values are strings of digits.
- Error bodies are plain text (the control API answers JSON).
- Writes check field names against the document (unknown field → 400), required fields on
  create (as the document lists them), value types, and custom field names and types.
  Read-only ids and DATE_CREATED_UTC/DATE_UPDATED_UTC in a body are ignored; OWNER_USER_ID and
  CREATED_USER_ID default to the API key's user.
- Paths of the document outside replication and simulated users (file attachments, follows,
  images, per-record Tags/Links/Dates endpoints, ...) answer 404 with a plain-text reason.

Data sizes: contacts = 100 x ``scale`` (plus the captured contact); the other resources grow
with ``scale`` up to 20 and then stay, so that 100,000 contacts start in seconds and fit in
memory. Beyond the first 300 records of a resource, records are variants of those (new ids,
names, dates and custom field values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import SandboxClient
from .server import SandboxServer, running_sandbox

if TYPE_CHECKING:
    from .inbox import InboxClient, running_inbox

__all__ = ["InboxClient", "SandboxClient", "SandboxServer", "running_inbox", "running_sandbox"]


def __getattr__(name: str) -> Any:
    # The inbox is another module (another engineer's); import it only when asked for.
    if name in ("running_inbox", "InboxClient"):
        from . import inbox

        return getattr(inbox, name)
    raise AttributeError(f"module 'insightly_sandbox' has no attribute {name!r}")
