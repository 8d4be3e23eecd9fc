"""The stored form of times: ISO 8601 in UTC, second precision, so that text
comparison in SQL orders them correctly."""

from __future__ import annotations

from datetime import UTC, datetime


def to_text(when: datetime | None) -> str | None:
    """Aware datetime to the stored form."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds")


def from_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
