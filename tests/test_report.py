"""What status says of times and of quiet feeds. Pure: `now` is handed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.models import FeedState
from tracker.report import ago, feed_quiet
from tracker.wording import counted

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


def feed(items: int, oldest_days: float, newest_days: float, **health: object) -> FeedState:
    """A feed whose `items` items span from `oldest_days` to `newest_days` ago."""
    return FeedState(id=1, config_url="u", url="u", name="MoD", kind="official",
                     interval_seconds=1800, active=True, item_count=items,
                     oldest_item=NOW - timedelta(days=oldest_days),
                     newest_item=NOW - timedelta(days=newest_days), **health)  # type: ignore[arg-type]


def test_a_feed_silent_far_beyond_its_rhythm_is_noticed() -> None:
    daily = feed(21, oldest_days=40, newest_days=20)  # an item a day, then 20 days of nothing
    assert feed_quiet(daily, NOW) == ("quiet since 2026-11-05 (an item every 1d before): "
                                      "is the feed still published here?")
    assert feed_quiet(feed(21, oldest_days=30, newest_days=10), NOW) is None  # 14 days at least


def test_a_slow_feed_is_judged_by_its_own_rhythm() -> None:
    monthly = feed(20, oldest_days=60 + 19 * 30, newest_days=60)  # two missed months: normal
    assert feed_quiet(monthly, NOW) is None
    assert feed_quiet(feed(20, oldest_days=200 + 19 * 30, newest_days=200), NOW) is not None


@pytest.mark.parametrize("health", [
    {"last_error": "the server answered 404 Not Found"},  # a failure says more
    {"paused": True},
    {"gone_at": NOW},
])
def test_feeds_with_something_else_to_say_are_not_called_quiet(health: dict[str, object]) -> None:
    assert feed_quiet(feed(21, oldest_days=40, newest_days=20, **health), NOW) is None


def test_a_handful_of_items_says_nothing_of_a_rhythm() -> None:
    assert feed_quiet(feed(4, oldest_days=400, newest_days=300), NOW) is None


def test_counts_read_as_english_for_one_and_for_many() -> None:
    assert counted(1, "feed") == "1 feed"
    assert counted(0, "item") == "0 items"
    assert counted(2, "new item") == "2 new items"
