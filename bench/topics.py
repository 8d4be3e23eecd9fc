"""Topic matching cost against the number of topics (10, 100, 1,000) for one
poll's worth of new items: the benchmark corpus's items, each tested against
every topic, exactly as a poll does it (TopicSet over pre-tokenised text).

Topics are generated reproducibly from the corpus's own vocabulary, so they hit
real items: ORs of words, phrases and prefixes, ANDed with a second group,
some with a NOT, a field or NEAR, the shapes the default watchlist uses.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter

from tracker.errors import ParseError
from tracker.models import TopicConfig
from tracker.normalise import normalise_feed
from tracker.parse import parse_feed
from tracker.query import Document
from tracker.topics import TopicSet


def corpus_documents(corpus: dict[str, bytes]) -> list[Document]:
    """Every item of the corpus's readable documents (the malformed real ones
    feedparser cannot read are left out)."""
    documents = []
    for path, body in corpus.items():
        try:
            parsed = parse_feed(body)
        except ParseError:
            continue
        for item in normalise_feed(parsed, path):
            documents.append(Document.of(item.title, item.summary, "Bench", "news"))
    return documents


def generate_topics(documents: list[Document], count: int, seed: int = 7) -> list[TopicConfig]:
    rng = random.Random(seed)
    counts = Counter(w for d in documents for w in d.fields["title"].raw if len(w) > 3)
    vocabulary = [w for w, _ in counts.most_common(3000)[50:]]  # skip the commonest
    topics = []
    for n in range(count):
        group = " OR ".join(
            f'"{rng.choice(vocabulary)} {rng.choice(vocabulary)}"' if rng.random() < 0.2
            else rng.choice(vocabulary)[:5] + "*" if rng.random() < 0.1
            else rng.choice(vocabulary)
            for _ in range(rng.randint(2, 6)))
        context = " OR ".join(rng.choice(vocabulary) for _ in range(rng.randint(2, 4)))
        query = f"({group}) AND ({context})" if rng.random() < 0.5 else f"({group})"
        if rng.random() < 0.2:
            query += f" -{rng.choice(vocabulary)}"
        if rng.random() < 0.1:
            query = f"title:({group}) OR ({rng.choice(vocabulary)} NEAR/5 {rng.choice(vocabulary)})"
        topics.append(TopicConfig(f"topic{n}", query))
    return topics


def measure(documents: list[Document], counts: tuple[int, ...] = (10, 100, 1000),
            repeat: int = 5) -> dict[str, dict[str, float]]:
    results = {}
    for count in counts:
        topic_set = TopicSet(generate_topics(documents, count))
        timings, hits = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            hits = sum(len(topic_set.match(document)) for document in documents)
            timings.append(time.perf_counter() - started)
        results[str(count)] = {"median_seconds": statistics.median(timings),
                               "min_seconds": min(timings), "max_seconds": max(timings),
                               "items": len(documents), "matches": hits,
                               "microseconds_per_item": statistics.median(timings)
                               / len(documents) * 1e6}
    return results


def tokenise_seconds(documents: list[Document]) -> float:
    """What building the per-item index costs, once per item whatever the topics."""
    started = time.perf_counter()
    for document in documents:
        Document.of(" ".join(document.fields["title"].raw),
                    " ".join(document.fields["summary"].raw))
    return time.perf_counter() - started



