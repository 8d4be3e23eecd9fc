"""Questions asked of the stored archive: search, `topics test` and `topics
rematch` in the topic language, and the records exports are made of.

FTS5 narrows the candidates (a superset, in rank order) and the matcher decides,
so search and topics agree exactly on what matches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.models import Period, StoredItem
from tracker.query import Document, Matcher
from tracker.report import item_record
from tracker.store import Store
from tracker.topics import TopicHit, TopicSet, fts_query


@dataclass(frozen=True)
class Hit:
    """One archive item that matched, with the words to highlight."""

    id: int
    title: str
    summary: str
    url: str | None
    published: str | None
    first_seen: str
    feed: str
    kind: str
    terms: tuple[str, ...]


def _document(row: sqlite3.Row) -> Document:
    return Document.of(row["title"], row["summary"], row["feed_name"], row["feed_kind"])


def find(store: Store, query: str, aliases: Mapping[str, Sequence[str]] | None = None,
         since: datetime | None = None, newest: bool = False,
         period: Period | None = None, only: set[int] | None = None) -> Generator[Hit, None, None]:
    """Every stored item matching `query` (first seen `since`, dated in `period`,
    one of `only`), best first (FTS5 rank; newest first when the query has no
    positive words to rank by, or when asked)."""
    matcher = Matcher(query, aliases)
    for row in store.candidates(fts_query(matcher.tree), since, newest=newest, period=period):
        if only is not None and row["id"] not in only:
            continue
        result = matcher.match(_document(row))
        if result.matched:
            yield Hit(row["id"], row["title"], row["summary"], row["url"], row["published"],
                      row["first_seen"], row["feed_name"], row["feed_kind"],
                      tuple(sorted(result.terms)))


def rematch(store: Store, topics: TopicSet, queries: Mapping[str, str], names: Sequence[str],
            now: datetime) -> dict[str, int]:
    """Re-evaluate the named topics over the whole archive; returns match counts."""
    counts = {}
    for name in names:
        matcher = topics.matchers[name]
        hits = []
        for row in store.candidates(fts_query(matcher.tree)):
            result = matcher.match(_document(row))
            if result.matched:
                hits.append((row["id"], TopicHit(name, tuple(sorted(result.terms)))))
        counts[name] = store.replace_matches(name, queries[name], hits, now)
    return counts


def export_records(store: Store, items: Sequence[StoredItem],
                   whole_archive: bool = False) -> list[dict[str, Any]]:
    """The items as export records (`tracker export` lines): each with the topics
    it matched and its links to earlier items, read for these items only (for
    every item at once when they are the `whole_archive`)."""
    ids = None if whole_archive else [item.id for item in items]
    topics = store.item_topics(ids)
    links = store.links.links_by_item(ids)
    stars = store.marks.stars(ids)
    records = []
    for item in items:
        record = item_record(item)
        record["topics"] = topics.get(item.id, [])
        record["related"] = links.get(item.id, [])
        star = stars.get(item.id)
        record["starred"] = star["starred_at"] if star else None
        record["note"] = star["note"] if star else None
        records.append(record)
    return records
