"""The poll's fetch window (results in completion order, a bounded number held),
the parser processes a poll starts, and broken documents not parsed twice."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tests.test_cli import rss
from tests.test_fetch import redirect_to
from tracker.config import Config, load_config
from tracker.errors import ParserFailure, StoreError
from tracker.fetch import Fetcher
from tracker.parsepool import ParseOutput, ParserPool, parse_document
from tracker.service import PollSummary, TrackerService, bounded_map
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
    summary = poll(config, tmp_path / "tracker.db", pool)
    with Store.open(tmp_path / "tracker.db") as store:
        titles = {row[0] for row in store.conn.execute("SELECT title FROM items")}
    started = pool._started
    assert summary.feeds_ok == 2 and summary.new_items == 2
    assert titles == {"Drone deal signed", "Air policing & patrols"}
    assert started == 0 and pool._all == []


class CountingParser:
    """The in-process parser, counting the documents it is given; `fail_first`
    makes its first call a parser failure (a timeout, say)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first

    def __call__(self, content: bytes, headers: dict[str, str], scope: str,
                 document_url: str) -> ParseOutput:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise ParserFailure("refused: parsing took longer than 20s (fetch.parse_timeout)")
        return parse_document(content, headers, scope, document_url)


def poll(config: Config, db: Path, parser: CountingParser | ParserPool) -> PollSummary:
    """Poll every feed once, as the CLI does (the service closes its parser)."""
    with Store.open(db) as store:
        service = TrackerService(config, store, Fetcher(config.fetch, True, frozenset()),
                                 parser=parser)
        try:
            return service.poll(all_feeds=True)
        finally:
            service.close()


def poll_once(config: Config, db: Path, parser: CountingParser) -> dict[str, object]:
    """Poll the one feed; its health and the items stored, afterwards."""
    poll(config, db, parser)
    with Store.open(db) as store:
        row = store.conn.execute("SELECT last_error, consecutive_failures, "
                                 "(SELECT count(*) FROM items) AS items FROM feeds").fetchone()
        return dict(row)


def one_feed(feed_server: FeedServer, tmp_path: Path, document: Document) -> Config:
    url = feed_server.add("/feed", document)
    return load_config(write_config(tmp_path / "tracker.toml", [{"name": "F", "url": url}]))


def test_the_same_broken_document_is_not_parsed_again(feed_server: FeedServer,
                                                      tmp_path: Path) -> None:
    config = one_feed(feed_server, tmp_path, Document(b"<html><body>Moved</body></html>",
                                                      content_type="text/html"))
    parser, db = CountingParser(), tmp_path / "tracker.db"
    first = poll_once(config, db, parser)
    second = poll_once(config, db, parser)
    assert parser.calls == 1
    assert second["last_error"] == first["last_error"]
    assert "not a feed" in str(first["last_error"])
    assert second["consecutive_failures"] == 2
    feed_server.add("/feed", Document(rss("Drone deal signed")))  # mended
    mended = poll_once(config, db, parser)
    assert parser.calls == 2
    assert mended["last_error"] is None and mended["items"] == 1


def test_a_document_whose_parse_was_cut_off_is_parsed_again(feed_server: FeedServer,
                                                            tmp_path: Path) -> None:
    config = one_feed(feed_server, tmp_path, Document(rss("Drone deal signed")))
    parser, db = CountingParser(fail_first=True), tmp_path / "tracker.db"
    assert "took longer" in str(poll_once(config, db, parser)["last_error"])
    again = poll_once(config, db, parser)
    assert parser.calls == 2 and again["last_error"] is None and again["items"] == 1


def test_another_failure_in_between_means_parsing_again(feed_server: FeedServer,
                                                        tmp_path: Path) -> None:
    broken = Document(b"<html><body>Moved</body></html>", content_type="text/html")
    config = one_feed(feed_server, tmp_path, broken)
    parser, db = CountingParser(), tmp_path / "tracker.db"
    poll_once(config, db, parser)
    feed_server.add("/feed", Document(b"busy", status=503))
    assert "503" in str(poll_once(config, db, parser)["last_error"])
    feed_server.add("/feed", broken)
    back = poll_once(config, db, parser)
    assert parser.calls == 2  # parsed again: the error on record was the 503's
    assert "not a feed" in str(back["last_error"]) and back["consecutive_failures"] == 3


RELATIVE_LINKS = (b'<rss version="2.0"><channel><title>FT</title>'
                  b"<item><title>Coal ban prepared</title><link>/content/c57f1115</link>"
                  b"<guid isPermaLink='false'>c57f1115</guid></item>"
                  b"<item><title>Diplomats expelled</title><link>content/a41a1c75</link>"
                  b"<guid isPermaLink='false'>a41a1c75</guid></item></channel></rss>")


def test_relative_links_are_resolved_against_where_the_document_came_from(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """The FT writes `/content/<id>`: stored as written, the link was dropped (not
    http), and readers had nothing to click. Resolved against the URL the body came
    from, after redirects, through the real parser process."""
    feed_server.add("/rss/home", Document(RELATIVE_LINKS))
    moved = feed_server.add("/old", redirect_to(feed_server.url("/rss/home")))
    config = load_config(write_config(tmp_path / "tracker.toml", [{"name": "FT", "url": moved}]))
    summary = poll(config, tmp_path / "tracker.db", ParserPool(workers=1, timeout=20,
                                                                 memory_mb=256))
    with Store.open(tmp_path / "tracker.db") as store:
        urls = {row[0]: row[1] for row in store.conn.execute("SELECT title, url FROM items")}
    assert summary.new_items == 2
    assert urls == {"Coal ban prepared": feed_server.url("/content/c57f1115"),
                    "Diplomats expelled": feed_server.url("/rss/content/a41a1c75")}


def test_a_full_disk_stops_the_poll_with_one_clear_error_and_loses_nothing(
        feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's max_page_count makes the database file full, as a full disk does
    (the same SQLITE_FULL): the poll stops with the store's message, everything
    stored before stays, and the connection is not left inside a transaction."""
    first = feed_server.add("/first", Document(rss("Drone deal signed")))
    config = load_config(write_config(tmp_path / "tracker.toml", [{"name": "F", "url": first}]))
    db = tmp_path / "tracker.db"
    poll(config, db, CountingParser())
    long_titles = [f"Interceptor order {n} " + "word " * 2000 for n in range(40)]
    feed_server.add("/second", Document(rss(*long_titles, base="https://b.example/")))
    config = load_config(write_config(tmp_path / "tracker.toml",
                                      [{"name": "F", "url": first},
                                       {"name": "G", "url": feed_server.url("/second")}]))
    opened = Store.open

    def nearly_full(path: Path) -> Store:
        store = opened(path)
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 8}")
        return store

    monkeypatch.setattr(Store, "open", nearly_full)
    with pytest.raises(StoreError, match=r"the disk is full \([0-9.]+ MB free there\), so "
                                         "nothing more could be stored; free some space"):
        poll(config, db, CountingParser())
    cli = Cli(tmp_path / "tracker.toml", db)
    result = cli("poll", "--all")
    assert result.exit_code == 1 and "Error: " in result.output
    assert "the disk is full" in result.output and "Traceback" not in result.output

    monkeypatch.undo()
    with Store.open(db) as store:
        assert [row[0] for row in store.conn.execute("SELECT title FROM items")] == \
            ["Drone deal signed"]
    assert poll(config, db, CountingParser()).new_items == 40  # once there is room
