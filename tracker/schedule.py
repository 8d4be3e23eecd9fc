"""When is a feed next due, and why. Pure: the caller passes `now`.

The decision is kept in one place so that the CLI poll, the daemon and
`tracker status` agree on it, and so it can be tested without a clock.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tracker.wording import counted

MAX_BACKOFF_SECONDS = 24 * 3600
MAX_HINT_SECONDS = 24 * 3600
JITTER_FRACTION = 0.1
FAILING_ALERT_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Due:
    """The next time a feed should be fetched and the reason, for people."""

    at: datetime
    reason: str


def jitter_seconds(feed_key: str, when: datetime, interval: int) -> float:
    """A stable spread of up to ±10% of the interval, so feeds do not poll in lockstep.

    Derived from the feed and the time rather than a random generator, so a
    test can predict it and a restart does not reshuffle everything.
    """
    digest = hashlib.sha256(f"{feed_key}|{when.isoformat()}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64  # in [0, 1)
    return (unit * 2 - 1) * JITTER_FRACTION * interval


def cache_hint_seconds(headers: dict[str, str], now: datetime) -> int | None:
    """Freshness the server asked for: Cache-Control max-age, else Expires."""
    control = headers.get("cache-control", "")
    match = re.search(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", control, re.IGNORECASE)
    if match:
        return int(match.group(1))
    expires = headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0, int((when - now).total_seconds()))
    return None


def after_success(feed_key: str, now: datetime, interval: int,
                  ttl_seconds: int | None = None, cache_seconds: int | None = None) -> Due:
    """Next poll after a good fetch: the configured interval, stretched (never
    shortened) by the server's own hints, capped at a day."""
    seconds = float(interval)
    reason = "interval"
    for hint, name in ((ttl_seconds, "feed <ttl>"), (cache_seconds, "Cache-Control/Expires")):
        if hint and hint > seconds:
            seconds, reason = float(min(hint, MAX_HINT_SECONDS)), f"server hint ({name})"
    seconds = max(1.0, seconds + jitter_seconds(feed_key, now, int(seconds)))
    return Due(now + timedelta(seconds=seconds), reason)


def after_failure(feed_key: str, now: datetime, interval: int, failures: int,
                  retry_after: float | None = None) -> Due:
    """Next attempt after `failures` failures in a row: exponential backoff to a cap,
    and never before the server's Retry-After."""
    exponent = min(max(failures - 1, 0), 16)
    seconds = float(min(interval * 2**exponent, MAX_BACKOFF_SECONDS))
    reason = f"backoff after {counted(failures, 'failure')}"
    if retry_after is not None and retry_after > seconds:
        seconds = min(retry_after, 7 * MAX_BACKOFF_SECONDS)
        reason = "server asked to retry later (Retry-After)"
    else:
        seconds = max(1.0, seconds + jitter_seconds(feed_key, now, int(seconds)))
    return Due(now + timedelta(seconds=seconds), reason)


def is_due(next_due: datetime | None, now: datetime) -> bool:
    """A feed never polled is due; otherwise when its time has come."""
    return next_due is None or next_due <= now


def needs_attention(failing_since: datetime | None, now: datetime) -> bool:
    """A feed that has failed for more than a day needs a person."""
    return failing_since is not None and now - failing_since > FAILING_ALERT_AFTER
