"""What people mark in the archive: starred items (`tracker star`), to come
back to for a brief or a report; followed storylines (`tracker follow`), whose
next steps are alerted; and muted ones (`tracker mute`), kept out of digests
and alerts. Reached as `Store.marks`; writes go through the
store's write transaction (which refuses them on a read-only database)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from tracker.linkstore import ids_condition
from tracker.timefmt import to_text


class Marks:
    """Stars, follows and mutes, on the store's connection."""

    def __init__(self, conn: sqlite3.Connection,
                 write: Callable[[], AbstractContextManager[None]]) -> None:
        self.conn = conn
        self.write = write

    def star(self, item_id: int, now: datetime, note: str | None) -> bool:
        """Star an item (a star already there keeps its time; a note given
        replaces the old one). False when there is no such item."""
        with self.write():
            if self.conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
                return False
            self.conn.execute(
                "INSERT INTO stars (item_id, starred_at, note) VALUES (?, ?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET note = coalesce(excluded.note, note)",
                (item_id, to_text(now), note))
        return True

    def unstar(self, item_id: int) -> bool:
        """False when the item was not starred."""
        with self.write():
            return self.conn.execute("DELETE FROM stars WHERE item_id = ?",
                                     (item_id,)).rowcount > 0

    def stars(self, ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
        """The starred items (or those of `ids` that are), newest star first:
        item id -> its star's time and note."""
        only, params = ids_condition(ids, "item_id")
        return {row["item_id"]: {"starred_at": row["starred_at"], "note": row["note"]}
                for row in self.conn.execute(
                    f"SELECT item_id, starred_at, note FROM stars WHERE {only} "
                    "ORDER BY starred_at DESC, item_id DESC", params)}

    def follow(self, storyline_id: int, now: datetime, note: str | None) -> bool:
        """Follow a storyline (following it again keeps the first time; a note
        given replaces the old one). False when there is no such storyline."""
        with self.write():
            if not self._storyline_exists(storyline_id):
                return False
            self.conn.execute("DELETE FROM mutes WHERE storyline_id = ?", (storyline_id,))
            self.conn.execute(
                "INSERT INTO follows (storyline_id, followed_at, newest_item_id, note) "
                "VALUES (?, ?, (SELECT coalesce(max(id), 0) FROM items), ?) "
                "ON CONFLICT (storyline_id) DO UPDATE SET note = coalesce(excluded.note, note)",
                (storyline_id, to_text(now), note))
        return True

    def unfollow(self, storyline_id: int) -> bool:
        """False when the storyline was not followed."""
        with self.write():
            return self.conn.execute("DELETE FROM follows WHERE storyline_id = ?",
                                     (storyline_id,)).rowcount > 0

    def follows(self) -> list[dict[str, Any]]:
        """The followed storylines, the one that moved last first: each with its
        title, size, latest item, and how many items joined since it was followed."""
        return [{**row, "latest": json.loads(row["latest"]) if row["latest"] else None}
                for row in map(dict, self.conn.execute(
            """
            SELECT s.id, s.title, s.size, s.started, s.updated, w.followed_at, w.note,
                   (SELECT count(*) FROM items i WHERE i.storyline_id = s.id
                      AND i.id > w.newest_item_id) AS new_since_followed,
                   (SELECT json_object('id', i.id, 'title', i.title, 'url', i.url,
                                       'at', coalesce(i.published, i.first_seen))
                      FROM items i WHERE i.storyline_id = s.id
                      ORDER BY coalesce(i.published, i.first_seen) DESC, i.id DESC LIMIT 1
                   ) AS latest
            FROM follows w JOIN storylines s ON s.id = w.storyline_id
            ORDER BY s.updated DESC, s.id DESC
            """))]

    def followed_titles(self) -> dict[int, str]:
        """Each followed storyline's title, by id: what digests and alerts mark."""
        return {storyline: title for storyline, (title, _) in self.followed().items()}

    def followed(self) -> dict[int, tuple[str, int]]:
        """Each followed storyline's title and the newest item stored when it was
        followed, by id: items up to that one were there before the follow."""
        return {row[0]: (row[1], row[2]) for row in self.conn.execute(
            "SELECT s.id, s.title, w.newest_item_id FROM follows w "
            "JOIN storylines s ON s.id = w.storyline_id")}

    def mute(self, storyline_id: int, now: datetime, note: str | None) -> bool:
        """Mute a storyline (and stop following it; muting it again keeps the
        first time, a note given replaces the old one). False when there is no
        such storyline."""
        with self.write():
            if not self._storyline_exists(storyline_id):
                return False
            self.conn.execute("DELETE FROM follows WHERE storyline_id = ?", (storyline_id,))
            self.conn.execute(
                "INSERT INTO mutes (storyline_id, muted_at, note) VALUES (?, ?, ?) "
                "ON CONFLICT (storyline_id) DO UPDATE SET note = coalesce(excluded.note, note)",
                (storyline_id, to_text(now), note))
        return True

    def unmute(self, storyline_id: int) -> bool:
        """False when the storyline was not muted."""
        with self.write():
            return self.conn.execute("DELETE FROM mutes WHERE storyline_id = ?",
                                     (storyline_id,)).rowcount > 0

    def mutes(self) -> list[dict[str, Any]]:
        """The muted storylines, the one that moved last first, with their title,
        size and dates."""
        return [dict(row) for row in self.conn.execute(
            "SELECT s.id, s.title, s.size, s.started, s.updated, m.muted_at, m.note "
            "FROM mutes m JOIN storylines s ON s.id = m.storyline_id "
            "ORDER BY s.updated DESC, s.id DESC")]

    def muted_ids(self) -> set[int]:
        """The muted storylines' ids: what digests and alerts leave out."""
        return {row[0] for row in self.conn.execute("SELECT storyline_id FROM mutes")}

    def storyline_mark(self, storyline_id: int) -> str | None:
        """"followed", "muted", or None: what a person made of a storyline."""
        row = self.conn.execute(
            "SELECT (SELECT 1 FROM follows WHERE storyline_id = :id), "
            "(SELECT 1 FROM mutes WHERE storyline_id = :id)", {"id": storyline_id}).fetchone()
        return "followed" if row[0] else "muted" if row[1] else None

    def _storyline_exists(self, storyline_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM storylines WHERE id = ?",
                                 (storyline_id,)).fetchone() is not None
