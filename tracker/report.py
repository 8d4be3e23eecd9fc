"""What `tracker status` and `tracker export` say, as plain data. Pure.

The JSON shapes built here are a stable interface for scripts and monitoring:
add keys freely, never rename or remove one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker import schedule
from tracker.models import FeedState, StoredItem
from tracker.store import to_text


def feed_problem(feed: FeedState, now: datetime) -> str | None:
    """Why this feed needs a person, or None."""
    if feed.gone_at is not None:
        return "gone (HTTP 410): the publisher removed this feed"
    if schedule.needs_attention(feed.failing_since, now):
        return "failing for more than a day"
    return None


def feed_status(feed: FeedState, now: datetime) -> dict[str, Any]:
    return {
        "name": feed.name,
        "url": feed.url,
        "config_url": feed.config_url,
        "kind": feed.kind,
        "title": feed.title,
        "interval_seconds": feed.interval_seconds,
        "last_attempt": to_text(feed.last_attempt),
        "last_success": to_text(feed.last_success),
        "last_status": feed.last_status,
        "not_modified": feed.last_not_modified,
        "bytes": feed.last_bytes,
        "duration_ms": feed.last_duration_ms,
        "last_error": feed.last_error,
        "last_warning": feed.last_warning,
        "consecutive_failures": feed.consecutive_failures,
        "failing_since": to_text(feed.failing_since),
        "next_due": to_text(feed.next_due),
        "due_reason": feed.due_reason,
        "gone": feed.gone_at is not None,
        "redirected_from": feed.redirected_from,
        "item_count": feed.item_count,
        "newest_item": to_text(feed.newest_item),
        "new_items_last_poll": feed.last_new_items,
        "problem": feed_problem(feed, now),
    }


def status_report(feeds: list[FeedState], totals: dict[str, int],
                  now: datetime) -> dict[str, Any]:
    entries = [feed_status(feed, now) for feed in feeds]
    attention = [entry["name"] for entry in entries if entry["problem"]]
    return {
        "generated_at": to_text(now),
        "totals": {
            "feeds": totals["feeds"],
            "failing": totals["failing"],
            "items": totals["items"],
            "never_polled": sum(1 for feed in feeds if feed.last_attempt is None),
        },
        "needs_attention": attention,
        "ok": not attention,
        "feeds": entries,
    }


def item_record(item: StoredItem) -> dict[str, Any]:
    """One line of `tracker export --format jsonl`."""
    return {
        "id": item.id,
        "feed": item.feed_name,
        "feed_kind": item.feed_kind,
        "seen_in": list(item.seen_in),
        "url": item.url,
        "title": item.title,
        "published": item.published,
        "updated": item.updated,
        "first_seen": item.first_seen,
        "summary": item.summary,
    }


def ago(when: datetime | None, now: datetime) -> str:
    """'3m ago', '2h ago', 'in 5m', or '-' for never: short enough for an 80-column table."""
    if when is None:
        return "-"
    seconds = int((now - when).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds // size}{unit}"
            break
    else:
        text = f"{seconds}s"
    return f"in {text}" if future else f"{text} ago"
