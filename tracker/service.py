"""Joins the pipeline: fetch → parse → normalise → store, for every due feed.

The service is handed its config, store, fetcher and clock, so tests can run
the real pipeline against a local server with a fixed `now`. Fetching and
parsing run in worker threads; every database write happens on the calling
thread, one short transaction per feed, never across network I/O.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tracker import schedule
from tracker.addresses import UNRESOLVED_HOST
from tracker.config import Config
from tracker.errors import (
    DeliveryError,
    FetchError,
    HTTPStatusError,
    ParseError,
    ParserFailure,
    StoreError,
)
from tracker.fetch import Fetcher
from tracker.models import FeedState, FetchResult
from tracker.parsepool import ParseOutput, ParserPool, parse_document
from tracker.query import Document
from tracker.store import Store, unreadable_mark
from tracker.timefmt import utc_now
from tracker.topicfeeds import not_written, write_topic_feeds
from tracker.topics import TopicSet
from tracker.wording import counted

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

REDIRECT_CONFIRMATIONS = 3  # permanent redirects in a row before a feed's URL is changed
FETCH_WINDOW = 2  # feeds fetched ahead of the one being stored, per fetch thread

Clock = Callable[[], datetime]
# (document, response headers, feed scope, the URL the document came from)
Parser = Callable[[bytes, dict[str, str], str, str], ParseOutput]


@dataclass(frozen=True)
class FeedOutcome:
    """What happened to one feed in one poll, before it is written down."""

    feed: FeedState
    fetched: FetchResult | None = None
    parsed: ParseOutput | None = None
    body_hash: str | None = None
    unchanged_body: bool = False
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None
    duration_ms: int | None = None
    bytes_received: int | None = None
    deferred_until: datetime | None = None
    skipped: bool = False


@dataclass
class PollSummary:
    """The result of one pass, for the CLI and the daemon's log line."""

    feeds_polled: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_deferred: int = 0
    new_items: int = 0
    revised_items: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    changed_topics: list[str] = field(default_factory=list)
    seconds: float = 0.0
    linked: int = 0              # queued items linked to earlier stories at the end
    link_seconds: float = 0.0    # part of `seconds`
    topic_feeds_written: int = 0  # topic Atom files that changed ([topic_feeds])
    topic_feeds_error: str | None = None

    def line(self) -> str:
        deferred = (f", {self.feeds_deferred} deferred (host asked to wait)"
                    if self.feeds_deferred else "")
        edited = f", {self.revised_items} updated" if self.revised_items else ""
        linking = (f" (linking {self.linked} to earlier stories: {self.link_seconds:.1f}s)"
                   if self.linked else "")
        rewritten = (f"; {counted(self.topic_feeds_written, 'topic feed')} rewritten"
                     if self.topic_feeds_written else "")
        return (f"polled {counted(self.feeds_polled, 'feed')}: {self.feeds_ok} ok "
                f"({self.feeds_not_modified} unchanged), {self.feeds_failed} failed{deferred}; "
                f"{counted(self.new_items, 'new item')}{edited} in {self.seconds:.1f}s{linking}"
                f"{rewritten}")

    def offline(self) -> str | None:
        """What to check when no feed's host resolved (two or more feeds): one
        cause, not a list of failures to read through on a machine's first run."""
        unresolved = sum(UNRESOLVED_HOST in error for _, error in self.failures)
        if unresolved < 2 or unresolved < self.feeds_polled:
            return None
        return (f"none of the {unresolved} feeds' hosts could be resolved: this machine looks "
                "offline, or its DNS is not set up; the feeds are retried with backoff")


def alert_after_poll(config: Config, store: Store, db_path: Path,
                     now: datetime) -> list[tuple[str, str]]:
    """Send what a poll brought the alerting topics and the followed
    storylines, if anything: the main alert, then each named digest's with
    `alerts = true`. For each that had something, how it went and what to
    say: "sent", "held" (waiting for `[alerts] at_most_every`) or "failed" (it
    stays pending for the next poll). The daemon logs them and `tracker poll`
    prints them. Whether there is anything to alert is asked before the
    digest's templates and sanitiser are imported: most polls need neither."""
    if not (config.alert_topics or store.marks.followed_titles()):
        return []
    from tracker.briefing import alert_mailer, send_alert

    outcomes = []
    for named in (None, *(named for named in config.digests if named.alerts)):
        label = "alert" if named is None else f"alert {named.name}"
        try:
            result = send_alert(store, config, alert_mailer(config, db_path, named), now, named)
        except (DeliveryError, StoreError) as exc:
            outcomes.append(("failed", f"{label} not delivered (it stays pending and the next "
                                       f"poll resends it): {exc}"))
            continue
        if result.held:
            outcomes.append(("held", f"{label}: {result.message}"))
        elif result.sent:
            outcomes.append(("sent", f"{label}: {result.message}"))
    return outcomes


def asks_host_to_wait(status: int | None, retry_after: float | None) -> bool:
    """A 429 or 503 with Retry-After: no request to that host until then, from any feed."""
    return retry_after is not None and status in (429, 503)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class HostLimiter:
    """Per-host politeness shared by the fetch threads: at most `per_host`
    fetches at once to any one host (twenty GOV.UK feeds never hit gov.uk
    twenty at a time), and none at all to a host that asked to be left alone
    (429/503 with Retry-After) until its time has passed."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._blocked: dict[str, datetime] = {}

    def __call__(self, url: str) -> threading.BoundedSemaphore:
        host = host_of(url)
        with self._lock:
            if host not in self._semaphores:
                self._semaphores[host] = threading.BoundedSemaphore(self.per_host)
            return self._semaphores[host]

    def block(self, host: str, until: datetime) -> None:
        with self._lock:
            self._blocked[host] = max(until, self._blocked.get(host, until))

    def blocked_until(self, url: str, now: datetime) -> datetime | None:
        with self._lock:
            until = self._blocked.get(host_of(url))
        return until if until is not None and until > now else None


class TrackerService:
    """The application: poll feeds and report on them."""

    def __init__(self, config: Config, store: Store, fetcher: Fetcher,
                 clock: Clock = utc_now, parser: Parser | ParserPool = parse_document) -> None:
        """`parser` is in-process by default; the CLI passes a `ParserPool`,
        which bounds each document in time and memory."""
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.pool = parser if isinstance(parser, ParserPool) else None
        self.parser: Parser = parser.parse if isinstance(parser, ParserPool) else parser
        self.topics = TopicSet(config.topics, config.aliases)
        # Set by the daemon on SIGTERM: fetches not yet started are skipped, the
        # ones in flight finish (each within its own deadline) and are stored.
        self.stopping = threading.Event()
        self.limiter = HostLimiter(config.fetch.per_host)
        self.topic_feeds_failing = False

    def close(self) -> None:
        """Release the HTTP client and the parser processes."""
        self.fetcher.close()
        if self.pool is not None:
            self.pool.close()

    def sync(self) -> list[str]:
        """Bring the database's feeds and topics in line with the config; returns
        the topics whose query changed since their matches were made."""
        self.store.sync_feeds(self.config.feeds, self.clock())
        return self.store.sync_topics(self.config.topics)

    def due_feeds(self, all_feeds: bool = False) -> list[FeedState]:
        now = self.clock()
        return [feed for feed in self.store.feeds()
                if feed.gone_at is None and not feed.paused
                and (all_feeds or schedule.is_due(feed.next_due, now))]

    def poll(self, all_feeds: bool = False) -> PollSummary:
        """Fetch every due feed (every feed with `all_feeds`) and store what is new.

        One feed's failure, whatever it is, is recorded on that feed and never
        stops the others.
        """
        started = time.monotonic()
        changed_topics = self.sync()
        for host, until in self.store.blocked_hosts(self.clock()).items():
            self.limiter.block(host, until)
        feeds = self.due_feeds(all_feeds)
        summary = PollSummary(feeds_polled=len(feeds), changed_topics=changed_topics)
        workers = max(1, min(self.config.fetch.concurrency, len(feeds)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            for outcome in bounded_map(pool, self._fetch_and_parse, feeds, FETCH_WINDOW * workers):
                self._record(outcome, summary)
        if self.pool is not None:
            self.pool.stop_workers()  # not needed again until the next poll
        # Linked once all feeds are stored, oldest first: the same stories make the
        # same storylines whichever response arrived first.
        linking = time.monotonic()
        summary.linked = self.store.link_pending(self.clock(), self.config.links,
                                                 stop=self.stopping.is_set)
        summary.link_seconds = time.monotonic() - linking
        self._write_topic_feeds(summary)
        summary.seconds = time.monotonic() - started
        return summary

    def _write_topic_feeds(self, summary: PollSummary) -> None:
        """The topics' Atom feeds, when configured; a folder that cannot be
        written is reported with the poll, which stands (its items are stored)."""
        try:
            summary.topic_feeds_written = len(
                write_topic_feeds(self.store, self.config, self.store.path))
        except OSError as exc:
            summary.topic_feeds_error = not_written(self.config, self.store.path, exc)
            # Once in the daemon's log, not every few minutes, as for a failing feed.
            log.log(logging.DEBUG if self.topic_feeds_failing else logging.WARNING, "%s",
                    summary.topic_feeds_error)
            self.topic_feeds_failing = True
            return
        if self.topic_feeds_failing:
            log.info("topic feeds written again")
            self.topic_feeds_failing = False

    def _fetch_and_parse(self, feed: FeedState) -> FeedOutcome:
        """Network and CPU work for one feed; runs in a worker thread, writes nothing."""
        started = time.monotonic()
        fetched: FetchResult | None = None
        body_hash: str | None = None
        unreadable: str | None = None  # the body's mark, when it is not a readable feed
        if self.stopping.is_set():
            return FeedOutcome(feed, skipped=True)
        try:
            with self.limiter(feed.url):
                # Checked with the host's slot held: a 429 seen by another thread
                # a moment ago stops this request too.
                wait_until = self.limiter.blocked_until(feed.url, self.clock())
                if wait_until is not None:
                    return FeedOutcome(feed, deferred_until=wait_until)
                fetched = self.fetcher.fetch(feed.url, feed.etag, feed.last_modified)
            if fetched.content is None:
                return FeedOutcome(feed, fetched=fetched)
            body_hash = hashlib.sha256(fetched.content).hexdigest()
            if body_hash == feed.body_hash:
                return FeedOutcome(feed, fetched=fetched, body_hash=body_hash,
                                   unchanged_body=True)
            if unreadable_mark(body_hash) == feed.body_hash and feed.last_error:
                raise ParseError(feed.last_error)  # the very bytes that could not be read
            parsed = self.parser(fetched.content, fetched.headers, str(feed.id),
                                 fetched.final_url)
            return FeedOutcome(feed, fetched=fetched, parsed=parsed, body_hash=body_hash)
        except HTTPStatusError as exc:
            error, status, retry_after = str(exc), exc.status, exc.retry_after
            if asks_host_to_wait(status, retry_after):
                assert retry_after is not None
                self.limiter.block(host_of(feed.url),
                                   self.clock() + timedelta(seconds=retry_after))
        except (FetchError, ParseError) as exc:
            error, status, retry_after = str(exc), None, None
            if isinstance(exc, ParseError) and not isinstance(exc, ParserFailure) and body_hash:
                unreadable = unreadable_mark(body_hash)
        except Exception as exc:  # a bug must not stop the other feeds
            log.exception("unexpected error polling %s", feed.url)
            error, status, retry_after = f"internal error: {type(exc).__name__}: {exc}", None, None
        if fetched is not None:  # fetched fine, but the body is not a readable feed
            status = fetched.status
        return FeedOutcome(feed, error=error, status=status, retry_after=retry_after,
                           body_hash=unreadable, duration_ms=_ms_since(started),
                           bytes_received=fetched.bytes_received if fetched else None)

    def _record(self, outcome: FeedOutcome, summary: PollSummary) -> None:
        feed = outcome.feed
        now = self.clock()
        fetched = outcome.fetched
        if outcome.skipped:
            summary.feeds_polled -= 1
            return
        if outcome.deferred_until is not None:
            self.store.defer(feed.id, outcome.deferred_until,
                             "host asked to wait (Retry-After on another of its feeds)")
            summary.feeds_deferred += 1
            return
        if outcome.error is not None or fetched is None:
            error = outcome.error or "no response"
            gone = outcome.status == 410
            failures = feed.consecutive_failures + 1
            due = schedule.after_failure(feed.config_url, now, feed.interval_seconds, failures,
                                         outcome.retry_after)
            reason = "feed is gone (HTTP 410); remove it from the config" if gone else due.reason
            if asks_host_to_wait(outcome.status, outcome.retry_after):
                self.store.block_host(host_of(feed.url), due.at,
                                      f"HTTP {outcome.status} with Retry-After")
            self.store.record_failure(feed.id, now, error, outcome.status, due.at, reason,
                                      gone=gone, duration_ms=outcome.duration_ms,
                                      bytes_received=outcome.bytes_received,
                                      body_hash=outcome.body_hash)
            summary.feeds_failed += 1
            summary.failures.append((feed.name, error))
            if gone:
                log.info("feed %s is gone (HTTP 410); it will not be polled again", feed.name)
            elif feed.consecutive_failures == 0:
                log.info("feed %s failing: %s", feed.name, error)
            else:
                log.debug("feed %s failed again (%d in a row): %s", feed.name, failures, error)
            return
        hint = schedule.cache_hint_seconds(fetched.headers, now)
        ttl = outcome.parsed.ttl_seconds if outcome.parsed else None
        due = schedule.after_success(feed.config_url, now, feed.interval_seconds, ttl, hint)
        new, revised = self.store.record_success(
            feed.id, now, status=fetched.status, etag=fetched.etag,
            last_modified=fetched.last_modified, body_hash=outcome.body_hash,
            bytes_received=fetched.bytes_received,
            duration_ms=int(fetched.elapsed_seconds * 1000),
            not_modified=fetched.not_modified or outcome.unchanged_body,
            next_due=due.at, due_reason=due.reason,
            items=outcome.parsed.items if outcome.parsed else (),
            title=outcome.parsed.title if outcome.parsed else None,
            warning=_joined(fetched.warning, outcome.parsed.warning) if outcome.parsed
            else feed.last_warning,
            topics=lambda item: self.topics.match(
                Document.of(item.title, item.summary, feed.name, feed.kind)),
        )
        if feed.consecutive_failures:
            log.info("feed %s recovered after %d failures", feed.name, feed.consecutive_failures)
        log.debug("feed %s: HTTP %s, %d bytes, %d new items", feed.name, fetched.status,
                  fetched.bytes_received, new)
        moved_to = self.store.note_redirect(feed.id, fetched.permanent_redirect,
                                            REDIRECT_CONFIRMATIONS)
        if moved_to:
            log.warning("feed %s moved permanently to %s; now polling the new URL",
                        feed.name, moved_to)
        summary.feeds_ok += 1
        summary.feeds_not_modified += int(fetched.not_modified or outcome.unchanged_body)
        summary.new_items += new
        summary.revised_items += revised


def bounded_map(pool: ThreadPoolExecutor, work: Callable[[T], R], inputs: Iterable[T],
                window: int) -> Iterator[R]:
    """`work` on every input in `pool`, results as they complete, with never more
    than `window` inputs submitted whose results the caller has not yet taken.

    Fetch threads outrun the one thread that stores: unbounded, a first poll of
    hundreds of feeds would hold most of their documents and items at once.
    """
    waiting = iter(inputs)
    running = {pool.submit(work, item) for item in islice(waiting, window)}
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        while done:
            future = done.pop()
            yield future.result()
            del future  # the caller is done with it: let its result go
            running.update(pool.submit(work, item) for item in islice(waiting, 1))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _joined(*warnings: str | None) -> str | None:
    """A feed's warnings (from fetching, from parsing) as the one line it keeps."""
    return "; ".join(warning for warning in warnings if warning) or None
