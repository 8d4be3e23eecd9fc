"""Parsing in bounded worker processes: a bad document costs one worker, not the daemon."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tracker.errors import ParseError
from tracker.parsepool import ParserPool

GOOD = (b'<rss version="2.0"><channel><title>ok</title><item><title>Fine</title>'
        b"<link>https://e.org/1</link></item></channel></rss>")


def deep(levels: int = 100_000) -> bytes:
    return (b'<rss version="2.0"><channel><title>x</title><item><title>t</title>' +
            b"<a>" * levels + b"</a>" * levels + b"</item></channel></rss>")


def many_entries(count: int) -> bytes:
    items = b"".join(b"<item><title>Item %d</title><link>https://e.org/%d</link>"
                     b"<description>%s</description></item>" % (n, n, b"w " * 200)
                     for n in range(count))
    return b'<rss version="2.0"><channel><title>x</title>' + items + b"</channel></rss>"


@pytest.fixture
def pool() -> Iterator[ParserPool]:
    with ParserPool(workers=2, timeout=0.3, memory_mb=64) as parsers:
        yield parsers


def test_good_documents_parse_into_items(pool: ParserPool) -> None:
    output = pool.parse(GOOD, {}, "1")
    assert output.title == "ok" and [i.title for i in output.items] == ["Fine"]
    assert output.items[0].keys == ("url:e.org/1",)


# An unescaped ampersand: not well-formed, so the in-process path declines it
# and a worker's feedparser reads it leniently.
LENIENT = GOOD.replace(b"<title>Fine</title>", b"<title>Fish & chips</title>")


def test_declined_documents_one_after_another_share_one_worker(pool: ParserPool) -> None:
    for _ in range(3):
        assert [i.title for i in pool.parse(LENIENT, {}, "1").items] == ["Fish & chips"]
    assert len(pool._all) == 1


def test_a_worker_reads_feeds_without_loading_the_tls_libraries(pool: ParserPool) -> None:
    """feedparser's urllib.request would load libssl and libcrypto (1.4 MB in
    every worker) for fetching that a worker never does."""
    assert [i.title for i in pool.parse(LENIENT, {}, "1").items] == ["Fish & chips"]
    (worker,) = pool._all
    with open(f"/proc/{worker.process.pid}/maps", encoding="utf-8") as maps:
        mapped = maps.read()
    assert "python3" in mapped or "libpython" in mapped  # the map is the worker's
    assert "libssl" not in mapped and "_ssl" not in mapped


def test_stopped_workers_exit_and_start_again_when_needed(pool: ParserPool) -> None:
    pool.parse(LENIENT, {}, "1")
    (worker,) = pool._all
    pool.stop_workers()
    assert pool._all == [] and worker.process.poll() is not None
    assert [i.title for i in pool.parse(LENIENT, {}, "1").items] == ["Fish & chips"]
    assert len(pool._all) == 1 and pool._all[0] is not worker


def test_quick_documents_from_many_threads_share_one_worker() -> None:
    with ParserPool(workers=2, timeout=30, memory_mb=64, patience=10) as pool, \
            ThreadPoolExecutor(max_workers=8) as threads:
        outputs = list(threads.map(lambda _: pool.parse(LENIENT, {}, "1"), range(16)))
        assert all(o.items[0].title == "Fish & chips" for o in outputs)
        assert len(pool._all) == 1


def test_a_queue_of_quick_documents_does_not_start_a_second_worker() -> None:
    """Waiting in a queue is not waiting behind a slow document: 128 documents of
    a few milliseconds each keep the later ones waiting longer than `patience`,
    but none keeps the worker that long, so a second (25-35 MB) never starts."""
    document = many_entries(20).replace(b"<title>Item 1</title>", b"<title>Fish & chips</title>")
    with ParserPool(workers=2, timeout=30, memory_mb=256, patience=0.2) as pool, \
            ThreadPoolExecutor(max_workers=128) as threads:
        started = time.monotonic()
        outputs = list(threads.map(lambda _: pool.parse(document, {}, "1"), range(128)))
        assert time.monotonic() - started > 0.2  # so some document did wait that long
        assert all(o.items[1].title == "Fish & chips" for o in outputs)
        assert len(pool._all) == 1


def test_a_second_worker_starts_behind_a_slow_document() -> None:
    with ParserPool(workers=2, timeout=30, memory_mb=256, patience=0.2) as pool, \
            ThreadPoolExecutor(max_workers=1) as threads:
        slow = threads.submit(pool.parse, deep(300_000), {}, "1")  # ~3 s in feedparser
        time.sleep(0.1)
        quick = pool.parse(LENIENT, {}, "1")
        finished_first = not slow.done()
        assert quick.items[0].title == "Fish & chips"
        assert len(pool._all) == 2
        slow.result()
    assert finished_first  # it did not wait for the slow one


def test_a_document_waiting_for_a_worker_that_is_killed_gets_a_new_one() -> None:
    with ParserPool(workers=1, timeout=0.5, memory_mb=256, patience=0.2) as pool, \
            ThreadPoolExecutor(max_workers=1) as threads:
        slow = threads.submit(pool.parse, deep(300_000), {}, "1")  # cut off at 0.5 s
        time.sleep(0.1)
        assert pool.parse(LENIENT, {}, "1").items[0].title == "Fish & chips"
        with pytest.raises(ParseError, match="longer than"):
            slow.result()
        assert len(pool._all) == 1


def test_a_slow_document_is_cut_off_and_the_pool_recovers(pool: ParserPool) -> None:
    started = time.monotonic()
    with pytest.raises(ParseError, match=r"longer than 0.3s"):
        pool.parse(deep(), {}, "1")
    assert time.monotonic() - started < 2
    assert pool.parse(GOOD, {}, "1").title == "ok"


def test_a_document_needing_too_much_memory_is_refused(pool: ParserPool) -> None:
    pool.timeout = 30
    with pytest.raises(ParseError, match=r"(64 MB|died|too large)"):
        pool.parse(many_entries(40_000), {}, "1")
    assert pool.parse(GOOD, {}, "1").title == "ok"


def test_bad_documents_are_parse_errors_not_crashes(pool: ParserPool) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        pool.parse(b"<html><body>hi</body></html>", {}, "1")
