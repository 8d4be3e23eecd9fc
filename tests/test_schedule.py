from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracker import schedule

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def seconds_until(due: schedule.Due) -> float:
    return (due.at - NOW).total_seconds()


def test_success_uses_the_interval_with_bounded_jitter() -> None:
    due = schedule.after_success("feed", NOW, 600)
    assert 540 <= seconds_until(due) <= 660 and due.reason == "interval"


def test_jitter_is_stable_for_a_feed_and_differs_between_feeds() -> None:
    assert schedule.after_success("a", NOW, 600) == schedule.after_success("a", NOW, 600)
    spreads = {schedule.jitter_seconds(str(n), NOW, 600) for n in range(20)}
    assert len(spreads) == 20


def test_server_hints_stretch_but_never_shorten_the_interval() -> None:
    assert schedule.after_success("f", NOW, 600, ttl_seconds=60).reason == "interval"
    stretched = schedule.after_success("f", NOW, 600, cache_seconds=3600)
    assert 3240 <= seconds_until(stretched) <= 3960 and "Cache-Control" in stretched.reason
    capped = schedule.after_success("f", NOW, 600, ttl_seconds=30 * 86400)
    assert seconds_until(capped) <= 86400 * 1.1


def test_backoff_doubles_to_a_cap() -> None:
    waits = [seconds_until(schedule.after_failure("f", NOW, 600, n)) for n in range(1, 12)]
    assert 540 <= waits[0] <= 660
    assert 1080 <= waits[1] <= 1320 and 2160 <= waits[2] <= 2640
    assert max(waits) <= schedule.MAX_BACKOFF_SECONDS * 1.1
    assert waits[-1] >= schedule.MAX_BACKOFF_SECONDS * 0.9
    reasons = [schedule.after_failure("f", NOW, 600, n).reason for n in (1, 2)]
    assert reasons == ["backoff after 1 failure", "backoff after 2 failures"]


def test_retry_after_is_honoured_when_longer_than_backoff() -> None:
    due = schedule.after_failure("f", NOW, 600, 1, retry_after=7200)
    assert seconds_until(due) == 7200 and "Retry-After" in due.reason


def test_cache_hints_from_headers() -> None:
    assert schedule.cache_hint_seconds({"cache-control": "public, max-age=900"}, NOW) == 900
    expires = (NOW + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert schedule.cache_hint_seconds({"expires": expires}, NOW) == 7200
    assert schedule.cache_hint_seconds({"expires": "0"}, NOW) is None
    assert schedule.cache_hint_seconds({}, NOW) is None


def test_attention_after_a_day_of_failures() -> None:
    assert not schedule.needs_attention(None, NOW)
    assert not schedule.needs_attention(NOW - timedelta(hours=23), NOW)
    assert schedule.needs_attention(NOW - timedelta(hours=25), NOW)
