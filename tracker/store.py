"""SQLite storage: the store and the modules it hands parts of its connection
to (`linkstore` for related stories, `marks` for stars, follows and mutes,
`deliveries` for the digests' bookkeeping) are the only ones that speak SQL.

Concurrency rules (see the measured facts in the design notes): WAL mode, a busy
timeout, and every write transaction opened with `BEGIN IMMEDIATE`, because a
deferred transaction that reads and then writes fails at once with "database
is locked" when another writer is active. No transaction is ever held across
network I/O: the service fetches and parses first, then writes in one short
transaction per feed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tracker.deliveries import Deliveries
from tracker.errors import StoreError, reason
from tracker.itemjson import TOPICS_JSON, with_json
from tracker.link import LinkSettings
from tracker.linkstore import LinkStore, ids_condition
from tracker.marks import Marks
from tracker.models import FeedConfig, FeedState, Item, Period, StoredItem, TopicConfig
from tracker.timefmt import from_text, to_text
from tracker.topics import TopicHit

BUSY_TIMEOUT_SECONDS = 30.0
# The newest schema migration (tracker/migrations.py; a test keeps this current).
# A database that has it needs no migrating, and the migration machinery
# (sqlite-utils) is then not even imported: most runs are a short `poll`.
NEWEST_MIGRATION = "0021_mutes"


_FEED_TIMES = {"last_attempt", "last_success", "failing_since", "next_due", "gone_at",
               "newest_item", "oldest_item"}
_FEED_FIELDS = {f.name for f in fields(FeedState)}


def _feed_state(row: sqlite3.Row) -> FeedState:
    values: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 (iterating a Row yields values)
        if key not in _FEED_FIELDS:
            continue
        value = row[key]
        if key in _FEED_TIMES:
            value = from_text(value)
        elif key in ("active", "last_not_modified", "paused"):
            value = bool(value)
        values[key] = value
    return FeedState(**values)


FUTURE_TOLERANCE = timedelta(days=1)  # clocks and time zones get this wrong; typos more


def _period_condition(period: Period | None) -> tuple[str, tuple[Any, ...]]:
    """A condition keeping the items (`i`) dated in `period`, and its parameters."""
    if period is None:
        return "1", ()
    start, end = to_text(period.start), to_text(period.end)
    return ("(? IS NULL OR coalesce(i.published, i.first_seen) >= ?) "
            "AND (? IS NULL OR coalesce(i.published, i.first_seen) < ?)", (start, start, end, end))


def believed_date(when: datetime | None, now: datetime) -> datetime | None:
    """A feed's date for an item, unless it is more than a day ahead of `now`:
    a wrong clock or a typo (2099) would keep the item at the top of every
    list for years. Then none, and the item is dated when it was first seen."""
    return when if when is None or when <= now + FUTURE_TOLERANCE else None


UNREADABLE = "unreadable:"  # feeds.body_hash of a body that was not a readable feed


def unreadable_mark(body_hash: str) -> str:
    """What a feed keeps as its body hash when that body was not a readable feed:
    the same bytes fetched again fail the same way without being parsed (a
    parser process started for a broken feed on every poll). Never equal to a
    readable body's hash, so a body that parsed is still recognised as such."""
    return UNREADABLE + body_hash


class Store:
    """A tracker database file. Open with `Store.open(path)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, read_only: bool = False) -> None:
        self.conn = conn
        self.path = path
        # Opened by a user who may read the file but not write it (an analyst
        # beside the daemon's service account, a backup on read-only media):
        # the commands that only read work; a write is refused by `write`.
        self.read_only = read_only
        self.links = LinkStore(conn, path)
        self.marks = Marks(conn, self.write)
        self.deliveries = Deliveries(conn, self.write)
        # A transaction belongs to the connection, not the thread: two threads
        # writing through one Store (the daemon's heartbeat job and its poll)
        # must take turns, or the second BEGIN fails inside the first's
        # transaction. Re-entrant so that a nested write fails as SQLite says,
        # rather than waiting for itself.
        self._writing = threading.RLock()

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) and migrate the database at `path`.

        StoreError, with the file left as it was, when it cannot be created or
        opened, is not an SQLite database, or is another application's: a
        mistyped --db must not end in a traceback, nor in tracker's tables
        written into someone else's database."""
        read_only = path.exists() and not _may_write(path)
        try:
            if read_only:
                conn = _connect_read_only(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS,
                                       isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            foreign = _foreign_tables(conn)
            if not foreign and not read_only:
                conn.execute("PRAGMA journal_mode = WAL")
        except StoreError:
            raise
        except (OSError, sqlite3.OperationalError) as exc:
            raise StoreError(f"{path}: cannot create or open the database ({reason(exc)}); "
                             "pass --db PATH or set TRACKER_DB to a place tracker may "
                             "write") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not an SQLite database ({exc}); check --db or "
                             "TRACKER_DB (the file was left as it is)") from None
        if foreign:
            conn.close()
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise StoreError(f"{path}: another application's database (tables: {shown}); "
                             "tracker keeps a database of its own: pass --db with a new "
                             "file name (the file was left as it is)")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        store = cls(conn, path, read_only)
        if not store._has_migration(NEWEST_MIGRATION):
            if read_only:
                conn.close()
                raise StoreError(f"{path}: written by an earlier tracker, and upgrading it needs "
                                 "write access, which tracker has not here: run a tracker "
                                 "command once as a user who may write it (the daemon does "
                                 "when it starts)")
            from sqlite_utils import Database

            from tracker.migrations import migrations

            # The connection goes on serving the poll: left as SQLite's defaults
            # (sqlite-utils would turn recursive triggers on, so that REPLACE fires
            # delete triggers only in a process that migrated), and no installed
            # sqlite-utils plugin gets to change it.
            db = Database(conn, recursive_triggers=False, execute_plugins=False)
            if migrations.pending(db):
                with store.write():
                    migrations.apply(db)
        return store

    def _has_migration(self, name: str) -> bool:
        try:
            return self.conn.execute(
                "SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'tracker' AND name = ?",
                (name,)).fetchone() is not None
        except sqlite3.OperationalError:  # a new database: no migrations table yet
            return False

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE),
        one thread at a time on this connection."""
        if self.read_only:
            raise StoreError(f"{self.path}: tracker may only read this database here (no "
                             "write permission), and this command writes to it; run it as a "
                             "user who may write the database, such as the daemon's")
        with self._writing:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.conn.execute("COMMIT")
            except BaseException as exc:
                if self.conn.in_transaction:  # SQLite may have rolled it back itself
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and \
                        exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL:
                    raise StoreError(disk_full(self.path)) from None
                raise

    # -- feeds -------------------------------------------------------------

    def sync_feeds(self, configs: Iterable[FeedConfig], now: datetime) -> None:
        """Make the feeds table agree with the config: add new feeds, update names,
        kinds and intervals, and mark feeds no longer configured inactive (their
        items and history are kept)."""
        configs = list(configs)
        with self.write():
            for feed in configs:
                self.conn.execute(
                    """
                    INSERT INTO feeds (config_url, url, name, kind, interval_seconds, active,
                                       added_at, paused)
                    VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                    ON CONFLICT (config_url) DO UPDATE SET
                        name = excluded.name, kind = excluded.kind,
                        interval_seconds = excluded.interval_seconds, active = 1,
                        paused = excluded.paused
                    WHERE (name, kind, interval_seconds, active, paused)
                        IS NOT (excluded.name, excluded.kind, excluded.interval_seconds, 1,
                                excluded.paused)
                    """,
                    (feed.url, feed.url, feed.name, feed.kind.value, feed.interval_seconds,
                     to_text(now), feed.paused),
                )
            urls = [feed.url for feed in configs]
            marks = ",".join("?" * len(urls))
            self.conn.execute(
                f"UPDATE feeds SET active = 0 WHERE active = 1 AND config_url NOT IN ({marks})",
                urls,
            )

    def feeds(self) -> list[FeedState]:
        """The feeds in the config with their health, in config order, each with
        its item count and its newest and oldest item's dates (kept per feed as
        items are stored, see migration 0013: one row a feed, however large the
        archive)."""
        return [_feed_state(row) for row in self.conn.execute(
            """
            SELECT f.*, coalesce(c.items, 0) AS item_count, c.newest AS newest_item,
                   c.oldest AS oldest_item
            FROM feeds f LEFT JOIN feed_counts c ON c.feed_id = f.id
            WHERE f.active = 1 ORDER BY f.id
            """)]

    def record_failure(self, feed_id: int, now: datetime, error: str, status: int | None,
                       next_due: datetime, due_reason: str, gone: bool = False,
                       duration_ms: int | None = None,
                       bytes_received: int | None = None,
                       body_hash: str | None = None) -> None:
        """A failed attempt: the error, one more in the streak, when to try next.

        `body_hash`, given when the body was not a readable feed, marks it (see
        `unreadable_mark`); any other failure drops such a mark, so that a
        marked body always goes with the error it caused in `last_error`."""
        with self.write():
            self.conn.execute(
                """
                UPDATE feeds SET last_attempt = ?, last_status = ?, last_error = ?,
                    body_hash = CASE WHEN ? IS NOT NULL THEN ?
                                     WHEN body_hash LIKE ? THEN NULL ELSE body_hash END,
                    consecutive_failures = consecutive_failures + 1,
                    failing_since = coalesce(failing_since, ?),
                    last_not_modified = 0, last_bytes = ?, last_duration_ms = ?,
                    last_new_items = 0, next_due = ?, due_reason = ?,
                    gone_at = CASE WHEN ? THEN coalesce(gone_at, ?) ELSE gone_at END
                WHERE id = ?
                """,
                (to_text(now), status, error, body_hash, body_hash, UNREADABLE + "%",
                 to_text(now), bytes_received, duration_ms,
                 to_text(next_due),
                 due_reason, gone, to_text(now), feed_id),
            )

    def record_success(self, feed_id: int, now: datetime, *, status: int,
                       etag: str | None, last_modified: str | None, body_hash: str | None,
                       bytes_received: int, duration_ms: int, not_modified: bool,
                       next_due: datetime, due_reason: str, items: Iterable[Item] = (),
                       title: str | None = None, warning: str | None = None,
                       topics: Callable[[Item], list[TopicHit]] | None = None,
                       ) -> tuple[int, int]:
        """A good fetch: store new items, their topic matches and the feed's health
        in one transaction.

        Returns how many items were new and how many revised. Items already known
        (by any of their keys) are only remembered as also seen in this feed
        unless their own feed edited them; `topics` is asked about new and
        revised items only. New items wait in the link queue for
        `link_pending`, which a poll runs once every feed is stored.
        """
        with self.write():
            new = revised = 0
            official = self.conn.execute("SELECT kind FROM feeds WHERE id = ?",
                                         (feed_id,)).fetchone()["kind"] == "official"
            for item in items:
                item_id, change = self._store_item(feed_id, item, now, official)
                if change == "promoted":
                    self.links.mark_official(item_id)
                if change in ("revised", "promoted"):  # new words: topics matched afresh
                    revised += change == "revised"
                    self.conn.execute("DELETE FROM topic_matches WHERE item_id = ?", (item_id,))
                if change in ("new", "revised", "promoted"):
                    new += change == "new"
                    for hit in topics(item) if topics else ():
                        self._insert_match(item_id, hit, now)
            self.conn.execute(
                """
                UPDATE feeds SET last_attempt = ?, last_success = ?, last_status = ?,
                    last_error = NULL, last_warning = ?, consecutive_failures = 0,
                    failing_since = NULL, last_not_modified = ?, last_bytes = ?,
                    last_duration_ms = ?, last_new_items = ?, next_due = ?, due_reason = ?,
                    etag = ?, last_modified = ?, body_hash = coalesce(?, body_hash),
                    title = coalesce(?, title)
                WHERE id = ?
                """,
                (to_text(now), to_text(now), status, warning, not_modified, bytes_received,
                 duration_ms, new, to_text(next_due), due_reason, etag, last_modified,
                 body_hash, title, feed_id),
            )
        return new, revised

    def link_pending(self, now: datetime, settings: LinkSettings,
                     stop: Callable[[], bool] = lambda: False, batch: int = 200) -> int:
        """Link the queued new items to earlier stories, oldest first; returns how many.

        Runs in short transactions of `batch` items so that a large first poll
        neither holds the write lock for long nor loses its work to a stop: what
        is not linked yet stays queued for the next poll.
        """
        linked = 0
        with self.write():
            state = self.links.start_pass()
        if not state.queued:
            return 0
        finder = self.links.finder(now, settings, state)
        try:
            while not stop():
                with self.write():
                    done = self.links.link_pending(now, settings, batch, state, finder)
                linked += done
                if done < batch:
                    break
        finally:
            finder.close()
        return linked

    def note_redirect(self, feed_id: int, target: str | None, threshold: int) -> str | None:
        """Count a permanent redirect to `target` (None: none this time).

        Returns the new URL once the same target has been seen `threshold`
        times in a row; the feed's URL is then changed and the old one kept in
        `redirected_from`.
        """
        with self.write():
            row = self.conn.execute("SELECT redirect_target, redirect_streak FROM feeds "
                                    "WHERE id = ?", (feed_id,)).fetchone()
            if target is None:
                if row["redirect_target"] is not None:
                    self.conn.execute("UPDATE feeds SET redirect_target = NULL, "
                                      "redirect_streak = 0 WHERE id = ?", (feed_id,))
                return None
            streak = row["redirect_streak"] + 1 if row["redirect_target"] == target else 1
            if streak < threshold:
                self.conn.execute("UPDATE feeds SET redirect_target = ?, redirect_streak = ? "
                                  "WHERE id = ?", (target, streak, feed_id))
                return None
            self.conn.execute(
                "UPDATE feeds SET redirected_from = url, url = ?, redirect_target = NULL, "
                "redirect_streak = 0 WHERE id = ?",
                (target, feed_id))
            return target

    def defer(self, feed_id: int, until: datetime, reason: str) -> None:
        """Move a feed's next attempt without counting a failure."""
        with self.write():
            self.conn.execute("UPDATE feeds SET next_due = ?, due_reason = ? WHERE id = ?",
                              (to_text(until), reason, feed_id))

    def block_host(self, host: str, until: datetime, reason: str) -> None:
        with self.write():
            self.conn.execute(
                "INSERT INTO hosts (host, blocked_until, reason) VALUES (?, ?, ?) "
                "ON CONFLICT (host) DO UPDATE SET blocked_until = max(blocked_until, "
                "excluded.blocked_until), reason = excluded.reason",
                (host, to_text(until), reason))

    def blocked_hosts(self, now: datetime) -> dict[str, datetime]:
        """Hosts that asked for no requests until a time still in the future."""
        rows = self.conn.execute("SELECT host, blocked_until FROM hosts WHERE blocked_until > ?",
                                 (to_text(now),))
        return {row["host"]: datetime.fromisoformat(row["blocked_until"]) for row in rows}

    def _insert_match(self, item_id: int, hit: TopicHit, now: datetime) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO topic_matches (item_id, topic, terms, matched_at) "
            "VALUES (?, ?, ?, ?)", (item_id, hit.topic, json.dumps(list(hit.terms)), to_text(now)))

    def _store_item(self, feed_id: int, item: Item, now: datetime,
                    official: bool = False) -> tuple[int, str]:
        """Insert `item` unless one of its keys is known. Returns its id and what
        happened: "new", "revised" (its own feed changed its title or summary, or
        gave a newer `updated`: the old version is kept as a revision),
        "promoted" (first stored from the press, now seen in an official feed,
        whose words it takes) or "seen".

        Another feed carrying the same story with other words is not an edit.
        """
        marks = ",".join("?" * len(item.keys))
        known = {
            row["key"]: row["item_id"]
            for row in self.conn.execute(
                f"SELECT key, item_id FROM item_keys WHERE key IN ({marks})", item.keys
            )
        }
        item_id = next((known[key] for key in item.keys if key in known), None)
        change = "seen"
        if item_id is not None:
            change = self._maybe_revise(item_id, feed_id, item, now)
            if change == "seen" and official:
                change = self._maybe_promote(item_id, feed_id, item, now)
        if item_id is None:
            change = "new"
            dated = believed_date(item.dated, now)
            cursor = self.conn.execute(
                """
                INSERT INTO items (feed_id, guid, url, canonical_url, title, summary, author,
                                   published, updated, first_seen, content_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (feed_id, item.guid, item.url, item.canonical_url, item.title, item.summary,
                 item.author, to_text(dated), to_text(item.updated), to_text(now),
                 item.content_hash),
            )
            item_id = int(cursor.lastrowid or 0)
            self.links.enqueue(item_id, dated or now)  # linked once every feed is stored
        for key in item.keys:
            if key not in known:
                self.conn.execute("INSERT OR IGNORE INTO item_keys (key, item_id) VALUES (?, ?)",
                                  (key, item_id))
        self.conn.execute(
            "INSERT OR IGNORE INTO item_feeds (item_id, feed_id, first_seen) VALUES (?, ?, ?)",
            (item_id, feed_id, to_text(now)),
        )
        return item_id, change

    def _maybe_revise(self, item_id: int, feed_id: int, item: Item, now: datetime) -> str:
        row = self.conn.execute("SELECT feed_id, title, summary, updated, content_hash "
                                "FROM items WHERE id = ?", (item_id,)).fetchone()
        if row["feed_id"] != feed_id or row["content_hash"] == item.content_hash:
            return "seen"
        self.conn.execute(
            "INSERT INTO item_revisions (item_id, replaced_at, title, summary, updated, "
            "content_hash) VALUES (?, ?, ?, ?, ?, ?)",
            (item_id, to_text(now), row["title"], row["summary"], row["updated"],
             row["content_hash"]))
        self.conn.execute(
            "UPDATE items SET title = ?, summary = ?, updated = coalesce(?, updated), "
            "content_hash = ?, revised_at = ? WHERE id = ?",
            (item.title, item.summary, to_text(item.updated), item.content_hash, to_text(now),
             item_id))
        # Keep the last 20 versions: a feed that rewrites an item every poll must
        # not grow the archive without bound.
        self.conn.execute(
            "DELETE FROM item_revisions WHERE item_id = ? AND id NOT IN (SELECT id FROM "
            "item_revisions WHERE item_id = ? ORDER BY id DESC LIMIT 20)", (item_id, item_id))
        return "revised"

    def _maybe_promote(self, item_id: int, feed_id: int, item: Item, now: datetime) -> str:
        """Official source first: an item first stored from a news feed takes the
        official feed's words and becomes that feed's item (not an edit)."""
        row = self.conn.execute(
            "SELECT f.kind FROM items i JOIN feeds f ON f.id = i.feed_id WHERE i.id = ?",
            (item_id,)).fetchone()
        if row["kind"] == "official":
            return "seen"
        self.conn.execute(
            "UPDATE items SET feed_id = ?, title = ?, summary = ?, content_hash = ?, "
            "published = coalesce(?, published), updated = coalesce(?, updated) WHERE id = ?",
            (feed_id, item.title, item.summary, item.content_hash,
             to_text(believed_date(item.published, now)), to_text(item.updated), item_id))
        return "promoted"

    def revisions(self, item_id: int) -> list[dict[str, Any]]:
        """Earlier versions of an item, oldest first."""
        return [dict(row) for row in self.conn.execute(
            "SELECT * FROM item_revisions WHERE item_id = ? ORDER BY id", (item_id,))]

    def item(self, item_id: int) -> dict[str, Any] | None:
        """One item with its feed, every feed it was seen in, and its topics."""
        row = self.conn.execute(
            f"""
            SELECT i.*, f.name AS feed, f.kind AS kind,
                   (SELECT json_group_array(g.name) FROM item_feeds x
                      JOIN feeds g ON g.id = x.feed_id WHERE x.item_id = i.id) AS seen_in,
                   {TOPICS_JSON}
            FROM items i JOIN feeds f ON f.id = i.feed_id WHERE i.id = ?
            """, (item_id,)).fetchone()
        return None if row is None else with_json(row)

    # -- topics ------------------------------------------------------------

    def sync_topics(self, topics: Iterable[TopicConfig]) -> list[str]:
        """Record the configured topics; return those whose query changed since
        their stored matches were made (they need `tracker topics rematch`)."""
        topics = list(topics)
        with self.write():
            for topic in topics:
                self.conn.execute(
                    "INSERT INTO topics (name, query, matched_query) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET query = excluded.query, active = 1 "
                    "WHERE (query, active) IS NOT (excluded.query, 1)",
                    (topic.name, topic.query, topic.query))
            names = [topic.name for topic in topics]
            self.conn.execute(
                f"UPDATE topics SET active = 0 WHERE active = 1 AND name NOT IN "
                f"({','.join('?' * len(names))})", names)
        return [row["name"] for row in self.conn.execute(
            "SELECT name FROM topics WHERE active = 1 AND query != matched_query ORDER BY name")]

    def topic_summary(self, now: datetime) -> list[dict[str, Any]]:
        """Active topics with their match counts over the last day, week and all
        time. The total is counted in the matches' own index; the day's and the
        week's from the items first seen since then (the CROSS JOIN keeps SQLite
        from reading every match of a topic to find the recent ones: 1.4 s for
        ten topics of 200,000 matches each)."""
        day, week = to_text(now - timedelta(days=1)), to_text(now - timedelta(days=7))
        since = ("SELECT count(*) FROM items i CROSS JOIN topic_matches m "
                 "ON m.topic = t.name AND m.item_id = i.id WHERE i.first_seen >= ?")
        rows = self.conn.execute(
            f"""
            SELECT t.name, t.query, t.matched_query,
                   (SELECT count(*) FROM topic_matches m WHERE m.topic = t.name) AS total,
                   ({since}) AS last_day, ({since}) AS last_week
            FROM topics t WHERE t.active = 1 ORDER BY t.name
            """, (day, week))
        return [dict(row) for row in rows]

    def replace_matches(self, topic: str, query: str,
                        hits: Iterable[tuple[int, TopicHit]], now: datetime) -> int:
        """Store a topic's matches afresh (after its query changed); returns the count."""
        with self.write():
            self.conn.execute("DELETE FROM topic_matches WHERE topic = ?", (topic,))
            count = 0
            for item_id, hit in hits:
                self._insert_match(item_id, hit, now)
                count += 1
            self.conn.execute("UPDATE topics SET matched_query = ? WHERE name = ?",
                              (query, topic))
        return count

    def candidates(self, fts: str | None, since: datetime | None = None,
                   limit: int | None = None, newest: bool = False,
                   period: Period | None = None) -> Iterator[sqlite3.Row]:
        """Items to check against a query: the FTS5 matches in rank order when there
        is an FTS expression, else every item, newest first (stored last first;
        with `newest`, published last first, for either); only those first seen
        `since`, and dated in `period`."""
        columns = ("i.id, i.title, i.summary, i.url, i.published, i.first_seen, "
                   "f.name AS feed_name, f.kind AS feed_kind")
        since_text = to_text(since)
        dated, dated_params = _period_condition(period)
        order = ("coalesce(i.published, i.first_seen) DESC, i.id DESC" if newest
                 else "i.id DESC" if fts is None else "items_fts.rank")
        if fts is None:
            sql = (f"SELECT {columns} FROM items i JOIN feeds f ON f.id = i.feed_id "
                   f"WHERE (? IS NULL OR i.first_seen >= ?) AND {dated} ORDER BY {order}")
            params: tuple[Any, ...] = (since_text, since_text, *dated_params)
        else:
            sql = (f"SELECT {columns} FROM items_fts JOIN items i ON i.id = items_fts.rowid "
                   "JOIN feeds f ON f.id = i.feed_id WHERE items_fts MATCH ? "
                   f"AND (? IS NULL OR i.first_seen >= ?) AND {dated} ORDER BY {order}")
            params = (fts, since_text, since_text, *dated_params)
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        yield from self.conn.execute(sql, params)

    def item_topics(self, ids: Iterable[int] | None = None) -> dict[int, list[dict[str, Any]]]:
        """The topics each item matched, with the words that made it (every item's,
        or those of `ids`)."""
        only, params = ids_condition(ids, "item_id")
        topics: dict[int, list[dict[str, Any]]] = {}
        for row in self.conn.execute("SELECT item_id, topic, terms FROM topic_matches "
                                     f"WHERE {only} ORDER BY topic", params):
            topics.setdefault(row["item_id"], []).append(
                {"name": row["topic"], "terms": json.loads(row["terms"])})
        return topics

    def matched_ids(self, topic: str) -> set[int]:
        """The items that matched `topic`."""
        return {row[0] for row in self.conn.execute(
            "SELECT item_id FROM topic_matches WHERE topic = ?", (topic,))}

    def newest_matches(self, topic: str, limit: int) -> list[StoredItem]:
        """The items that matched `topic`, newest first (by publication, else arrival)."""
        return self._items_in_order([row[0] for row in self.conn.execute(
            "SELECT i.id FROM topic_matches m JOIN items i ON i.id = m.item_id "
            "WHERE m.topic = ? ORDER BY coalesce(i.published, i.first_seen) DESC, i.id DESC "
            "LIMIT ?", (topic, limit))])

    def newest_followed(self, limit: int) -> list[StoredItem]:
        """The items of the followed storylines (`tracker follow`), newest first."""
        return self._items_in_order([row[0] for row in self.conn.execute(
            "SELECT i.id FROM follows w JOIN items i ON i.storyline_id = w.storyline_id "
            "ORDER BY coalesce(i.published, i.first_seen) DESC, i.id DESC LIMIT ?", (limit,))])

    def _items_in_order(self, ids: list[int]) -> list[StoredItem]:
        found = {item.id: item for item in self.items(ids=ids)}
        return [found[item_id] for item_id in ids if item_id in found]

    # -- daemon heartbeat --------------------------------------------------

    def beat(self, pid: int, now: datetime, *, started: datetime | None = None,
             last_poll: str | None = None, next_poll: datetime | None = None,
             stopped: bool = False) -> None:
        """Write the running daemon's heartbeat (`started` marks a new run)."""
        with self.write():
            if started is not None:
                self.conn.execute(
                    "INSERT OR REPLACE INTO daemon (id, pid, started, last_beat, stopped) "
                    "VALUES (1, ?, ?, ?, NULL)", (pid, to_text(started), to_text(now)))
            self.conn.execute(
                "UPDATE daemon SET last_beat = ?, last_poll = coalesce(?, last_poll), "
                "next_poll = coalesce(?, next_poll), stopped = CASE WHEN ? THEN ? ELSE stopped "
                "END WHERE id = 1 AND pid = ?",
                (to_text(now), last_poll, to_text(next_poll), stopped, to_text(now), pid))

    def record_backup(self, now: datetime, path: Path | None = None, items: int = 0,
                      error: str | None = None) -> None:
        """Note a backup written to `path` (which clears an earlier failure), or
        one that failed with `error`."""
        with self.write():
            self.conn.execute("INSERT OR IGNORE INTO backup_state (id) VALUES (1)")
            if error is None:
                self.conn.execute("UPDATE backup_state SET last_ok = ?, path = ?, items = ?, "
                                  "failed = NULL, error = NULL WHERE id = 1",
                                  (to_text(now), str(path), items))
            else:
                self.conn.execute("UPDATE backup_state SET failed = ?, error = ? WHERE id = 1",
                                  (to_text(now), error))

    def backup_state(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT last_ok, path, items, failed, error FROM backup_state "
                                "WHERE id = 1").fetchone()
        return dict(row) if row else None

    def heartbeat(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM daemon WHERE id = 1").fetchone()
        return dict(row) if row else None

    def next_due(self) -> datetime | None:
        """The earliest next poll of any active feed that is not gone."""
        row = self.conn.execute(
            "SELECT min(coalesce(next_due, '0001-01-01T00:00:00+00:00')) FROM feeds "
            "WHERE active = 1 AND paused = 0 AND gone_at IS NULL").fetchone()
        return from_text(row[0])

    # -- reading -----------------------------------------------------------

    def totals(self) -> dict[str, int]:
        row = self.conn.execute(
            """
            SELECT (SELECT count(*) FROM items) AS items,
                   (SELECT count(*) FROM storylines) AS storylines,
                   (SELECT count(*) FROM link_queue) AS waiting_to_link,
                   (SELECT count(*) FROM feeds WHERE active = 1) AS feeds,
                   (SELECT count(*) FROM feeds WHERE active = 1 AND last_error IS NOT NULL)
                       AS failing
            """
        ).fetchone()
        return {**dict(row), "database_bytes": self.file_bytes()}

    def file_bytes(self) -> int:
        """The database's size on disk, its write-ahead log included."""
        return sum(path.stat().st_size for path in
                   (self.path, self.path.with_name(self.path.name + "-wal")) if path.exists())

    def items(self, since: datetime | None = None, ids: Iterable[int] | None = None,
              period: Period | None = None) -> Iterator[StoredItem]:
        """Every item (or those of `ids`; first seen `since`; dated in `period`) in
        the order it was first seen, with the feeds it was seen in."""
        only, only_params = ids_condition(ids, "i.id")
        dated, dated_params = _period_condition(period)
        rows = self.conn.execute(
            f"""
            SELECT i.*, f.name AS feed_name, f.kind AS feed_kind,
                   (SELECT group_concat(g.name, char(31)) FROM item_feeds x
                      JOIN feeds g ON g.id = x.feed_id WHERE x.item_id = i.id) AS seen_in
            FROM items i JOIN feeds f ON f.id = i.feed_id
            WHERE (? IS NULL OR i.first_seen >= ?) AND {only} AND {dated}
            ORDER BY i.id
            """,
            (to_text(since), to_text(since), *only_params, *dated_params),
        )
        for row in rows:
            yield StoredItem(
                id=row["id"], feed_id=row["feed_id"], feed_name=row["feed_name"],
                feed_kind=row["feed_kind"], url=row["url"], title=row["title"],
                summary=row["summary"], published=row["published"], updated=row["updated"],
                first_seen=row["first_seen"],
                seen_in=tuple((row["seen_in"] or "").split("\x1f")) if row["seen_in"] else (),
                storyline_id=row["storyline_id"],
            )


def _may_write(path: Path) -> bool:
    """Whether this process may write the database file and create its -wal and
    -shm files beside it (False on read-only media, even for root)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


# -- whole database files (tracker.backup) --------------------------------


def copy_database(source: Path, target: Path) -> None:
    """Write one moment of the database at `source` to the new file `target`
    (SQLite's VACUUM INTO: one read transaction's snapshot, compacted), through
    a connection of its own, read-only when this process may not write it, so
    that a daemon's writes go on meanwhile. sqlite3.Error when it cannot."""
    conn = (sqlite3.connect(str(source), timeout=BUSY_TIMEOUT_SECONDS) if _may_write(source)
            else _connect_read_only(source))
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()


def checked_item_count(path: Path) -> int:
    """How many items the database file at `path` holds, once SQLite's check
    has found it sound and it is a tracker database (sqlite3.Error otherwise)."""
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("SQLite's check found it damaged: "
                                        + "; ".join(problems[:3]))
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def checkpoint(path: Path) -> None:
    """Move what the database's write-ahead log holds into its main file (so
    that the file alone is the whole database); sqlite3.Error when SQLite
    cannot (a damaged file)."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that only reads. SQLite reads a WAL database read-only
    through its -shm file, which exists while a writer (the daemon) has it
    open; with none open and no right to create one, a database left whole (no
    -wal file: its last writer closed it cleanly) is read as immutable. A
    writer that starts meanwhile could make such a read fail; it cannot make it
    change the file."""
    uri = "file:" + quote(str(path.resolve()))
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
                           isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        # No -shm file and no right to create one: SQLITE_READONLY_DIRECTORY,
        # or SQLITE_CANTOPEN on read-only media.
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            raise
        if path.with_name(path.name + "-wal").exists():
            raise StoreError(f"{path}: tracker may only read it here, and cannot while its "
                             f"write-ahead log ({path.name}-wal) is left without its -shm "
                             "file; ask for write access to its folder, or read a copy made "
                             "by tracker backup") from None
    return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None,
                           check_same_thread=False)


def _foreign_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of a database that has some but was never migrated by
    tracker (no tracker migration recorded); empty for tracker's own or a new one."""
    tables = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    if not tables:
        return []
    if "_sqlite_migrations" in tables and conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'tracker' LIMIT 1"
    ).fetchone():
        return []
    return tables


def disk_full(path: Path) -> str:
    """What to tell a person when SQLite cannot write for want of space."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 1_048_576:.1f} MB free there"
    except OSError:
        free = "its disk"
    return (f"{path}: the disk is full ({free}), so nothing more could be stored; free "
            "some space and poll again: what was stored before is kept, and feeds not "
            "stored this time are fetched again")
