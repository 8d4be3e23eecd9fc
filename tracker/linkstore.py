"""The SQL side of related stories: candidates, word statistics, links, storylines.

Part of the store (it runs inside the store's write transaction and on its
connection); the decisions themselves are `tracker.link`'s, pure.

Finding candidates must stay cheap as the archive grows to millions of items,
so a new item is never compared with everything. For each of the new item's
strongest words the full-text index gives the most recent `PER_WORD` earlier
items (within `window_days` of arrival) that contain it; the items sharing the
most weight of those words are the few dozen candidates that are scored. The
work is bounded by words x PER_WORD, not by the size of the archive: a common
word reaches only its recent items, and an older report of the same event is
still found through the rarer words (names, places) it shares.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from tracker.link import (
    FOLLOW_UP,
    STORYLINE_KINDS,
    STORYLINE_START_SIMILARITY,
    Candidate,
    Idf,
    LinkSettings,
    Profile,
    ScoredLink,
    Weights,
    Words,
    cosine,
    documents_base,
    log_frequency,
    profile,
    query_terms,
    score_links,
    weigh,
)
from tracker.timefmt import to_text

CANDIDATES = 25  # earlier items scored per new item
PER_WORD = 100   # most recent items read per strong word when looking for candidates
PROFILES_KEPT = 10_000  # items' words kept in a pass: recent ones are candidates again and again
# A pass this large, against an archive at most this many times its size, first
# merges the word index into one segment (see `start_pass`).
MERGE_QUEUE = 1_000
MERGE_RATIO = 4


def fts_query(forms: Iterable[str]) -> str:
    """An FTS5 expression matching any of the exact words `forms`."""
    return " OR ".join('"' + form.replace('"', '""') + '"' for form in forms)


class LinkPass:
    """The state of one linking pass over the queue, kept in memory between its
    transactions: the word statistics (read once, counted up item by item and
    written back with each batch) and the words of recently read items.

    Each item is linked with the statistics as they stand once it is counted,
    exactly as if items arrived one at a time; keeping them here rather than
    reading and writing them per item is what makes a first poll of thousands
    of items quick.
    """

    def __init__(self, documents: int) -> None:
        self.documents = documents
        self.frequencies: dict[str, int] = {}
        self.log_frequencies: dict[str, float] = {}  # log(df + 1) of each, see `Idf`
        self.counted: Counter[str] = Counter()   # not yet written back
        self.newly_counted = 0
        self.profiles: OrderedDict[int, Words] = OrderedDict()

    def count(self, item: Profile) -> None:
        frequencies, logs = self.frequencies, self.log_frequencies
        for term in item.terms:
            frequencies[term] += 1
            logs[term] = log_frequency(frequencies[term])
        self.counted.update(item.terms)
        self.documents += 1
        self.newly_counted += 1

    def inverse(self) -> Idf:
        """idf under the statistics as they stand."""
        return Idf(documents_base(self.documents), self.log_frequencies)

    def learn(self, term: str, frequency: int) -> None:
        """The archive's count of a word not seen before in this pass."""
        self.frequencies[term] = frequency
        self.log_frequencies[term] = log_frequency(frequency)

    def remember(self, item_id: int, item: Profile) -> None:
        """Keep what weighing needs of an item (not its spellings or counts)."""
        self.profiles[item_id] = item.words
        if len(self.profiles) > PROFILES_KEPT:
            self.profiles.popitem(last=False)

    def recall(self, item_id: int) -> Words | None:
        item = self.profiles.get(item_id)
        if item is not None:
            self.profiles.move_to_end(item_id)
        return item


class LinkStore:
    """Links each new item to the earlier items it relates to, and reads them back."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- writing (inside the store's transaction) ---------------------------

    def enqueue(self, item_id: int, at: datetime) -> None:
        """A new item, to be linked by `link_pending` once the poll has stored all feeds."""
        self.conn.execute("INSERT OR IGNORE INTO link_queue (item_id, at) VALUES (?, ?)",
                          (item_id, _text(at)))

    def start_pass(self) -> LinkPass:
        """Begin a pass over the queue (merging the word index first when the
        queue is large, see `_merge_index_for`)."""
        queued = self.conn.execute("SELECT count(*) FROM link_queue").fetchone()[0]
        self._merge_index_for(queued)
        documents = self.conn.execute("SELECT documents FROM link_state WHERE id = 1").fetchone()
        return LinkPass(int(documents[0]))

    def _save_counts(self, state: LinkPass) -> None:
        """Write the words counted since the last save (in the batch's transaction)."""
        self.conn.executemany(
            "INSERT INTO term_df (term, df) VALUES (?, ?) "
            "ON CONFLICT (term) DO UPDATE SET df = df + excluded.df", state.counted.items())
        self.conn.execute("UPDATE link_state SET documents = documents + ? WHERE id = 1",
                          (state.newly_counted,))
        state.counted.clear()
        state.newly_counted = 0

    def _merge_index_for(self, new_items: int) -> None:
        """Merge the full-text index into one segment before a large pass.

        Every feed's transaction leaves a small index segment, and each word
        looked up reads every segment: on a first poll of 7,000 items (200 feeds)
        merging first halved the time to link them. Merging rewrites the whole
        index, so it is done only when the pass is large next to the archive.
        """
        if new_items < MERGE_QUEUE:
            return
        stored = self.conn.execute("SELECT max(id) FROM items").fetchone()[0] or 0
        if new_items * MERGE_RATIO >= stored:
            self.conn.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")

    def link_pending(self, now: datetime, settings: LinkSettings, limit: int,
                     state: LinkPass) -> int:
        """Link up to `limit` queued items, oldest first (ties by title, for
        the same order on every run); returns how many were linked."""
        rows = self.conn.execute(
            f"""
            SELECT q.item_id, i.title, i.summary, q.at, f.kind = 'official' AS official
            FROM link_queue q JOIN items i ON i.id = q.item_id JOIN feeds f ON f.id = i.feed_id
            ORDER BY q.at, i.title, q.item_id LIMIT {int(limit)}
            """).fetchall()
        for item_id, title, summary, at, official in rows:
            self.link_new(item_id, title, summary, datetime.fromisoformat(at), now,
                          bool(official), settings, state)
            self.conn.execute("DELETE FROM link_queue WHERE item_id = ?", (item_id,))
        self._save_counts(state)
        return len(rows)

    def link_new(self, item_id: int, title: str, summary: str, at: datetime, now: datetime,
                 official: bool, settings: LinkSettings, state: LinkPass) -> list[ScoredLink]:
        """Count the item's words, find and score candidates, store the links and
        put the item in a storyline (its best link's, or a new one)."""
        new = profile(title, summary)
        self._read_frequencies(state, new)
        state.count(new)
        state.remember(item_id, new)
        inverse = state.inverse()
        weights = weigh(new.words, inverse)
        candidates = self._candidates(item_id, query_terms(new, weights), weights, now,
                                      settings.window_days)
        profiles = self._profiles(state, [c.id for c in candidates])
        links = score_links(weights, at, ((c, weigh(profiles[c.id], inverse))
                                          for c in candidates if c.id in profiles), settings)
        self.conn.executemany(
            "INSERT OR REPLACE INTO item_links (item_id, related_id, kind, score, similarity, "
            "gap_days, shared, near_duplicate, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(item_id, link.related_id, link.kind, link.score, link.similarity, link.gap_days,
              json.dumps(list(link.shared)), link.near_duplicate, _text(now)) for link in links])
        best = None
        for link in links:
            if link.kind in STORYLINE_KINDS and self._close_to_start(link, weights, state,
                                                                      inverse):
                best = link
                break
        self._join_storyline(item_id, title, at, official, best)
        return links

    def _read_frequencies(self, state: LinkPass, item: Profile) -> None:
        """Bring the archive's counts of the item's words into the pass (once each)."""
        unseen = [term for term in item.terms if term not in state.frequencies]
        if unseen:
            found = self._frequencies(unseen)
            for term in unseen:
                state.learn(term, found.get(term, 0))

    def _profiles(self, state: LinkPass, item_ids: list[int]) -> dict[int, Words]:
        """Words of earlier items: remembered from this pass, or read."""
        profiles: dict[int, Words] = {}
        missing = []
        for item_id in item_ids:
            known = state.recall(item_id)
            if known is None:
                missing.append(item_id)
            else:
                profiles[item_id] = known
        if missing:
            for item_id, title, summary in self.conn.execute(
                    "SELECT id, title, summary FROM items WHERE id IN "
                    "(SELECT value FROM json_each(?))", (json.dumps(missing),)):
                read = profile(title, summary)
                self._read_frequencies(state, read)
                state.remember(item_id, read)
                profiles[item_id] = read.words
        return profiles

    def _close_to_start(self, link: ScoredLink, weights: Weights, state: LinkPass,
                        inverse: Idf) -> bool:
        """A follow-up joins a storyline only if it still shares something with the
        storyline's first item: each report close to the one before is not enough,
        or a chain drifts across weeks of loosely related coverage."""
        if link.kind != FOLLOW_UP or link.storyline_id is None:
            return True
        row = self.conn.execute("SELECT first_item_id FROM storylines WHERE id = ?",
                                (link.storyline_id,)).fetchone()
        if row is None or row[0] == link.related_id:
            return True
        start = self._profiles(state, [row[0]]).get(row[0])
        return start is None or cosine(weights, weigh(start, inverse)) >= \
            STORYLINE_START_SIMILARITY

    def _frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        terms = list(terms)
        if not terms:
            return {}
        rows = self.conn.execute(
            "SELECT term, df FROM term_df WHERE term IN (SELECT value FROM json_each(?))",
            (json.dumps(terms),))
        return {row[0]: int(row[1]) for row in rows}

    def _candidates(self, item_id: int, words: list[tuple[str, list[str]]],
                    weights: Weights, now: datetime, window_days: int) -> list[Candidate]:
        if not words:
            return []
        since = _text(now - timedelta(days=window_days))
        # Ids grow with first_seen: the first item of the window bounds the ids
        # (read through the index, not min(id) over the whole window).
        row = self.conn.execute("SELECT id FROM items WHERE first_seen >= ? "
                                "ORDER BY first_seen LIMIT 1", (since,)).fetchone()
        first = row[0] if row else item_id
        # Per word, its most recent earlier items; summed and ranked by SQLite.
        # Items still waiting to be linked (this poll's later ones) are not earlier.
        per_word = (
            "SELECT * FROM (SELECT rowid AS id, ? AS weight FROM items_fts "
            "WHERE items_fts MATCH ? AND rowid >= ? AND rowid != ? AND NOT EXISTS "
            "(SELECT 1 FROM link_queue WHERE item_id = items_fts.rowid) "
            f"ORDER BY rowid DESC LIMIT {PER_WORD})")
        parameters: list[object] = []
        for term, forms in words:
            parameters += [weights[term], fts_query(forms), first, item_id]
        best = [row[0] for row in self.conn.execute(
            f"SELECT id FROM ({' UNION ALL '.join([per_word] * len(words))}) GROUP BY id "
            f"ORDER BY sum(weight) DESC, id DESC LIMIT {CANDIDATES}", parameters)]
        if not best:
            return []
        rows = self.conn.execute(
            """
            SELECT id, coalesce(published, first_seen) AS at, storyline_id
            FROM items WHERE id IN (SELECT value FROM json_each(?))
            """, (json.dumps(best),))
        return [Candidate(id=row[0], at=datetime.fromisoformat(row[1]), storyline_id=row[2])
                for row in rows]

    def _join_storyline(self, item_id: int, title: str, at: datetime, official: bool,
                        best: ScoredLink | None) -> None:
        storyline = best.storyline_id if best else None
        if best is not None and storyline is None:
            # The earlier item predates storylines (stored before linking existed).
            storyline = self._start_storyline(best.related_id)
        if storyline is None:
            self._start_storyline(item_id, official)
            return
        self.conn.execute("UPDATE items SET storyline_id = ? WHERE id = ?", (storyline, item_id))
        self.conn.execute(
            "UPDATE storylines SET size = size + 1, updated = max(updated, ?), "
            "official_item_id = coalesce(official_item_id, CASE WHEN ? THEN ? END) WHERE id = ?",
            (_text(at), official, item_id, storyline))

    def _start_storyline(self, item_id: int, official: bool | None = None) -> int:
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
            SELECT 'earlier' AS direction, l.related_id AS id, l.kind, l.score, l.similarity,
                   l.gap_days, l.shared, l.near_duplicate
            FROM item_links l WHERE l.item_id = ?
            UNION ALL
            SELECT 'later', l.item_id, l.kind, l.score, l.similarity, -l.gap_days, l.shared,
                   l.near_duplicate
            FROM item_links l WHERE l.related_id = ?
            """, (item_id, item_id)).fetchall()
        out = []
        for row in rows:
            record = dict(row)
            record["shared"] = json.loads(record["shared"])
            record["near_duplicate"] = bool(record["near_duplicate"])
            record.update(self._headline(record["id"]))
            out.append(record)
        out.sort(key=lambda r: (-r["score"], r["id"]))
        return out

    def _headline(self, item_id: int) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT i.title, i.url, f.name AS feed, f.kind AS feed_kind, "
            "coalesce(i.published, i.first_seen) AS at, i.storyline_id AS storyline "
            "FROM items i JOIN feeds f ON f.id = i.feed_id WHERE i.id = ?", (item_id,)).fetchone()
        return dict(row)

    def storyline(self, storyline_id: int) -> dict[str, Any] | None:
        """A storyline and its timeline: items oldest first, each with how it joined."""
        row = self.conn.execute("SELECT * FROM storylines WHERE id = ?",
                                (storyline_id,)).fetchone()
        if row is None:
            return None
        story = dict(row)
        story["officially_announced"] = story["official_item_id"] is not None
        story["items"] = [dict(item) for item in self.conn.execute(
            """
            SELECT i.id, i.title, i.url, f.name AS feed, f.kind AS feed_kind,
                   coalesce(i.published, i.first_seen) AS at,
                   (SELECT l.kind FROM item_links l JOIN items e ON e.id = l.related_id
                     WHERE l.item_id = i.id AND e.storyline_id = i.storyline_id
                       AND l.kind != 'related' ORDER BY l.score DESC LIMIT 1) AS joined_as,
                   (SELECT json_group_array(g.name) FROM item_feeds x
                      JOIN feeds g ON g.id = x.feed_id WHERE x.item_id = i.id) AS seen_in
            FROM items i JOIN feeds f ON f.id = i.feed_id
            WHERE i.storyline_id = ? ORDER BY at, i.id
            """, (storyline_id,))]
        for item in story["items"]:
            item["seen_in"] = json.loads(item["seen_in"])
        return story

    def links_by_item(self) -> dict[int, list[dict[str, Any]]]:
        """Every item's links to earlier items, strongest first (for exports)."""
        links: dict[int, list[dict[str, Any]]] = {}
        for row in self.conn.execute(
                "SELECT l.item_id, l.related_id, l.kind, l.score, e.title, e.url "
                "FROM item_links l JOIN items e ON e.id = l.related_id "
                "ORDER BY l.item_id, l.score DESC, l.related_id"):
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


def _text(when: datetime) -> str:
    return str(to_text(when))
