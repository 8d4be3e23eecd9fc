"""A linking pass: its word statistics, and the look-up of each queued item's
candidates, run ahead of the linking loop.

The look-up (one SQL statement per item, ~0.3 ms: the FTS index for each of
the item's strongest words, then summing and ranking what they find) is the
largest single cost of linking a large pass, and SQLite runs it without
holding the GIL. For a large pass, `ThreadedCandidateFinder` therefore does it
in a thread with its own read-only connection while `LinkStore` scores the
items before it (`CandidateFinder` does it inline, for small passes). A large
pass with nothing else in the window, a first poll, needs no look-up in the
archive at all: `PassIndexFinder` keeps the pass's own items by word in
memory and finds the same candidates there, in the loop's thread. What a
look-up may find is fixed when the pass starts, so it does not matter how far
ahead the finder is: an item queued then is earlier than another only if it
comes before it in the pass's order, and an item stored after the pass
started is never a candidate (it waits for the next pass).
"""

from __future__ import annotations

import heapq
import json
import queue
import sqlite3
import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from tracker.link import (
    Candidate,
    Centroid,
    Idf,
    LinkSettings,
    Profile,
    Weights,
    documents_base,
    log_frequency,
    profile,
    query_terms,
    strongest_terms,
    weigh,
)
from tracker.timefmt import to_text

CANDIDATES = 25  # earlier items scored per new item
PER_WORD = 100   # most recent items read per strong word when looking for candidates
KNOWN_KEPT = 10_000  # earlier items kept in a pass: recent ones are candidates again and again


def fts_query(forms: Iterable[str]) -> str:
    """An FTS5 expression matching any of the exact words `forms`."""
    return " OR ".join('"' + form.replace('"', '""') + '"' for form in forms)


class WordStatistics:
    """How many items use each word, and how many items there are, as a pass
    counts its items one by one: what idf is worked out from. Words are
    brought in from the archive as the pass meets them (`read_frequencies`)."""

    def __init__(self, documents: int) -> None:
        self.documents = documents
        self.frequencies: dict[str, int] = {}
        self.log_frequencies: dict[str, float] = {}  # log(df + 1) of each, see `Idf`

    def count(self, item: Profile) -> None:
        frequencies, logs = self.frequencies, self.log_frequencies
        for term in item.terms:
            frequencies[term] += 1
            logs[term] = log_frequency(frequencies[term])
        self.documents += 1

    def inverse(self) -> Idf:
        """idf under the statistics as they stand."""
        return Idf(documents_base(self.documents), self.log_frequencies)

    def learn(self, term: str, frequency: int) -> None:
        """The archive's count of a word not seen before in this pass."""
        self.frequencies[term] = frequency
        self.log_frequencies[term] = log_frequency(frequency)


class LinkPass(WordStatistics):
    """The state of one linking pass over the queue, kept in memory between its
    transactions: the word statistics (read once, counted up item by item and
    written back with each batch) and the recently read or linked items, as
    candidates (their words, times and storylines).

    Each item is linked with the statistics as they stand once it is counted,
    exactly as if items arrived one at a time; keeping them here rather than
    reading and writing them per item is what makes a first poll of thousands
    of items quick.
    """

    def __init__(self, documents: int, queued: int = 0) -> None:
        super().__init__(documents)
        self.queued = queued  # items waiting when the pass started
        self.counted: Counter[str] = Counter()   # not yet written back
        self.newly_counted = 0
        self.known: OrderedDict[int, Candidate] = OrderedDict()
        self.centroids: dict[int, Centroid] = {}  # long storylines' in this batch
        self.changed_centroids: set[int] = set()  # not yet written back

    def count(self, item: Profile) -> None:
        super().count(item)
        self.counted.update(item.terms)
        self.newly_counted += 1

    def remember(self, item: Candidate) -> None:
        """Keep an item the pass has read or linked, as a candidate for later ones."""
        self.known[item.id] = item
        if len(self.known) > KNOWN_KEPT:
            self.known.popitem(last=False)

    def recall(self, item_id: int) -> Candidate | None:
        item = self.known.get(item_id)
        if item is not None:
            self.known.move_to_end(item_id)
        return item


def read_frequencies(conn: sqlite3.Connection, state: WordStatistics,
                     item: Profile | Candidate) -> None:
    """Bring the archive's counts of the item's words into the pass (once each).

    A word not yet in the pass has not been counted in it, so what is stored is
    its count from before the pass, whichever batches have been written since.
    """
    unseen = [term for term in item.terms if term not in state.frequencies]
    if unseen:
        found = dict(conn.execute(
            "SELECT term, df FROM term_df WHERE term IN (SELECT value FROM json_each(?))",
            (json.dumps(unseen),)).fetchall())
        for term in unseen:
            state.learn(term, int(found.get(term, 0)))


@dataclass(frozen=True)
class Found:
    """A queued item, its words and weights as counted in pass order, and the
    ids of its candidates, best first. `counted`: its words are already counted
    into the pass's own statistics (by a finder in the linking loop's thread,
    which counts into them rather than into a copy)."""

    item_id: int
    at: datetime
    official: bool
    profile: Profile
    weights: Weights
    candidate_ids: list[int]
    counted: bool


AHEAD = 32  # items the threaded finder may be ahead of the linking loop
THREAD_FROM = 64  # queued items from which a pass looks up candidates in a thread
FINDER_CACHE_KIB = 512  # its connection's page cache: it reads the word index, not tables


def find_candidates(conn: sqlite3.Connection, now: datetime, settings: LinkSettings,
                    state: WordStatistics, own_connection: bool,
                    ) -> Generator[Found, None, None]:
    """Every item queued when the pass starts, in the pass's order (oldest first,
    ties by title), with its candidates. Words are counted exactly as the linking
    loop counts them, so each item is weighed under the same statistics in both.

    On the loop's connection an item's later ones are those still queued (the
    loop deletes each item from the queue once linked). On a connection of its
    own, which does not see the loop's transaction, the pass's order is written
    to a temporary table instead (not on the loop's connection: a schema change
    makes SQLite prepare every cached statement again, ~1 ms per pass).
    """
    order = pass_order(conn)
    if own_connection:
        conn.execute("CREATE TEMP TABLE pass_order "
                     "(item_id INTEGER PRIMARY KEY, position INTEGER NOT NULL)")
        conn.executemany("INSERT INTO pass_order (item_id, position) VALUES (?, ?)",
                         ((item_id, position) for position, item_id in enumerate(order)))
    last = conn.execute("SELECT max(id) FROM items").fetchone()[0] or 0
    since = window_start(now, settings)
    # Ids grow with first_seen: the first item of the window bounds the ids
    # (read through the index, not min(id) over the whole window).
    row = conn.execute("SELECT id FROM items WHERE first_seen >= ? "
                       "ORDER BY first_seen LIMIT 1", (since,)).fetchone()
    first = row[0] if row else None
    for position, (item_id, title, summary, at, official) in _queued(conn, order):
        new, weights = _weighed(conn, state, title, summary)
        ids = _candidate_ids(conn, item_id, position if own_connection else None,
                             query_terms(new, weights), weights,
                             item_id if first is None else first, last)
        yield Found(item_id, datetime.fromisoformat(at), bool(official),
                    replace(new, surfaces={}), weights, ids, counted=not own_connection)


def find_in_pass(conn: sqlite3.Connection, state: WordStatistics,
                 ) -> Generator[Found, None, None]:
    """Every queued item, in the pass's order, with its candidates among the
    items before it in the pass (`PassIndex`): for a pass with nothing else in
    the window, such as a first poll, where those are all there is to find.
    Words are counted and items weighed exactly as `find_candidates` does."""
    index = PassIndex()
    for _, (item_id, title, summary, at, official) in _queued(conn, pass_order(conn)):
        new, weights = _weighed(conn, state, title, summary)
        ids = index.candidates(strongest_terms(weights), weights)
        yield Found(item_id, datetime.fromisoformat(at), bool(official),
                    replace(new, surfaces={}), weights, ids, counted=True)
        index.add(item_id, new.terms)


def window_start(now: datetime, settings: LinkSettings) -> str:
    """The first arrival time (first_seen) an earlier item may have to be a candidate."""
    return str(to_text(now - timedelta(days=settings.window_days)))


def pass_order(conn: sqlite3.Connection) -> array[int]:
    """The queued items in the order a pass links them: oldest first, ties by
    title, for the same order on every run."""
    return array("q", (row[0] for row in conn.execute(
        """
        SELECT q.item_id FROM link_queue q JOIN items i ON i.id = q.item_id
        ORDER BY q.at, i.title, q.item_id
        """)))


def _weighed(conn: sqlite3.Connection, state: WordStatistics, title: str,
             summary: str) -> tuple[Profile, Weights]:
    """An item's words, counted into the pass's statistics, and its weights under them."""
    new = profile(title, summary)
    read_frequencies(conn, state, new)
    state.count(new)
    return new, weigh(new.words, state.inverse())


class PassIndex:
    """The items of a pass handed over so far, by word: for each word the
    `PER_WORD` with the highest ids, as the word index's look-up takes the most
    recent. Looking up an item's strongest words here and ranking what they
    find as `_candidate_ids` does gives the candidates the word index would,
    when the pass's earlier items are all there is to find: the words are the
    linker's own, where the word index also splits a word at an apostrophe
    ("won't" is "won") and finds spellings by plural rules (measured on a first
    poll of 7,067 items: 40 get a different list, the rest the same).

    It spares a first poll the look-up that cost most: in memory in the
    linking loop's thread, 0.1 ms an item, against 0.3 ms in SQLite in a thread
    whose Python contends with the loop's (bench/README.md)."""

    def __init__(self) -> None:
        # A word's ids as a heap (the lowest first), or the one id of a word
        # only one item has used so far: half the words of a first poll, and a
        # list each would cost a megabyte on the benchmark's whole corpus.
        self._items: dict[str, int | list[int]] = {}

    def add(self, item_id: int, terms: Iterable[str]) -> None:
        items = self._items
        for term in terms:
            ids = items.get(term)
            if ids is None:
                items[term] = item_id
            elif isinstance(ids, int):
                items[term] = [ids, item_id] if ids < item_id else [item_id, ids]
            elif len(ids) < PER_WORD:
                heapq.heappush(ids, item_id)
            elif item_id > ids[0]:
                heapq.heapreplace(ids, item_id)

    def candidates(self, terms: Iterable[str], weights: Weights) -> list[int]:
        """The ids sharing the most weight of `terms`, best first (ties: the newest)."""
        shared: dict[int, float] = {}
        for term in terms:
            ids = self._items.get(term)
            if ids is None:
                continue
            weight = weights[term]
            for item_id in (ids,) if isinstance(ids, int) else ids:
                shared[item_id] = shared.get(item_id, 0.0) + weight
        # Newest first, then by weight: a stable sort keeps ties newest first.
        newest_first = sorted(shared, reverse=True)
        return sorted(newest_first, key=shared.__getitem__, reverse=True)[:CANDIDATES]


QUEUED_READ = 64  # queued items read at a time: a first poll's text is ~8 MB


def _queued(conn: sqlite3.Connection,
            order: array[int]) -> Iterator[tuple[int, tuple[int, str, str, str, bool]]]:
    """The items of the pass with their positions in its `order`, read a few at a
    time: the pass needs one at a time, and holding every queued item's text for
    the whole pass was the largest part of its memory after the words
    themselves. An item no longer queued (linked by another process, or
    deleted) is left out."""
    for start in range(0, len(order), QUEUED_READ):
        chunk = order[start:start + QUEUED_READ]
        read = {row[0]: row for row in conn.execute(
            """
            SELECT i.id, i.title, i.summary, q.at, f.kind = 'official'
            FROM items i JOIN feeds f ON f.id = i.feed_id JOIN link_queue q ON q.item_id = i.id
            WHERE i.id IN (SELECT value FROM json_each(?))
            """, (json.dumps(chunk.tolist()),))}
        for position, item_id in enumerate(chunk, start):
            if item_id in read:
                yield position, read[item_id]


class _InlineFinder:
    """Hands over a pass's items with their candidates, in order, as the
    linking loop asks, in its thread: `next()` until None, then `close()` (a
    pass may stop earlier)."""

    def __init__(self, items: Generator[Found, None, None]) -> None:
        self._items = items

    def next(self) -> Found | None:
        """The next item of the pass; None once every item has been handed over."""
        return next(self._items, None)

    def close(self) -> None:
        self._items.close()


class CandidateFinder(_InlineFinder):
    """Looks each item's candidates up in the word index (`find_candidates`) on
    the linking loop's own connection, counting into the pass's statistics
    `state`: for the few items of a running tracker's poll, starting a thread
    and a connection would cost more than it saves."""

    def __init__(self, conn: sqlite3.Connection, now: datetime, settings: LinkSettings,
                 state: WordStatistics) -> None:
        super().__init__(find_candidates(conn, now, settings, state, own_connection=False))


class PassIndexFinder(_InlineFinder):
    """Finds each item's candidates among the pass's own items (`find_in_pass`),
    counting into the pass's statistics `state`: for a large pass with nothing
    else in the window, a first poll."""

    def __init__(self, conn: sqlite3.Connection, state: WordStatistics) -> None:
        super().__init__(find_in_pass(conn, state))


class ThreadedCandidateFinder:
    """Hands over a pass's items like `CandidateFinder`, but looks them up
    ahead, up to `AHEAD` items, in a thread with its own read-only connection:
    for a large pass, such as a first poll."""

    def __init__(self, path: Path, now: datetime, settings: LinkSettings,
                 documents: int) -> None:
        self._found: queue.Queue[Found | BaseException | None] = queue.Queue(maxsize=AHEAD)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, now, settings, documents),
                                        daemon=True, name="link-candidates")
        self._thread.start()

    def next(self) -> Found | None:
        """The next item of the pass; None once every item has been handed over."""
        found = self._found.get()
        if isinstance(found, BaseException):
            raise found
        return found

    def close(self) -> None:
        """Stop the thread (a finder waiting for room notices within 50 ms)."""
        self._stopping.set()
        self._thread.join()

    def _put(self, found: Found | BaseException | None) -> bool:
        while not self._stopping.is_set():
            try:
                self._found.put(found, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, path: Path, now: datetime, settings: LinkSettings, documents: int) -> None:
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False)
        except BaseException as exc:  # handed to the linking loop, which raises it
            self._put(exc)
            return
        try:
            conn.execute(f"PRAGMA cache_size = {-FINDER_CACHE_KIB}")
            # Its own statistics, counted exactly as the loop's are; nothing it
            # counts is written back, so it keeps no more than the statistics.
            items = find_candidates(conn, now, settings, WordStatistics(documents),
                                    own_connection=True)
            for found in items:
                if not self._put(found):
                    items.close()
                    return
            self._put(None)
        except BaseException as exc:
            self._put(exc)
        finally:
            conn.close()


Finder = CandidateFinder | PassIndexFinder | ThreadedCandidateFinder


def _candidate_ids(conn: sqlite3.Connection, item_id: int, position: int | None,
                   words: list[tuple[str, list[str]]], weights: Weights, first: int,
                   last: int) -> list[int]:
    """Per word, its most recent earlier items; summed and ranked by SQLite.
    Items after this one in the pass's order are not earlier (with a `position`,
    by the pass_order table; without, by being still queued), nor are items
    stored after the pass started (above `last`)."""
    if not words:
        return []
    later = ("SELECT 1 FROM link_queue WHERE item_id = items_fts.rowid" if position is None
             else "SELECT 1 FROM pass_order WHERE item_id = items_fts.rowid AND position > ?")
    per_word = (
        "SELECT * FROM (SELECT rowid AS id, ? AS weight FROM items_fts "
        "WHERE items_fts MATCH ? AND rowid >= ? AND rowid <= ? AND rowid != ? "
        f"AND NOT EXISTS ({later}) ORDER BY rowid DESC LIMIT {PER_WORD})")
    parameters: list[object] = []
    for term, forms in words:
        parameters += [weights[term], fts_query(forms), first, last, item_id]
        if position is not None:
            parameters.append(position)
    return [row[0] for row in conn.execute(
        f"SELECT id FROM ({' UNION ALL '.join([per_word] * len(words))}) GROUP BY id "
        f"ORDER BY sum(weight) DESC, id DESC LIMIT {CANDIDATES}", parameters)]
