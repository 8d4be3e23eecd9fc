"""What `tracker status` and `tracker export` say, as plain data. Pure.

The JSON shapes built here are a stable interface for scripts and monitoring:
add keys freely, never rename or remove one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracker import schedule
from tracker.link import SAME_STORY_DAYS
from tracker.models import FeedConfig, FeedState, StoredItem
from tracker.timefmt import to_text


def feed_problem(feed: FeedState, now: datetime) -> str | None:
    """Why this feed needs a person, or None."""
    if feed.gone_at is not None:
        return "gone (HTTP 410): the publisher removed this feed"
    if schedule.needs_attention(feed.failing_since, now):
        return "failing for more than a day"
    return None


QUIET_MIN_ITEMS = 5            # fewer items say nothing of a feed's rhythm
QUIET_AFTER_USUAL_GAPS = 5     # silent this many of its usual gaps between items ...
QUIET_AT_LEAST = timedelta(days=14)  # ... and never less than this


def feed_quiet(feed: FeedState, now: datetime) -> str | None:
    """A notice for a feed that answers but has stopped bringing anything new
    for far longer than its own rhythm: a feed left behind at an old address
    after a site moved looks healthy forever. Not a failure (a parliament in
    recess is quiet too): status shows it, and does not exit 1 for it."""
    if (feed.last_error or feed.gone_at or feed.paused or feed.item_count < QUIET_MIN_ITEMS
            or feed.newest_item is None or feed.oldest_item is None):
        return None
    usual = (feed.newest_item - feed.oldest_item) / (feed.item_count - 1)
    if now - feed.newest_item <= max(QUIET_AT_LEAST, QUIET_AFTER_USUAL_GAPS * usual):
        return None
    return (f"quiet since {feed.newest_item.date().isoformat()} (an item every {_span(usual)} "
            "before): is the feed still published here?")


def _span(gap: timedelta) -> str:
    """A gap between items, roughly: '40m', '6h', '3d'."""
    seconds = max(int(gap.total_seconds()), 60)
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{round(seconds / size)}{unit}"
    return f"{seconds // 60}m"


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
        "paused": feed.paused,
        "redirected_from": feed.redirected_from,
        "item_count": feed.item_count,
        "newest_item": to_text(feed.newest_item),
        "oldest_item": to_text(feed.oldest_item),
        "quiet": feed_quiet(feed, now),
        "new_items_last_poll": feed.last_new_items,
        "problem": feed_problem(feed, now),
    }


HEARTBEAT_STALE_AFTER = timedelta(minutes=2)  # the daemon beats every 15 s


def heartbeat_problem(heartbeat: dict[str, Any] | None, now: datetime) -> str | None:
    """Why the daemon needs a person: it stopped beating without a clean stop."""
    if heartbeat is None or heartbeat.get("stopped"):
        return None
    if now - datetime.fromisoformat(heartbeat["last_beat"]) > HEARTBEAT_STALE_AFTER:
        return (f"the daemon (pid {heartbeat['pid']}) stopped beating at "
                f"{heartbeat['last_beat']}: crashed or killed? Start `tracker run` again")
    return None


def daemon_status(heartbeat: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    if heartbeat is None:
        return {"state": "never run", "problem": None}
    problem = heartbeat_problem(heartbeat, now)
    state = "stopped" if heartbeat.get("stopped") else "stale" if problem else "running"
    return {"state": state, "pid": heartbeat["pid"], "started": heartbeat["started"],
            "last_beat": heartbeat["last_beat"], "stopped": heartbeat.get("stopped"),
            "last_poll": heartbeat.get("last_poll"), "next_poll": heartbeat.get("next_poll"),
            "problem": problem}


def backup_status(state: dict[str, Any] | None) -> dict[str, Any]:
    """The last backup, and whether the last attempt failed (which needs a person
    until a backup works again: an archive that is not backed up any more)."""
    if state is None:
        return {"state": "never", "problem": None}
    failing = state["error"] is not None
    problem = f"the last backup failed ({state['failed']}): {state['error']}" if failing else None
    return {"state": "failing" if failing else "ok", **state, "problem": problem}


def delivery_label(row: dict[str, Any]) -> str:
    """"digest", "alert", or "digest NAME" for a named digest ([digests.NAME])."""
    return f"{row['kind']} {row['name']}" if row.get("name") else str(row["kind"])


def delivery_problems(failing: list[dict[str, Any]]) -> list[str]:
    """A line for each digest or alert that could not be delivered: mail that
    does not arrive looks like a quiet day unless someone says so."""
    return [f"the {delivery_label(row)} of {row['created'][:16].replace('T', ' ')} UTC is not "
            f"delivered after {row['attempts']} "
            f"attempt{'' if row['attempts'] == 1 else 's'}: {row['last_error']}"
            for row in failing]


def status_report(feeds: list[FeedState], totals: dict[str, int], now: datetime,
                  heartbeat: dict[str, Any] | None = None,
                  backup: dict[str, Any] | None = None,
                  failing_deliveries: list[dict[str, Any]] | None = None,
                  last_deliveries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entries = [feed_status(feed, now) for feed in feeds]
    attention = [entry["name"] for entry in entries if entry["problem"]]
    daemon = daemon_status(heartbeat, now)
    if daemon["problem"]:
        attention.append("daemon")
    backups = backup_status(backup)
    if backups["problem"]:
        attention.append("backup")
    deliveries = failing_deliveries or []
    attention += sorted({delivery_label(row) for row in deliveries})
    return {
        "generated_at": to_text(now),
        "totals": {
            "feeds": totals["feeds"],
            "failing": totals["failing"],
            "items": totals["items"],
            "storylines": totals["storylines"],
            # New items stored but not linked yet (a poll stopped before linking).
            "waiting_to_link": totals["waiting_to_link"],
            "never_polled": sum(1 for feed in feeds if feed.last_attempt is None),
            "database_bytes": totals["database_bytes"],  # with its -wal file
        },
        "needs_attention": attention,
        "ok": not attention,
        "daemon": daemon,
        "backup": backups,
        "undelivered": [{**row, "problem": problem} for row, problem
                        in zip(deliveries, delivery_problems(deliveries), strict=True)],
        # The last digest, each named digest and the last alert that went out.
        "delivered": [{**row, "label": delivery_label(row)} for row in last_deliveries or []],
        "feeds": entries,
    }


def continues_text(earlier: dict[str, Any] | None, tz: ZoneInfo) -> str | None:
    """The earlier story an item continues, as a line for people ("UK and Ukraine
    sign drone partnership (Defence News, 1 Jul 2025)"), from `LinkStore.continues`:
    only a follow-up across days; a same-day report of the same event is no
    thread to point at."""
    if not earlier or earlier["kind"] != "follow_up" or earlier["gap_days"] <= SAME_STORY_DAYS:
        return None
    day = datetime.fromisoformat(earlier["at"]).astimezone(tz).strftime("%-d %b %Y")
    return f"{earlier['title']} ({earlier['feed']}, {day})"


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
        "storyline": item.storyline_id,
    }


AGO_DAYS = 60  # further back than this, a date says more than "4194d ago"


def ago(when: datetime | None, now: datetime) -> str:
    """'3m ago', '2h ago', 'in 5m', '2014-08-03' for long ago, or '-' for never:
    short enough for an 80-column table."""
    if when is None:
        return "-"
    if now - when > timedelta(days=AGO_DAYS):
        return when.date().isoformat()
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


def config_drift(configs: Sequence[FeedConfig], feeds: Sequence[FeedState]) -> str:
    """How the config's feeds differ from those the database polls ("2 added,
    1 removed"), or "" when they agree: what a running daemon has not
    taken until it reloads."""
    configured = {feed.url: feed for feed in configs}
    polled = {feed.config_url: feed for feed in feeds}
    changed = sum(1 for url in configured.keys() & polled.keys()
                  if (configured[url].name, configured[url].kind.value,
                      configured[url].interval_seconds, configured[url].paused)
                  != (polled[url].name, polled[url].kind, polled[url].interval_seconds,
                      polled[url].paused))
    counts = [(len(configured.keys() - polled.keys()), "added"),
              (len(polled.keys() - configured.keys()), "removed"), (changed, "changed")]
    return ", ".join(f"{count} {how}" for count, how in counts if count)
