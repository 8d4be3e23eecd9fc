"""How status words times: short relative times, a date for long ago."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.report import ago

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=21), "21s ago"),
    (timedelta(minutes=3, seconds=59), "3m ago"),
    (timedelta(hours=2), "2h ago"),
    (timedelta(days=59), "59d ago"),
    (timedelta(minutes=-5), "in 5m"),
    # a feed whose newest item is years old: "4194d ago" would hide that it is 2015
    (timedelta(days=4194), "2015-06-02"),
])
def test_times_read_at_a_glance(delta: timedelta, text: str) -> None:
    assert ago(NOW - delta, NOW) == text


def test_never_is_a_dash() -> None:
    assert ago(None, NOW) == "-"
