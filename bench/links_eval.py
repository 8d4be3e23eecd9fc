"""Linking quality, measured through the real pipeline.

    python -m bench.links_eval [--threshold T] [--history N] [--json FILE]

giveme5w1h_dev: the labelled articles (title and description only, as a feed
carries them) are served as one RSS feed per outlet from a local HTTP server
and polled day by day in publication order by the real service (fetch, parse,
normalise, store, match, link). Before them the archive receives `--history`
items of the 2022 replay stream, as a tracker that has been running for a
while has (the idf of its words comes from its own archive). Reported:

* pairwise precision, recall and F1: two articles count as linked when they
  share a storyline; truth is the dataset's event;
* the precision of the stored same_story / follow_up links between labelled
  articles (both ends of the same event);
* first-story detection: an article that started a storyline against the first
  article of each event.

ecbplus_dev: same_event pairs must score above same_topic_different_event pairs
with tracker's similarity (title + text; the documents are undated, so no time
decay): ROC AUC, beside plain TF-IDF cosine computed here the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.corpus import default_shared_data, render_rss, replay_items
from bench.provenance import provenance
from tests.feedserver import Document, FeedServer
from tracker.config import parse_config
from tracker.fetch import Fetcher
from tracker.link import Idf, cosine, profile, weigh
from tracker.service import TrackerService
from tracker.store import Store

HISTORY_ITEMS = 3000


# -- giveme5w1h through the pipeline ---------------------------------------


def _articles(shared: Path) -> list[dict[str, Any]]:
    path = shared / "links" / "giveme5w1h_dev" / "articles.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    return sorted(rows, key=lambda a: (a["date_publish"], a["id"]))


def _utc(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _as_feed_item(article: dict[str, Any]) -> dict[str, str]:
    return {"title": article["title"], "link": article["url"],
            "date_published": _utc(article["date_publish"]).isoformat(),
            "description": article.get("description") or "", "body": ""}


def _history(shared: Path, count: int, ending: datetime) -> dict[str, list[dict[str, str]]]:
    """The first `count` items of the 2022 replay stream, moved in time (spacing
    kept) so that the newest is dated `ending`: the archive's past when the
    labelled articles (2013-2018) arrive. Left in 2022 they would be dates in
    the future of the replay's clock, which tracker does not believe."""
    records = []
    for number, record in enumerate(replay_items(shared)):
        if number >= count:
            break
        records.append(record)
    shift = ending - max((_utc(r["date_published"]) for r in records), default=ending)
    feeds: dict[str, list[dict[str, str]]] = defaultdict(list)
    for record in records:
        moved = (_utc(record["date_published"]) + shift).isoformat()
        feeds[record["source"]].append({**record, "date_published": moved, "body": ""})
    return feeds


def _config(threshold: float | None, feeds: Iterable[tuple[str, str]]) -> str:
    lines = ["allow_private_networks = true"]
    if threshold is not None:
        lines += ["[links]", f"threshold = {threshold}",
                  f"related_threshold = {min(0.10, threshold)}"]
    for name, url in feeds:
        lines += ["[[feeds]]", f"name = {json.dumps(name)}", f"url = {json.dumps(url)}"]
    return "\n".join(lines) + "\n"


def replay_giveme(shared: Path, workdir: Path, threshold: float | None = None,
                  history: int = HISTORY_ITEMS) -> tuple[list[dict[str, Any]], Path]:
    """Poll the history, then the labelled articles day by day; returns the
    articles and the database."""
    articles = _articles(shared)
    server = FeedServer().start()
    try:
        first_day = _utc(articles[0]["date_publish"]).replace(hour=0, minute=0, second=0)
        clock = [first_day - timedelta(days=1)]
        feeds: list[tuple[str, str]] = []
        for number, (source, items) in enumerate(sorted(_history(shared, history,
                                                                  clock[0]).items())):
            path = f"/history/{number}.xml"
            server.add(path, Document(render_rss(source, items[-2000:])))
            feeds.append((f"history {number}", server.url(path)))
        outlets = sorted({a["source_domain"] for a in articles})
        paths = {outlet: f"/outlet/{n}.xml" for n, outlet in enumerate(outlets)}
        for outlet in outlets:
            server.add(paths[outlet], Document(render_rss(outlet, [])))
            feeds.append((outlet, server.url(paths[outlet])))
        config = parse_config(_config(threshold, feeds), workdir / "tracker.toml")
        db = workdir / "tracker.db"
        store = Store.open(db)
        service = TrackerService(config, store, Fetcher(config.fetch, True),
                                 clock=lambda: clock[0])
        try:
            service.poll(all_feeds=True)  # the archive's history
            by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for article in articles:
                by_day[article["date_publish"][:10]].append(article)
            served: dict[str, list[dict[str, str]]] = defaultdict(list)
            for day in sorted(by_day):
                for article in by_day[day]:
                    served[article["source_domain"]].append(_as_feed_item(article))
                for outlet, items in served.items():
                    server.add(paths[outlet], Document(render_rss(outlet, items[-50:])))
                clock[0] = _utc(day + "T23:59:59")
                service.poll(all_feeds=True)
        finally:
            service.close()
            store.close()
    finally:
        server.stop()
    return articles, db


def pairwise(truth: Sequence[object], predicted: Sequence[object]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against the truth."""
    tp = fp = fn = 0
    for i in range(len(truth)):
        for j in range(i + 1, len(truth)):
            same, linked = truth[i] == truth[j], predicted[i] == predicted[j]
            tp += same and linked
            fp += linked and not same
            fn += same and not linked
    return _prf(tp, fp, fn)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def score_giveme(articles: list[dict[str, Any]], db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    item_of = {url: (item_id, storyline) for item_id, url, storyline in conn.execute(
        "SELECT id, url, storyline_id FROM items")}
    found = [a for a in articles if a["url"] in item_of]
    events = [a["event_id"] for a in found]
    storylines = [item_of[a["url"]][1] for a in found]
    event_of = {item_of[a["url"]][0]: a["event_id"] for a in found}
    result: dict[str, Any] = {"articles": len(articles), "stored": len(found),
                              "events": len(set(events)),
                              "storylines": len(set(storylines)),
                              "pairwise": pairwise(events, storylines)}
    kinds: dict[str, Counter[bool]] = defaultdict(Counter)
    for item_id, related_id, kind in conn.execute(
            "SELECT item_id, related_id, kind FROM item_links"):
        if item_id in event_of and related_id in event_of:
            kinds[kind][event_of[item_id] == event_of[related_id]] += 1
    result["links"] = {kind: {"links": sum(c.values()), "correct": c[True],
                              "precision": c[True] / sum(c.values())}
                       for kind, c in sorted(kinds.items())}
    story_links = kinds["same_story"] + kinds["follow_up"]
    result["storyline_link_precision"] = (story_links[True] / sum(story_links.values())
                                          if story_links else 1.0)
    started = {row[0] for row in conn.execute("SELECT first_item_id FROM storylines")}
    seen: set[object] = set()
    tp = fp = fn = 0
    # In the order tracker links items (oldest first, as a poll does), which
    # decides what "first" means for a story whose reports arrived together.
    position = {row[0]: n for n, row in enumerate(conn.execute(
        "SELECT id FROM items ORDER BY coalesce(published, first_seen), title, id"))}
    for article in sorted(found, key=lambda a: position[item_of[a["url"]][0]]):
        first = article["event_id"] not in seen
        seen.add(article["event_id"])
        flagged = item_of[article["url"]][0] in started
        tp += first and flagged
        fp += flagged and not first
        fn += first and not flagged
    result["first_story"] = _prf(tp, fp, fn)
    sizes = Counter(storyline for (storyline,) in conn.execute(
        "SELECT storyline_id FROM items WHERE storyline_id IS NOT NULL"))
    result["largest_storyline_in_archive"] = max(sizes.values(), default=0)
    conn.close()
    return result


# -- ECB+ pairs ------------------------------------------------------------


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a positive pair scores above a negative one (ties half)."""
    values = sorted([(s, 1) for s in positive] + [(s, 0) for s in negative])
    rank_sum = 0.0
    start = 0
    while start < len(values):
        end = start
        while end < len(values) and values[end][0] == values[start][0]:
            end += 1
        rank = (start + end + 1) / 2
        rank_sum += rank * sum(label for _, label in values[start:end])
        start = end
    n_pos, n_neg = len(positive), len(negative)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


_PLAIN_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _plain_vectors(texts: dict[str, str]) -> dict[str, dict[str, float]]:
    """The baseline: TF-IDF (raw counts, smoothed idf, l2), as scikit-learn's default."""
    counts = {key: Counter(_PLAIN_TOKEN.findall(text.lower())) for key, text in texts.items()}
    frequency: Counter[str] = Counter()
    for words in counts.values():
        frequency.update(words.keys())
    vectors = {}
    for key, words in counts.items():
        vector = {w: n * (math.log((1 + len(counts)) / (1 + frequency[w])) + 1)
                  for w, n in words.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors[key] = {w: v / norm for w, v in vector.items()}
    return vectors


def score_ecbplus(shared: Path) -> dict[str, Any]:
    folder = shared / "links" / "ecbplus_dev"
    docs = {d["doc_id"]: d for d in map(json.loads, (folder / "documents.jsonl").open())}
    pairs = [json.loads(line) for line in (folder / "pairs.jsonl").open()]
    profiles = {}
    for key, doc in docs.items():
        body = doc["text"]
        if body.startswith(doc["title"]):  # the title is the text's first sentence
            body = body[len(doc["title"]):]
        profiles[key] = profile(doc["title"], body)
    frequency: Counter[str] = Counter()
    for item in profiles.values():
        frequency.update(item.terms)
    ours = {key: weigh(p.words, Idf.of(len(profiles), frequency))
            for key, p in profiles.items()}
    plain = _plain_vectors({key: doc["text"] for key, doc in docs.items()})
    result: dict[str, Any] = {"documents": len(docs), "pairs": Counter(p["label"] for p in pairs)}
    for name, vectors in (("tracker", ours), ("plain_tfidf", plain)):
        by_label: dict[str, list[float]] = defaultdict(list)
        for pair in pairs:
            by_label[pair["label"]].append(cosine(vectors[pair["doc_a"]],
                                                  vectors[pair["doc_b"]]))
        result[name] = {
            "auc_same_event_vs_same_topic": roc_auc(by_label["same_event"],
                                                    by_label["same_topic_different_event"]),
            "auc_same_topic_vs_different_topic": roc_auc(
                by_label["same_event"] + by_label["same_topic_different_event"],
                by_label["different_topic"]),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=None,
                        help="[links] threshold (default: tracker's own)")
    parser.add_argument("--history", type=int, default=HISTORY_ITEMS,
                        help="replay-stream items stored before the labelled articles")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    shared = default_shared_data()
    with tempfile.TemporaryDirectory() as tmp:
        articles, db = replay_giveme(shared, Path(tmp), args.threshold, args.history)
        results = {**provenance(), "giveme5w1h_dev": score_giveme(articles, db),
                   "ecbplus_dev": score_ecbplus(shared)}
    text = json.dumps(results, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
