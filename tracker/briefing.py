"""The digest's bookkeeping: what is due, record before sending, mark delivered
only after the server said yes (as rss2email does).

A crash between the server's acceptance and the bookkeeping leaves the digest
pending, so the next attempt sends it again with the same Message-ID: at most
one repeat, never a skipped item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tracker.config import (
    Config,
    DigestSettings,
    NamedDigest,
    beside_database,
    digest_label,
    digest_name,
)
from tracker.digest import DIGEST_TITLE, DigestContent, build_digest, compose
from tracker.errors import DeliveryError
from tracker.mail import Mailer, OutboxMailer, SmtpMailer
from tracker.report import feed_quiet
from tracker.store import Store
from tracker.webhook import MAX_TEXT, WebhookMailer
from tracker.wording import counted


@dataclass(frozen=True)
class DigestResult:
    sent: bool
    message: str
    content: DigestContent | None = None
    held: bool = False  # an alert due but waiting for [alerts] at_most_every


def mailer_for(config: Config, db_path: Path, named: NamedDigest | None = None) -> Mailer:
    """How a digest goes out: the chat webhook of a named digest that has one;
    else SMTP when configured, else an outbox folder of .eml files beside the
    database."""
    if named is not None and named.webhook_env:
        return WebhookMailer(named.webhook_env, config.fetch.proxy, what=named.label)
    if config.digest.smtp is not None:
        return SmtpMailer(config.digest.smtp)
    folder = beside_database(config.digest.outbox or "outbox", db_path)
    return OutboxMailer(folder)


def prepare(store: Store, config: Config, now: datetime,
            named: NamedDigest | None = None) -> DigestContent | None:
    """The digest (the main one, or `named`) as it would be sent now, or None
    when there is nothing to send."""
    settings = config.digest if named is None else named.settings
    since = now - timedelta(seconds=settings.lookback_seconds)
    items = _unmuted(store, store.deliveries.undelivered(since, "digest", digest_name(named)))
    _add_threads(store, items)
    if _carries_follows(named):  # else a named digest reports its readers' topics
        _mark_followed(store, items)
    feeds = store.feeds()
    problems = [(feed.name, feed.last_error) for feed in feeds if feed.last_error]
    problems += [(feed.name, quiet) for feed in feeds if (quiet := feed_quiet(feed, now))]
    # The day `--since` reads in the config's timezone, so the search holds them all.
    first = min((datetime.fromisoformat(item["first_seen"]) for item in items), default=since)
    oldest = first.astimezone(ZoneInfo(config.timezone)).date().isoformat()
    more = f"tracker search --since {oldest} --limit 500 'kind:official OR kind:news'"
    title = DIGEST_TITLE if named is None else f"{DIGEST_TITLE} ({named.name.replace('_', ' ')})"

    def build(shown: DigestSettings) -> DigestContent | None:
        return build_digest(items, problems, now, shown, config.timezone, title=title,
                            more_command=more)

    return _fitting(build, settings) if named and named.webhook_env else build(settings)


def _fitting(build: Callable[[DigestSettings], DigestContent | None],
             settings: DigestSettings) -> DigestContent | None:
    """The digest built with as many of its items shown as a chat post holds
    (`webhook.MAX_TEXT`); the rest are in its "...and N more" line, with the
    command that lists them, as in an email over `max_items`."""
    content = build(settings)
    while (content is not None and len(content.subject) + len(content.text) > MAX_TEXT
           and settings.max_items > 1):
        settings = replace(settings, max_items=max(1, settings.max_items * 2 // 3))
        content = build(settings)
    return content


def send_digest(store: Store, config: Config, mailer: Mailer, now: datetime,
                named: NamedDigest | None = None) -> DigestResult:
    """Record, send, and mark delivered (the main digest, or `named`);
    DeliveryError leaves the digest pending."""
    content = prepare(store, config, now, named)
    if content is None:
        return DigestResult(False, f"nothing new since the last {digest_label(named)}; "
                                   "none sent")
    return _deliver(store, config, mailer, now, content, "digest", named)


ALERT_LOOKBACK = timedelta(days=1)  # seen or published longer ago: not news to alert


def _unmuted(store: Store, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items not in a muted storyline (`tracker mute`): a muted story's next
    reports stay in the archive and out of digests and alerts. Not carried, so
    unmuting within the look-back brings them back."""
    muted = store.marks.muted_ids()
    return [item for item in items if item["storyline_id"] not in muted] if muted else items


def _add_threads(store: Store, items: list[dict[str, Any]]) -> None:
    """Give each item the earlier story it continues (`LinkStore.continues`)."""
    threads = store.links.continues(item["id"] for item in items)
    for item in items:
        item["continues"] = threads.get(item["id"])


def _carries_follows(named: NamedDigest | None) -> bool:
    """Whether the main digest (always) or `named` (with `following = true`)
    carries the followed storylines, in its digest and its alerts."""
    return named is None or named.following


def _mark_followed(store: Store, items: list[dict[str, Any]], joined_since: bool = False) -> None:
    """Give each item of a followed storyline (`tracker follow`) its title as
    `following`, which `build_digest` carries whatever the item's topics; with
    `joined_since`, only the items stored after the storyline was followed (an
    alert is for its next step, not for what was there when it was followed)."""
    followed = store.marks.followed()
    for item in items:
        title, before = followed.get(item["storyline_id"], (None, 0))
        item["following"] = title if not joined_since or item["id"] > before else None


def prepare_alert(store: Store, config: Config, now: datetime,
                  named: NamedDigest | None = None) -> DigestContent | None:
    """The alert due now: the matches of the alerting topics (`alert = true`)
    and the items that joined a followed storyline, first seen and published
    in the last day, that no alert has carried; or None. A topic newly set to
    alert therefore reports at most a day's matches, not its past, and a new
    feed's old items are not alerted. For a named digest with `alerts = true`,
    the alerting topics among its own, bookkept apart (and the followed
    storylines when it has `following = true`, as its digest carries them)."""
    topics = config.alert_topics_of(named)
    if not topics and not (_carries_follows(named) and store.marks.followed_titles()):
        return None
    # What waited for `at_most_every` is news still, however long that was.
    since = now - max(ALERT_LOOKBACK, timedelta(seconds=config.alerts.at_most_every_seconds))
    # News, not a feed's back catalogue: a first poll stores weeks of old items
    # as new, and those belong in the digest, not in an alert.
    items = [item for item in _unmuted(store, store.deliveries.undelivered(
                 since, "alert", digest_name(named)))
             if datetime.fromisoformat(item["published"] or item["first_seen"]) >= since]
    if not items:
        return None
    _add_threads(store, items)
    if _carries_follows(named):
        _mark_followed(store, items, joined_since=True)
    settings = replace(config.digest, topics=topics, include="topics", send_empty=False)
    more = (f"tracker export --since 1d --topic {topics[0]}" if topics
            else "tracker following")
    title = "Alert" if named is None else f"Alert ({named.name.replace('_', ' ')})"

    def build(shown: DigestSettings) -> DigestContent | None:
        return build_digest(items, [], now, shown, config.timezone, title=title,
                            more_command=more, headline_subject=True)

    webhook = config.alerts.webhook_env if named is None else named.webhook_env
    return _fitting(build, settings) if webhook else build(settings)


def alert_mailer(config: Config, db_path: Path, named: NamedDigest | None = None) -> Mailer:
    """The chat webhook when `[alerts] webhook_env` names one, else the digest's
    mail; a named digest's alerts go as that digest does."""
    if named is not None:
        return mailer_for(config, db_path, named)
    if config.alerts.webhook_env:
        return WebhookMailer(config.alerts.webhook_env, config.fetch.proxy)
    return mailer_for(config, db_path)


def send_alert(store: Store, config: Config, mailer: Mailer, now: datetime,
               named: NamedDigest | None = None) -> DigestResult:
    """Email the alerting topics' new matches, if any (to the main digest's
    readers, or `named`'s), as a digest is sent: recorded first, marked
    delivered only once accepted (DeliveryError leaves it pending for the next
    poll). The daily digest still carries them."""
    content = prepare_alert(store, config, now, named)
    if content is None:
        return DigestResult(False, "no new matches of the alerting topics")
    # Held, not dropped: the first poll after the wait sends it all.
    every = timedelta(seconds=config.alerts.at_most_every_seconds)
    last = store.deliveries.last_delivered("alert", digest_name(named)) if every else None
    waits = [(last + every, "at_most_every")] if last is not None and now < last + every else []
    if (quiet_end := config.alerts.quiet_until(now, config.timezone)) is not None:
        waits.append((quiet_end, "quiet_hours"))
    if waits:
        until, why = max(waits)
        return DigestResult(False, f"{counted(content.total, 'new item')} held until "
                                   f"{_clock(until, config.timezone)} ([alerts] {why})",
                            held=True)
    return _deliver(store, config, mailer, now, content, "alert", named)


def _clock(when: datetime, timezone: str) -> str:
    """A time today or tomorrow as the reader's clock shows it: "07:00 GMT"."""
    return when.astimezone(ZoneInfo(timezone)).strftime("%H:%M %Z")


def _deliver(store: Store, config: Config, mailer: Mailer, now: datetime,
             content: DigestContent, kind: str, named: NamedDigest | None) -> DigestResult:
    """Record `content` as the pending digest (or alert: `kind`) of the main
    digest or `named`, send it to its readers (the main digest's without a `to`
    of their own go to its sender), and mark it delivered once accepted."""
    name = digest_name(named)
    to = config.digest.to if named is None else named.settings.to
    domain = config.digest.sender.rsplit("@", 1)[-1] or "localhost"
    digest = store.deliveries.pending_digest(
        now, lambda digest_id: make_msgid(idstring=f"tracker-{kind}-{digest_id}", domain=domain),
        kind, name)
    store.deliveries.fill_digest(digest["id"], content.subject, content.items)
    recipients = list(to) or [config.digest.sender]
    message = compose(content, sender=config.digest.sender, recipients=recipients,
                      message_id=digest["message_id"], now=now,
                      list_unsubscribe=config.digest.list_unsubscribe)
    try:
        where = mailer.send(message, recipients)
    except DeliveryError as exc:
        store.deliveries.digest_attempt(digest["id"], str(exc), now)
        raise
    store.deliveries.digest_attempt(digest["id"], None, now)
    return DigestResult(True, f"sent {content.subject!r} ({counted(content.total, 'item')}) "
                              f"via {where}", content)
