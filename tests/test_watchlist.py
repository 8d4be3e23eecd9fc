"""The default watchlist against the real 2022 news stream in ../shared/data."""

from __future__ import annotations

from pathlib import Path

from bench.corpus import replay_items
from tests.conftest import REPO
from tracker.config import load_config
from tracker.normalise import html_to_text
from tracker.query import Document
from tracker.topics import TopicSet

# No story in the 2022 general-news stream is about UK defence procurement (checked by
# reading every item that mentions the Royal Navy, the RAF, the MoD, BAE or frigates).
ABSENT_FROM_THE_STREAM = {"uk_defence_procurement_and_industry"}


def test_default_topics_find_real_items_and_none_floods(shared_data: Path) -> None:
    config = load_config(REPO / "config" / "tracker.toml")
    topics = TopicSet(config.topics, config.aliases)
    counts = dict.fromkeys(topics.matchers, 0)
    total = 0
    for record in replay_items(shared_data):
        total += 1
        document = Document.of(record["title"], html_to_text(record.get("description")),
                               record["source"], "news")
        for hit in topics.match(document):
            counts[hit.topic] += 1
    assert total > 17_000
    for name, count in counts.items():
        if name not in ABSENT_FROM_THE_STREAM:
            assert count > 0, f"{name} finds nothing in the 2022 stream"
        assert count < total * 0.01, f"{name} floods: {count} of {total} items"
