"""Dates: Insightly's record dates, RFC 3339 output, and Java date patterns.

Insightly writes dates as ``yyyy-MM-dd HH:mm:ss`` in UTC with no zone; the tap emits
RFC 3339 UTC (``2025-04-22T20:03:25+00:00``). Open Connectors describes date fields
and URL placeholders with Java ``SimpleDateFormat`` patterns, translated here.
"""

from __future__ import annotations

import datetime
import re
import typing as t
import zoneinfo

UTC = datetime.timezone.utc
# Dates before this year overflow date arithmetic (a look-back from year 1), and
# Insightly holds nothing that old: start dates and bookmarks must not be earlier.
EARLIEST_YEAR = 1900


class DatePatternError(ValueError):
    """A Java date pattern or time zone this tap cannot use."""


def insightly_to_rfc3339(value: t.Any) -> t.Any:  # noqa: ANN401
    """``2025-04-22 20:03:25`` -> ``2025-04-22T20:03:25+00:00``; other values as they are.

    Hot path (every date field of every record): string slicing, no parsing.
    """
    if type(value) is str and len(value) == 19 and value[10] == " ":  # noqa: PLR2004
        return f"{value[:10]}T{value[11:]}+00:00"
    if type(value) is str and value.endswith("Z") and "T" in value:
        return value[:-1] + "+00:00"
    return value


def format_rfc3339(moment: datetime.datetime) -> str:
    """RFC 3339 UTC at one-second precision (the API's precision)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0).isoformat()


def parse_rfc3339(value: str) -> datetime.datetime:
    """Parse RFC 3339 / ISO 8601; a value without zone is UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_query_time(moment: datetime.datetime) -> str:
    """The form ``updated_after_utc`` takes: ``2024-03-04T08:22:56Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_zone(name: str) -> datetime.tzinfo:
    """A time zone by Java / IANA name (``GMT``, ``UTC``, ``Europe/Paris``)."""
    if name.upper() in {"GMT", "UTC", "Z", "ETC/UTC", "ETC/GMT"}:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Paris)"
        raise DatePatternError(msg) from exc


# Java SimpleDateFormat letters -> strftime/strptime directives, by run length.
_DIRECTIVES: dict[str, dict[int, str]] = {
    "y": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "M": {1: "%m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%d", 2: "%d"},
    "H": {1: "%H", 2: "%H"},
    "h": {1: "%I", 2: "%I"},
    "m": {1: "%M", 2: "%M"},
    "s": {1: "%S", 2: "%S"},
    "S": {1: "%f", 2: "%f", 3: "%f"},
    "a": {1: "%p"},
    "E": {1: "%a", 2: "%a", 3: "%a", 4: "%A"},
    "Z": {1: "%z"},
    "X": {1: "%z", 2: "%z", 3: "%z"},
    "z": {1: "%Z", 2: "%Z", 3: "%Z", 4: "%Z"},
}
_TOKEN = re.compile(r"'([^']*)'|([A-Za-z])\2*|(.)", re.DOTALL)


class JavaDateFormat:
    """A Java ``SimpleDateFormat`` pattern, for parsing and formatting."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts: list[str] = []
        self._millis = False
        for match in _TOKEN.finditer(pattern):
            quoted, letter, other = match.group(1), match.group(2), match.group(3)
            if quoted is not None:
                parts.append(("'" if quoted == "" else quoted).replace("%", "%%"))
            elif letter is not None:
                run = len(match.group(0))
                directive = _DIRECTIVES.get(letter, {}).get(min(run, max(_DIRECTIVES.get(letter, {0: ""}))))
                if directive is None:
                    msg = f"unsupported letter {match.group(0)!r} in date pattern {pattern!r}"
                    raise DatePatternError(msg)
                self._millis = self._millis or letter == "S"
                parts.append(directive)
            else:
                parts.append(other.replace("%", "%%"))
        if not parts:
            msg = "empty date pattern"
            raise DatePatternError(msg)
        self.strftime = "".join(parts)

    def parse(self, text: str, zone: datetime.tzinfo = UTC) -> datetime.datetime:
        moment = datetime.datetime.strptime(text, self.strftime)  # noqa: DTZ007
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)

    def format(self, moment: datetime.datetime, zone: datetime.tzinfo = UTC) -> str:
        local = moment.astimezone(zone)
        text = local.strftime(self.strftime.replace("%f", "@@MS@@"))
        # Java's SSS is milliseconds, strftime's %f microseconds.
        return text.replace("@@MS@@", f"{local.microsecond // 1000:03d}")


def make_converter(pattern: str, zone_name: str) -> t.Callable[[t.Any], t.Any]:
    """A function turning a record date written as ``pattern`` in ``zone_name`` into
    RFC 3339 UTC (values it cannot read are passed through unchanged)."""
    zone = get_zone(zone_name)
    if pattern in {"yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss'Z'"} and zone is UTC:
        return insightly_to_rfc3339
    if pattern.lower() in {"milliseconds", "epoch", "epochmillis"}:
        return lambda v: v if v is None else format_rfc3339(
            datetime.datetime.fromtimestamp(int(v) / 1000, tz=UTC)
        )
    if pattern.lower() in {"seconds", "epochseconds"}:
        return lambda v: v if v is None else format_rfc3339(
            datetime.datetime.fromtimestamp(int(v), tz=UTC)
        )
    java = JavaDateFormat(pattern)

    def convert(value: t.Any) -> t.Any:  # noqa: ANN401
        if not isinstance(value, str) or not value:
            return value
        try:
            return format_rfc3339(java.parse(value, zone))
        except ValueError:
            return value

    return convert
