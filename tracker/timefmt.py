"""The stored form of times: ISO 8601 in UTC, second precision, so that text
comparison in SQL orders them correctly."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    """The clock, read in one place: the pure modules are handed `now` instead."""
    return datetime.now(UTC)


def to_text(when: datetime | None) -> str | None:
    """Aware datetime to the stored form."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds")


def from_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def local_day(text: str | None, timezone: str) -> str:
    """A stored time's day (YYYY-MM-DD) in the reader's `timezone`, as the digest
    dates items: 00:30 in London on 1 September is stored as 23:30 UTC on
    31 August, and is the 1st to the reader. "" for no time."""
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone(ZoneInfo(timezone)).date().isoformat()


def local_time(text: str | None, timezone: str) -> str:
    """A stored time to the minute in the reader's `timezone`, with the zone's
    abbreviation ("2025-11-04 01:30 EET"), for a person reading one item; ""
    for no time."""
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone(ZoneInfo(timezone)).strftime(
        "%Y-%m-%d %H:%M %Z")
