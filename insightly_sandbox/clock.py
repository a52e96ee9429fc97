"""The sandbox clock: every date the sandbox writes and every ``Date`` header come from it.

Tests freeze, set and advance it so that same-second scenarios are deterministic.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime

RECORD_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 (``2026-01-01T00:00:00Z``) or Insightly's ``2026-01-01 00:00:00`` as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def record_date(value: datetime) -> str:
    """Insightly's record date layout: ``yyyy-MM-dd HH:mm:ss``, UTC, no zone."""
    return value.astimezone(timezone.utc).strftime(RECORD_FORMAT)


class SandboxClock:
    """Real time plus an offset, or a frozen instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None

    def timestamp(self) -> float:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), tz=timezone.utc)

    def now_record(self) -> str:
        return record_date(self.now())

    def http_date(self) -> str:
        return format_datetime(self.now().replace(microsecond=0), usegmt=True)

    def freeze(self, at: datetime | None = None) -> None:
        current = self.timestamp() if at is None else at.timestamp()
        with self._lock:
            self._frozen = current

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
                self._frozen = None

    def set(self, at: datetime) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen = at.timestamp()
            else:
                self._offset = at.timestamp() - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def state(self) -> dict:
        return {"now": self.now_record(), "iso": self.now().isoformat().replace("+00:00", "Z"),
                "frozen": self._frozen is not None}

    def reset(self) -> None:
        with self._lock:
            self._offset, self._frozen = 0.0, None
