"""The poll's fetch window (results in completion order, a bounded number held)
and the parser processes a poll starts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import write_config
from tests.feedserver import Document, FeedServer
from tests.test_cli import rss
from tracker.config import load_config
from tracker.fetch import Fetcher
from tracker.parsepool import ParserPool
from tracker.service import TrackerService, bounded_map
from tracker.store import Store


def test_bounded_map_never_holds_more_than_its_window() -> None:
    lock = threading.Lock()
    started = consumed = most_ahead = 0

    def work(n: int) -> int:
        nonlocal started, most_ahead
        with lock:
            started += 1
            most_ahead = max(most_ahead, started - consumed)
        time.sleep(0.001 * (n % 3))  # finish out of order
        return n

    results = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for result in bounded_map(pool, work, range(200), window=6):
            time.sleep(0.002)  # a consumer slower than the workers, as storing is
            with lock:
                consumed += 1
            results.append(result)
    assert sorted(results) == list(range(200))
    assert results != list(range(200))  # completion order, not input order
    assert most_ahead <= 6
    assert most_ahead >= 4  # the workers did run ahead of the consumer


def test_bounded_map_with_fewer_inputs_than_its_window() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sorted(bounded_map(pool, lambda n: n * 2, [1, 2, 3], window=10)) == [2, 4, 6]
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(bounded_map(pool, lambda n: n, [], window=4)) == []


def test_a_poll_stops_the_parser_processes_it_started(feed_server: FeedServer,
                                                      tmp_path: Path) -> None:
    well_formed = feed_server.add(
        "/ok", Document(rss("Drone deal signed", base="https://a.example/")))
    # An unescaped ampersand: feedparser's, in a parser process.
    lenient = feed_server.add(
        "/lenient", Document(rss("Air policing & patrols", base="https://b.example/")))
    config = load_config(write_config(tmp_path / "tracker.toml",
                                      [{"name": "Ok", "url": well_formed},
                                       {"name": "Lenient", "url": lenient}]))
    pool = ParserPool(workers=2, timeout=20, memory_mb=256)
    with Store.open(tmp_path / "tracker.db") as store:
        service = TrackerService(config, store, Fetcher(config.fetch, True, frozenset()),
                                 parser=pool)
        try:
            summary = service.poll()
            started = pool._started
            titles = {row[0] for row in store.conn.execute("SELECT title FROM items")}
        finally:
            service.close()
    assert summary.feeds_ok == 2 and summary.new_items == 2
    assert titles == {"Drone deal signed", "Air policing & patrols"}
    assert started == 0 and pool._all == []
