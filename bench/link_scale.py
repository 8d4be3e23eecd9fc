"""Link time per new item as the archive grows, database size per 100k items,
and what an unchanged poll costs at each size.

    python -m bench.link_scale [--sizes 10000 100000 1000000] [--probe 300]

History is generated from the 2022 replay stream: each stored item pairs a
real title with the real description of another item (seeded), so the texts
are varied news language rather than copies, arriving 1,000 a day. History is
written in bulk through the store's own tables and triggers (FTS index, word
statistics), each item with a key and its place in the one feed, as a poll
stores them; then `--probe` new items (real replay items) are stored and
queued and linked one by one through `Store.link_pending`, the code a poll
runs (a pass of one item, in its own transactions), and the median and 90th
percentile per item reported. Last, at each size, whole `tracker poll --all`
processes poll that feed, served from 127.0.0.1 and unchanged (a conditional
request answered 304), whole `tracker status` processes show that feed
with its item count and newest item, and whole `tracker search` processes
look up a word a tenth of the archive holds: what costs nothing to do with new
items but could grow with the archive (a poll once read every item to find the
due feeds; status once counted every feed's items).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.corpus import default_shared_data, render_rss, replay_items
from bench.peers import compile_tracker, tracker_command
from bench.provenance import provenance
from tests.feedserver import Document, FeedServer
from tracker.link import LinkSettings, profile
from tracker.store import Store
from tracker.timefmt import to_text

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2020, 1, 1, tzinfo=UTC)
PER_DAY = 1000
UNCHANGED_POLLS = 5
SEARCH_WORD = "Ukraine"


def _grow(store: Store, stream: list[dict[str, str]], start: int, end: int,
          rng: random.Random) -> None:
    """Add history items start..end-1 (their word statistics too)."""
    conn = store.conn
    frequency: Counter[str] = Counter()
    with store.write():
        rows = []
        for n in range(start, end):
            title = stream[n % len(stream)]["title"]
            summary = stream[rng.randrange(len(stream))].get("description") or ""
            when = to_text(START + timedelta(seconds=n * 86400 // PER_DAY))
            rows.append((1, title, summary, when, when, f"h{n}"))
            frequency.update(profile(title, summary).terms)
        first = (conn.execute("SELECT max(id) FROM items").fetchone()[0] or 0) + 1
        conn.executemany("INSERT INTO items (feed_id, title, summary, published, first_seen, "
                         "content_hash) VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT INTO item_keys (key, item_id) SELECT 'url:https://bench.example/' "
                     "|| id, id FROM items WHERE id >= ?", (first,))
        conn.execute("INSERT INTO item_feeds (item_id, feed_id, first_seen) "
                     "SELECT id, feed_id, first_seen FROM items WHERE id >= ?", (first,))
        conn.executemany("INSERT INTO term_df (term, df) VALUES (?, ?) ON CONFLICT (term) "
                         "DO UPDATE SET df = df + excluded.df", frequency.items())
        conn.execute("UPDATE link_state SET documents = documents + ?", (end - start,))


def _probe(store: Store, stream: list[dict[str, str]], size: int,
           count: int) -> tuple[list[float], list[int]]:
    """Store and link `count` new items one at a time, each a poll's pass of one
    (`Store.link_pending`, its transactions included: a pass this small looks up
    candidates on the store's own connection, no thread); seconds per link, and
    links found per item (a quick pass that found nothing would measure nothing)."""
    now = START + timedelta(seconds=size * 86400 // PER_DAY)
    settings = LinkSettings()
    timings, found = [], []
    for record in stream[-count:]:
        title, summary = record["title"], record.get("description") or ""
        with store.write():
            item_id = int(store.conn.execute(
                "INSERT INTO items (feed_id, title, summary, published, first_seen, "
                "content_hash) VALUES (1, ?, ?, ?, ?, 'probe')",
                (title, summary, to_text(now), to_text(now))).lastrowid or 0)
            store.links.enqueue(item_id, now)
        started = time.perf_counter()
        store.link_pending(now, settings)
        timings.append(time.perf_counter() - started)
        found.append(store.conn.execute("DELETE FROM item_links WHERE item_id = ?",
                                        (item_id,)).rowcount)
    return timings, found


Run = tuple[float, subprocess.CompletedProcess[str]]  # seconds, outcome


def _timed_runs(command: list[str], runs: int) -> list[Run]:
    """Wall time and outcome of `runs` whole processes of `command`, one after another."""
    timed = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        timed.append((time.perf_counter() - started, done))
    return timed


def _unchanged_poll_seconds(state: Path, url: str) -> float:
    """Median wall time of whole `tracker poll --all` processes finding the feed
    unchanged (the first poll, which stores the feed's items, is not timed)."""
    first, *timed = _timed_runs(tracker_command(state, [url]), UNCHANGED_POLLS + 1)
    for _, done in (first, *timed):
        done.check_returncode()
    for _, done in timed:
        if "(1 unchanged)" not in done.stdout:
            raise RuntimeError(f"the feed was not found unchanged: {done.stdout.strip()}")
    return statistics.median(seconds for seconds, _ in timed)


def _status_seconds(state: Path, url: str) -> float:
    """Median wall time of whole `tracker status` processes (after the polls:
    the feed is healthy and holds the archive's items)."""
    command = [*tracker_command(state, [url])[:-2], "status"]  # its "poll --all" replaced
    timed = _timed_runs(command, UNCHANGED_POLLS)
    for _, done in timed:
        if done.returncode not in (0, 1) or "Bench 0" not in done.stdout:  # 1: needs a person
            raise RuntimeError(f"tracker status failed: {done.stderr.strip()}")
    return statistics.median(seconds for seconds, _ in timed)


def _search_seconds(state: Path, url: str, *options: str) -> float:
    """Median wall time of whole `tracker search` processes for a word in a
    tenth of the archive (best first ranks every item holding it; --newest
    reads them by date), which an analyst asks of years of news."""
    command = [*tracker_command(state, [url])[:-2], "search", SEARCH_WORD, *options]
    timed = _timed_runs(command, UNCHANGED_POLLS)
    for _, done in timed:
        if done.returncode != 0 or SEARCH_WORD.lower() not in done.stdout.lower():
            raise RuntimeError(f"tracker search found nothing: {done.stderr.strip()}")
    return statistics.median(seconds for seconds, _ in timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--probe", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                        "link_scale.json")
    args = parser.parse_args(argv)
    compile_tracker()
    stream = list(replay_items(default_shared_data()))
    history, probes = stream[:-args.probe], stream
    rng = random.Random(2022)
    results: list[dict[str, Any]] = []
    server = FeedServer().start()
    served = [{**record, "body": record.get("description") or ""} for record in probes[:20]]
    url = server.add("/feed", Document(render_rss("bench", served)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tracker.db"  # where tracker_command's config points
        store = Store.open(path)
        store.conn.execute("INSERT INTO feeds (config_url, url, name, kind, interval_seconds, "
                           "added_at) VALUES (?, ?, 'Bench 0', 'news', 1800, ?)",
                           (url, url, to_text(START)))
        stored = 0
        for size in sorted(args.sizes):
            for chunk in range(stored, size, 50_000):
                _grow(store, history, chunk, min(size, chunk + 50_000), rng)
            stored = size
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            timings, found = _probe(store, probes, size, args.probe)
            if not any(found):
                raise RuntimeError(f"no probe item found a link at {size} stored items")
            ms = sorted(t * 1000 for t in timings)
            database_mb = round(path.stat().st_size / 2**20, 1)  # before the polls add theirs
            row = {"stored_items": size, "median_ms": round(statistics.median(ms), 2),
                   "p90_ms": round(ms[int(len(ms) * 0.9)], 2),
                   "links_per_item_mean": round(statistics.mean(found), 2),
                   "database_mb": database_mb,
                   "unchanged_poll_seconds": round(_unchanged_poll_seconds(Path(tmp), url), 3),
                   "status_seconds": round(_status_seconds(Path(tmp), url), 3),
                   "search_seconds": round(_search_seconds(Path(tmp), url), 3),
                   "search_newest_seconds": round(
                       _search_seconds(Path(tmp), url, "--newest"), 3)}
            results.append(row)
            print(json.dumps(row), flush=True)
        store.close()
    server.stop()
    output = {**provenance(), "probe_items": args.probe, "items_per_day": PER_DAY,
              "unchanged_polls": UNCHANGED_POLLS, "results": results}
    args.out.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
