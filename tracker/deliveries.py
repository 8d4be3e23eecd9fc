"""The digests' and alerts' bookkeeping in the database: what is due (items no
delivered digest of a kind and name has carried), a digest recorded before
it is sent and marked delivered only once the server took it, and what
`tracker status` says of them. Reached as `Store.deliveries`; writes go
through the store's write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from tracker.itemjson import TOPICS_JSON, with_json
from tracker.timefmt import from_text, to_text


class Deliveries:
    """Digests, named digests and alerts, on the store's connection."""

    def __init__(self, conn: sqlite3.Connection,
                 write: Callable[[], AbstractContextManager[None]]) -> None:
        self.conn = conn
        self.write = write

    def undelivered(self, since: datetime, kind: str = "digest",
                    name: str = "") -> list[dict[str, Any]]:
        """Items first seen since `since` that no delivered digest (or alert, by
        `kind`; the named digest `name`) has carried yet, newest first, with
        their feed, every feed they were seen in (name, kind), and topics."""
        rows = self.conn.execute(
            f"""
            SELECT i.id, i.title, i.summary, i.url, i.published, i.first_seen,
                   i.content_hash, i.revised_at, i.storyline_id, s.title AS storyline_title,
                   s.size AS storyline_size, f.name AS feed, f.kind AS kind,
                   (SELECT r.title FROM item_revisions r WHERE r.item_id = i.id
                     ORDER BY r.id DESC LIMIT 1) AS previous_title,
                   (SELECT r.summary FROM item_revisions r WHERE r.item_id = i.id
                     ORDER BY r.id DESC LIMIT 1) AS previous_summary,
                   (SELECT json_group_array(json_object('name', g.name, 'kind', g.kind))
                      FROM item_feeds x JOIN feeds g ON g.id = x.feed_id
                      WHERE x.item_id = i.id) AS seen_in,
                   {TOPICS_JSON}
            FROM items i JOIN feeds f ON f.id = i.feed_id
                 LEFT JOIN storylines s ON s.id = i.storyline_id
            WHERE coalesce(i.revised_at, i.first_seen) >= ? AND NOT EXISTS (
                SELECT 1 FROM digest_items d JOIN digests g ON g.id = d.digest_id
                WHERE d.item_id = i.id AND g.status = 'delivered' AND g.kind = ?
                  AND g.name = ? AND coalesce(d.content_hash, i.content_hash) = i.content_hash)
            ORDER BY coalesce(i.published, i.first_seen) DESC, i.id DESC
            """, (to_text(since), kind, name))
        return [with_json(row) for row in rows]

    def pending_digest(self, now: datetime, message_id: Callable[[int], str],
                       kind: str = "digest", name: str = "") -> dict[str, Any]:
        """The digest (or alert; the named digest `name`) not yet delivered, or a
        new one: a retry keeps its Message-ID."""
        with self.write():
            row = self.conn.execute("SELECT * FROM digests WHERE status = 'pending' AND kind = ? "
                                    "AND name = ? ORDER BY id LIMIT 1", (kind, name)).fetchone()
            if row is None:
                cursor = self.conn.execute(
                    "INSERT INTO digests (created, message_id, kind, name) VALUES (?, '', ?, ?)",
                    (to_text(now), kind, name))
                digest_id = int(cursor.lastrowid or 0)
                self.conn.execute("UPDATE digests SET message_id = ? WHERE id = ?",
                                  (message_id(digest_id), digest_id))
                row = self.conn.execute("SELECT * FROM digests WHERE id = ?",
                                        (digest_id,)).fetchone()
        return dict(row)

    def fill_digest(self, digest_id: int, subject: str,
                    items: Iterable[tuple[int, str]]) -> None:
        """Record what a digest carries (item ids and the version of each), before
        it is sent."""
        with self.write():
            self.conn.execute("UPDATE digests SET subject = ? WHERE id = ?", (subject, digest_id))
            self.conn.executemany(
                "INSERT OR REPLACE INTO digest_items (digest_id, item_id, content_hash) "
                "VALUES (?, ?, ?)", [(digest_id, i, h) for i, h in items])

    def failing_deliveries(self) -> list[dict[str, Any]]:
        """Digests and alerts not delivered whose last attempt failed, oldest
        first: what `tracker status` reports until they go out."""
        return [dict(row) for row in self.conn.execute(
            "SELECT kind, name, created, subject, attempts, last_error FROM digests "
            "WHERE status = 'pending' AND last_error IS NOT NULL ORDER BY id")]

    def last_delivered(self, kind: str, name: str = "") -> datetime | None:
        """When the last digest (or alert) of `kind` and `name` was delivered."""
        row = self.conn.execute("SELECT max(delivered_at) FROM digests WHERE kind = ? "
                                "AND name = ? AND status = 'delivered'", (kind, name)).fetchone()
        return from_text(row[0])

    def last_deliveries(self) -> list[dict[str, Any]]:
        """The last delivered digest, named digest and alert: when, its subject
        and how many items it carried (what `tracker status` says went out)."""
        return [dict(row) for row in self.conn.execute(
            """
            SELECT d.kind, d.name, d.delivered_at, d.subject,
                   (SELECT count(*) FROM digest_items x WHERE x.digest_id = d.id) AS items
            FROM digests d
            WHERE d.id IN (SELECT max(id) FROM digests WHERE status = 'delivered'
                           GROUP BY kind, name)
            ORDER BY d.kind = 'alert', d.name
            """)]

    def digest_attempt(self, digest_id: int, error: str | None, now: datetime) -> None:
        """One delivery attempt: delivered when `error` is None, else still pending."""
        with self.write():
            self.conn.execute(
                "UPDATE digests SET attempts = attempts + 1, last_error = ?, "
                "status = CASE WHEN ? IS NULL THEN 'delivered' ELSE status END, "
                "delivered_at = CASE WHEN ? IS NULL THEN ? ELSE delivered_at END WHERE id = ?",
                (error, error, error, to_text(now), digest_id))
