"""The SQL side of related stories: word statistics, links, storylines.

Part of the store (it runs inside the store's write transaction and on its
connection); the decisions themselves are `tracker.link`'s, pure, and each
item's candidates come from the pass's finder (`tracker.linkpass`).

Finding candidates must stay cheap as the archive grows to millions of items,
so a new item is never compared with everything. For each of the new item's
strongest words the full-text index gives the most recent `PER_WORD` earlier
items (within `window_days` of arrival) that contain it; the items sharing the
most weight of those words are the few dozen candidates that are scored. The
work is bounded by words x PER_WORD, not by the size of the archive: a common
word reaches only its recent items, and an older report of the same event is
still found through the rarer words (names, places) it shares.

A long storyline's centroid (`tracker.link.Centroid`) is kept with it, read
and written once per batch of the pass, so that checking a follow-up against
it costs one row, not the storyline's items.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.link import (
    FOLLOW_UP,
    STORYLINE_KINDS,
    STORYLINE_SIMILARITY,
    STORYLINE_START_SIMILARITY,
    Candidate,
    Centroid,
    LinkSettings,
    Profile,
    ScoredLink,
    Weights,
    profile,
    score_links,
    similarity,
    spelled,
    weigh,
)
from tracker.linkpass import (
    THREAD_FROM,
    CandidateFinder,
    Finder,
    Found,
    LinkPass,
    PassIndexFinder,
    ThreadedCandidateFinder,
    WordStatistics,
    read_frequencies,
    window_start,
)
from tracker.timefmt import to_text

# A pass this large, against an archive at most this many times its size, first
# merges the word index into one segment (see `start_pass`).
MERGE_QUEUE = 1_000
MERGE_RATIO = 4
CENTROID_FROM = 10  # items from which a storyline's follow-ups must fit its centroid
CENTROID_FROM_ITEMS = 50  # most recent items a centroid is worked out from, when not stored
ABOUT_WORDS = 8  # words `tracker story` shows for what a storyline is about


class LinkStore:
    """Links each new item to the earlier items it relates to, and reads them back."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    # -- writing (inside the store's transaction) ---------------------------

    def enqueue(self, item_id: int, at: datetime) -> None:
        """A new item, to be linked by `link_pending` once the poll has stored all feeds."""
        self.conn.execute("INSERT OR IGNORE INTO link_queue (item_id, at) VALUES (?, ?)",
                          (item_id, _text(at)))

    def start_pass(self) -> LinkPass:
        """Begin a pass over the queue (merging the word index first when the
        queue is large, see `_merge_index_for`). Run it in its own transaction:
        the pass's candidate finder reads what it has committed."""
        queued = self.conn.execute("SELECT count(*) FROM link_queue").fetchone()[0]
        self._merge_index_for(queued)
        documents = self.conn.execute("SELECT documents FROM link_state WHERE id = 1").fetchone()
        return LinkPass(int(documents[0]), queued)

    def finder(self, now: datetime, settings: LinkSettings, state: LinkPass) -> Finder:
        """What looks up the candidates of every queued item (close() it): in a
        thread when the pass is large, else as the loop asks; among the pass's
        own items when the pass is large and they are all the window holds."""
        if state.queued < THREAD_FROM:
            return CandidateFinder(self.conn, now, settings, state)
        if self._window_holds_only_the_queue(now, settings):
            return PassIndexFinder(self.conn, state)
        return ThreadedCandidateFinder(self.path, now, settings, state.documents)

    def _window_holds_only_the_queue(self, now: datetime, settings: LinkSettings) -> bool:
        """True when every item within `window_days` is waiting to be linked (a
        first poll): no earlier item could be a candidate."""
        return not self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM items WHERE first_seen >= ? "
            "AND id NOT IN (SELECT item_id FROM link_queue))",
            (window_start(now, settings),)).fetchone()[0]

    def _save_counts(self, state: LinkPass) -> None:
        """Write the words counted since the last save (in the batch's transaction)."""
        self.conn.executemany(
            "INSERT INTO term_df (term, df) VALUES (?, ?) "
            "ON CONFLICT (term) DO UPDATE SET df = df + excluded.df", state.counted.items())
        self.conn.execute("UPDATE link_state SET documents = documents + ? WHERE id = 1",
                          (state.newly_counted,))
        state.counted.clear()
        state.newly_counted = 0
        self.conn.executemany(
            "UPDATE storylines SET centroid = ? WHERE id = ?",
            [(_centroid_text(state.centroids[storyline]), storyline)
             for storyline in state.changed_centroids])
        state.changed_centroids.clear()
        # Read again in the next batch's transaction: another process's pass may
        # add to the same storyline in between, and this one must not write over it.
        state.centroids.clear()

    def _merge_index_for(self, new_items: int) -> None:
        """Merge the full-text index into one segment before a large pass.

        Every feed's transaction leaves a small index segment, and each word
        looked up reads every segment: when a first poll of 7,000 items (200
        feeds) still looked its candidates up in the index, merging first halved
        the time to link them. A first poll now finds them in memory
        (`PassIndexFinder`), but a large pass over an archive looks up, and so
        does search; merging 7,000 items' index takes ~20 ms. Merging rewrites
        the whole index, so it is done only when the pass is large next to the
        archive.
        """
        if new_items < MERGE_QUEUE:
            return
        stored = self.conn.execute("SELECT max(id) FROM items").fetchone()[0] or 0
        if new_items * MERGE_RATIO >= stored:
            self.conn.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")

    def link_pending(self, now: datetime, settings: LinkSettings, limit: int,
                     state: LinkPass, finder: Finder) -> int:
        """Link up to `limit` queued items in the finder's order (oldest first,
        ties by title, for the same order on every run); returns how many."""
        linked = 0
        while linked < limit:
            found = finder.next()
            if found is None:
                break
            self.link_found(found, now, settings, state)
            self.conn.execute("DELETE FROM link_queue WHERE item_id = ?", (found.item_id,))
            linked += 1
        self._save_counts(state)
        return linked

    def link_found(self, found: Found, now: datetime, settings: LinkSettings,
                   state: LinkPass) -> list[ScoredLink]:
        """Count the item's words, score its candidates, store the links and put
        the item in a storyline (its best link's, or a new one)."""
        if not found.counted:
            read_frequencies(self.conn, state, found.profile)
            state.count(found.profile)
        new = Candidate(found.item_id, found.profile.terms, found.profile.factors, found.at,
                        storyline_id=None)
        state.remember(new)
        weights = found.weights  # weighed by the finder under these same statistics
        links = score_links(weights, found.at, self._earlier(state, found.candidate_ids),
                            state.inverse(), settings, found.profile.names)
        self.conn.executemany(
            "INSERT OR REPLACE INTO item_links (item_id, related_id, kind, score, similarity, "
            "gap_days, shared, near_duplicate, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(found.item_id, link.related_id, link.kind, link.score, link.similarity,
              link.gap_days, json.dumps(list(link.shared)), link.near_duplicate, _text(now))
             for link in links])
        best = None
        for link in links:
            if link.kind in STORYLINE_KINDS and self._fits_storyline(link, weights, state):
                best = link
                break
        self._join_storyline(new, weights, found.official, best, state)
        return links

    def _earlier(self, state: LinkPass, item_ids: list[int]) -> list[Candidate]:
        """Earlier items, in the order asked: remembered by this pass, or read
        (an item deleted since it was found is left out)."""
        known = {item_id: state.recall(item_id) for item_id in item_ids}
        missing = [item_id for item_id, item in known.items() if item is None]
        if missing:
            for item_id, title, summary, at, storyline_id in self.conn.execute(
                    "SELECT id, title, summary, coalesce(published, first_seen), storyline_id "
                    "FROM items WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(missing),)):
                read = profile(title, summary)
                read_frequencies(self.conn, state, read)
                known[item_id] = item = Candidate(item_id, read.terms, read.factors,
                                                  datetime.fromisoformat(at), storyline_id)
                state.remember(item)
        return [item for item in known.values() if item is not None]

    def _fits_storyline(self, link: ScoredLink, weights: Weights, state: LinkPass) -> bool:
        """An item joins the storyline of the report it links to only if it fits
        the storyline, not only that report, or a chain drifts: each report close
        to the one before, the last far from the first, and one broad story
        swallows a season of coverage.

        Every item must share something with the storyline's first item. That
        holds the same story too: a newspaper round-up or a briefing that joined
        one storyline also reports others, and a report of one of those, the
        same day, is its same story without being this storyline's (on the
        benchmark's news, polio reports joined a Rishi Sunak storyline through
        "Newspaper headlines: Polio alert and Sunak defends pension rise").
        A follow-up must also, once the storyline has `CENTROID_FROM` items, be
        close to what they have in common (its `Centroid`)."""
        if link.storyline_id is None:
            return True
        row = self.conn.execute("SELECT first_item_id, size, centroid FROM storylines "
                                "WHERE id = ?", (link.storyline_id,)).fetchone()
        if row is None:
            return True
        first, size, text = row
        if first != link.related_id:
            start = self._earlier(state, [first])
            if start and similarity(weights, start[0].words, state.inverse()) < \
                    STORYLINE_START_SIMILARITY:
                return False
        if link.kind != FOLLOW_UP or size < CENTROID_FROM:
            return True
        centroid = self._centroid(link.storyline_id, state, text)
        return centroid.similarity(weights) >= STORYLINE_SIMILARITY

    def _centroid(self, storyline: int, state: LinkPass, stored: str | None) -> Centroid:
        """A long storyline's centroid: kept by the pass, `stored`, or (a
        storyline that has just grown long, or from before centroids) worked out
        from its items under the statistics as they stand."""
        centroid = state.centroids.get(storyline)
        if centroid is None:
            if stored:
                centroid = _centroid_from_text(stored)
            else:  # kept, so that later passes need not work it out again
                latest = self._earlier(state, self._latest_ids(storyline))
                centroid = self._worked_out(latest, state)
                state.changed_centroids.add(storyline)
            state.centroids[storyline] = centroid
        return centroid

    def _worked_out(self, latest: Sequence[Profile | Candidate],
                    state: WordStatistics) -> Centroid:
        """A centroid from a storyline's most recent items (the first time it is
        needed: a storyline is checked against one only once it is long)."""
        total: dict[str, float] = {}
        for read in latest:
            read_frequencies(self.conn, state, read)
            for term, weight in weigh(read.words, state.inverse()).items():
                total[term] = total.get(term, 0.0) + weight
        return Centroid.of(total)

    def _latest_ids(self, storyline: int) -> list[int]:
        """A storyline's most recent items, newest first: what its centroid is
        worked out from, mostly remembered by a pass (not read and split into
        words again: ~1,100 items on a first poll of 7,067)."""
        return [item_id for item_id, in self._latest_rows(storyline, "id")]

    def _latest(self, storyline: int) -> list[Profile]:
        """The words of a storyline's most recent items, with their spellings."""
        return [profile(title, summary)
                for title, summary in self._latest_rows(storyline, "title, summary")]

    def _latest_rows(self, storyline: int, columns: str) -> list[Any]:
        """`columns` of a storyline's `CENTROID_FROM_ITEMS` most recent items, newest first."""
        return self.conn.execute(
            f"SELECT {columns} FROM items WHERE storyline_id = ? "
            f"ORDER BY id DESC LIMIT {CENTROID_FROM_ITEMS}", (storyline,)).fetchall()

    def _join_storyline(self, item: Candidate, weights: Weights, official: bool,
                        best: ScoredLink | None, state: LinkPass) -> None:
        storyline = best.storyline_id if best else None
        if best is not None and storyline is None:
            # The earlier item predates storylines (stored before linking existed).
            storyline = self._start_storyline(best.related_id, state)
        if storyline is None:
            self._start_storyline(item.id, state, official)
            return
        size, stored = self.conn.execute("SELECT size, centroid FROM storylines WHERE id = ?",
                                         (storyline,)).fetchone()
        if size >= CENTROID_FROM:  # as it stands, without the item
            state.centroids[storyline] = self._centroid(storyline, state, stored).added(weights)
            state.changed_centroids.add(storyline)
        item.storyline_id = storyline
        self.conn.execute("UPDATE items SET storyline_id = ? WHERE id = ?", (storyline, item.id))
        self.conn.execute(
            "UPDATE storylines SET size = size + 1, updated = max(updated, ?), "
            "official_item_id = coalesce(official_item_id, CASE WHEN ? THEN ? END) WHERE id = ?",
            (_text(item.at), official, item.id, storyline))

    def _start_storyline(self, item_id: int, state: LinkPass, official: bool | None = None) -> int:
        row = self.conn.execute(
            "SELECT i.title, coalesce(i.published, i.first_seen) AS at, f.kind FROM items i "
            "JOIN feeds f ON f.id = i.feed_id WHERE i.id = ?", (item_id,)).fetchone()
        if official is None:
            official = row[2] == "official"
        cursor = self.conn.execute(
            "INSERT INTO storylines (title, first_item_id, official_item_id, started, updated) "
            "VALUES (?, ?, ?, ?, ?)", (row[0], item_id, item_id if official else None, row[1],
                                       row[1]))
        storyline = int(cursor.lastrowid or 0)
        self.conn.execute("UPDATE items SET storyline_id = ? WHERE id = ?", (storyline, item_id))
        known = state.known.get(item_id)
        if known is not None:
            known.storyline_id = storyline
        return storyline

    def mark_official(self, item_id: int) -> None:
        """An item of a storyline is now carried by an official feed."""
        self.conn.execute(
            "UPDATE storylines SET official_item_id = coalesce(official_item_id, ?) "
            "WHERE id = (SELECT storyline_id FROM items WHERE id = ?)", (item_id, item_id))

    # -- reading -----------------------------------------------------------

    def related(self, item_id: int) -> list[dict[str, Any]]:
        """Every link of an item, to earlier items (`direction` "earlier") and from
        later ones ("later"), strongest first, with the other item's headline."""
        rows = self.conn.execute(
            """
            WITH links AS (
                SELECT 'earlier' AS direction, related_id AS id, kind, score, similarity,
                       gap_days, shared, near_duplicate
                FROM item_links WHERE item_id = :item
                UNION ALL
                SELECT 'later', item_id, kind, score, similarity, -gap_days, shared,
                       near_duplicate
                FROM item_links WHERE related_id = :item
            )
            SELECT l.*, i.title, i.summary, i.url, f.name AS feed, f.kind AS feed_kind,
                   coalesce(i.published, i.first_seen) AS at, i.storyline_id AS storyline
            FROM links l JOIN items i ON i.id = l.id JOIN feeds f ON f.id = i.feed_id
            ORDER BY l.score DESC, l.id
            """, {"item": item_id}).fetchall()
        own = [profile(title, summary) for title, summary in self.conn.execute(
            "SELECT title, summary FROM items WHERE id = ?", (item_id,))]
        out = []
        for row in rows:
            record = dict(row)
            other = profile(record["title"], record.pop("summary"))
            record["shared"] = spelled(json.loads(record["shared"]), [*own, other])
            record["near_duplicate"] = bool(record["near_duplicate"])
            out.append(record)
        return out

    def storyline(self, storyline_id: int) -> dict[str, Any] | None:
        """A storyline and its timeline: items oldest first, each with how it joined."""
        row = self.conn.execute("SELECT * FROM storylines WHERE id = ?",
                                (storyline_id,)).fetchone()
        if row is None:
            return None
        story = dict(row)
        story["officially_announced"] = story["official_item_id"] is not None
        story["about"] = self._about(storyline_id, story.pop("centroid"))
        story["items"] = [dict(item) for item in self.conn.execute(
            """
            SELECT i.id, i.title, i.url, f.name AS feed, f.kind AS feed_kind,
                   coalesce(i.published, i.first_seen) AS at, i.first_seen,
                   (SELECT l.kind FROM item_links l JOIN items e ON e.id = l.related_id
                     WHERE l.item_id = i.id AND e.storyline_id = i.storyline_id
                       AND l.kind != 'related' ORDER BY l.score DESC LIMIT 1) AS joined_as,
                   (SELECT json_group_array(g.name) FROM item_feeds x
                      JOIN feeds g ON g.id = x.feed_id WHERE x.item_id = i.id) AS seen_in,
                   (SELECT json_group_array(m.topic) FROM topic_matches m
                      WHERE m.item_id = i.id) AS topics
            FROM items i JOIN feeds f ON f.id = i.feed_id
            WHERE i.storyline_id = ? ORDER BY at, i.id
            """, (storyline_id,))]
        for item in story["items"]:
            item["seen_in"] = json.loads(item["seen_in"])
            item["topics"] = sorted(json.loads(item["topics"]))
        return story

    def storylines_of(self, item_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """Each item's storyline and its size, for items that have one."""
        return {row[0]: (row[1], row[2]) for row in self.conn.execute(
            "SELECT i.id, s.id, s.size FROM items i JOIN storylines s ON s.id = i.storyline_id "
            "WHERE i.id IN (SELECT value FROM json_each(?))", (json.dumps(list(item_ids)),))}

    def active(self, since: datetime, limit: int, min_size: int,
               topic: str | None = None) -> list[dict[str, Any]]:
        """Storylines of at least `min_size` items that gained items first seen
        since `since`, those that gained most first, each with what it is about
        and its latest item: the title is how it began, the latest is what moved.
        With a `topic`, only storylines one of whose items, new or earlier,
        matched it: a thread's next step need not use the topic's words ("Berlin
        to send two more systems" continues a Patriot story)."""
        rows = self.conn.execute(
            """
            SELECT s.id, s.title, s.size, count(*) AS new_items, s.started, s.updated,
                   s.official_item_id IS NOT NULL AS officially_announced, s.centroid
            FROM items i JOIN storylines s ON s.id = i.storyline_id
            WHERE i.first_seen >= :since
              AND (:topic IS NULL OR s.id IN (
                    SELECT t.storyline_id FROM topic_matches m JOIN items t ON t.id = m.item_id
                    WHERE m.topic = :topic))
            GROUP BY s.id HAVING s.size >= :min_size
            ORDER BY new_items DESC, s.updated DESC, s.id LIMIT :limit
            """, {"since": _text(since), "topic": topic, "min_size": min_size,
                  "limit": limit}).fetchall()
        ids = [row["id"] for row in rows]
        topics, latest = self._topics_of(ids), self._latest_of(ids)
        out = []
        for row in rows:
            story = dict(row)
            story["officially_announced"] = bool(story["officially_announced"])
            story["about"] = self._about(story["id"], story.pop("centroid"))
            story["topics"] = topics.get(story["id"], [])
            story["latest"] = latest[story["id"]]
            out.append(story)
        return out

    def _latest_of(self, storyline_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Each storyline's newest item (by publication, else arrival): id, title, at."""
        return {row[0]: {"id": row[1], "title": row[2], "at": row[3]} for row in self.conn.execute(
            "SELECT storyline_id, id, title, at FROM ("
            "  SELECT storyline_id, id, title, coalesce(published, first_seen) AS at,"
            "         row_number() OVER (PARTITION BY storyline_id"
            "                            ORDER BY coalesce(published, first_seen) DESC, id DESC)"
            "           AS newest"
            "  FROM items WHERE storyline_id IN (SELECT value FROM json_each(?)))"
            " WHERE newest = 1", (json.dumps(storyline_ids),))}

    def _topics_of(self, storyline_ids: list[int]) -> dict[int, list[str]]:
        """The watch topics each storyline's items matched, by name."""
        topics: dict[int, list[str]] = {}
        for storyline_id, topic in self.conn.execute(
                "SELECT DISTINCT i.storyline_id, m.topic FROM items i "
                "JOIN topic_matches m ON m.item_id = i.id "
                "WHERE i.storyline_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY i.storyline_id, m.topic", (json.dumps(storyline_ids),)):
            topics.setdefault(storyline_id, []).append(topic)
        return topics

    def _about(self, storyline_id: int, stored: str | None) -> list[str]:
        """The words that say what a storyline is about: its centroid's strongest
        (worked out from its latest items when it has none stored)."""
        latest = self._latest(storyline_id)
        if stored:
            centroid = _centroid_from_text(stored)
        else:
            documents = self.conn.execute("SELECT documents FROM link_state WHERE id = 1"
                                          ).fetchone()[0]
            centroid = self._worked_out(latest, WordStatistics(int(documents)))
        return spelled(centroid.terms[:ABOUT_WORDS], latest)

    def links_by_item(self, ids: Iterable[int] | None = None) -> dict[int, list[dict[str, Any]]]:
        """Every item's (or those of `ids`) links to earlier items, strongest
        first (for exports)."""
        only, params = ids_condition(ids, "l.item_id")
        links: dict[int, list[dict[str, Any]]] = {}
        for row in self.conn.execute(
                "SELECT l.item_id, l.related_id, l.kind, l.score, e.title, e.url "
                f"FROM item_links l JOIN items e ON e.id = l.related_id WHERE {only} "
                "ORDER BY l.item_id, l.score DESC, l.related_id", params):
            links.setdefault(row[0], []).append(
                {"id": row[1], "kind": row[2], "score": row[3], "title": row[4],
                 "url": row[5]})
        return links

    def continues(self, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """For each item, the earlier story it continues (its best storyline link
        to an item of its own storyline), for the digest's threads."""
        out: dict[int, dict[str, Any]] = {}
        for item_id in item_ids:
            row = self.conn.execute(
                """
                SELECT l.kind, l.gap_days, e.id, e.title, e.url,
                       coalesce(e.published, e.first_seen) AS at, f.name AS feed
                FROM item_links l JOIN items e ON e.id = l.related_id
                JOIN items i ON i.id = l.item_id JOIN feeds f ON f.id = e.feed_id
                WHERE l.item_id = ? AND l.kind != 'related'
                  AND e.storyline_id = i.storyline_id
                ORDER BY l.score DESC LIMIT 1
                """, (item_id,)).fetchone()
            if row is not None:
                out[item_id] = dict(row)
        return out


def ids_condition(ids: Iterable[int] | None, column: str) -> tuple[str, tuple[Any, ...]]:
    """A condition keeping the rows whose `column` is one of `ids`, and its
    parameters; true of every row when `ids` is None."""
    if ids is None:
        return "1", ()
    return f"{column} IN (SELECT value FROM json_each(?))", (json.dumps(list(ids)),)


def _text(when: datetime) -> str:
    return str(to_text(when))


def _centroid_text(centroid: Centroid) -> str:
    """"word weight word weight ...": words have no spaces, and the weights need
    4 digits (a centroid decides a threshold, not a ranking of close calls)."""
    return " ".join(f"{term} {weight:.4g}"
                    for term, weight in zip(centroid.terms, centroid.weights, strict=True))


def _centroid_from_text(text: str) -> Centroid:
    parts = text.split()
    return Centroid(tuple(parts[0::2]), tuple(float(weight) for weight in parts[1::2]))
