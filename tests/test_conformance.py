"""Any bytes at all: every conformance document through the real ingest path.

feedparser's own 2,106 test documents and feed-rs's fixtures are served from a
local server and polled through the CLI (fetch, bounded parser pool, normalise,
store). Nothing may crash, every document ends as items or as a recorded,
readable error, and no stored text holds NULs or control characters.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker.errors import ParseError
from tracker.normalise import normalise_feed
from tracker.parse import parse_feed

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def conformance_documents(shared_data: Path) -> list[Path]:
    root = shared_data / "conformance"
    documents = [p for p in sorted(root.rglob("*"))
                 if p.suffix in (".xml", ".json") and not p.name.endswith(".serde.json")]
    return documents


def test_every_conformance_document_is_ingested_without_a_crash(
        shared_data: Path, tmp_path: Path) -> None:
    documents = conformance_documents(shared_data)
    assert len(documents) > 2100
    server = FeedServer().start()
    try:
        feeds = [{"name": str(path.relative_to(shared_data)),
                  "url": server.add(f"/c/{n}", Document(path.read_bytes(),
                                                        content_type="application/xml"))}
                 for n, path in enumerate(documents)]
        config = write_config(tmp_path / "tracker.toml", feeds,
                              extra="[fetch]\nparse_timeout = 10\nper_host = 8")
        cli = Cli(config, tmp_path / "tracker.db")
        result = cli("poll")
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    conn = sqlite3.connect(cli.db)
    polled = conn.execute("SELECT count(*) FROM feeds WHERE last_attempt IS NOT NULL").fetchone()
    assert polled[0] == len(documents)
    ok, failed = conn.execute("SELECT sum(last_error IS NULL), sum(last_error IS NOT NULL) "
                              "FROM feeds").fetchone()
    assert ok > 1500 and failed > 0  # most conformance documents are feeds; some are not
    for (error,) in conn.execute("SELECT last_error FROM feeds WHERE last_error IS NOT NULL"):
        assert error and "\n" not in error and len(error) < 400
    texts = conn.execute("SELECT title, summary, coalesce(author, ''), coalesce(url, '') "
                         "FROM items").fetchall()
    assert len(texts) > 1000
    for row in texts:
        for text in row:
            assert not CONTROL.search(text), repr(text[:80])
            assert "\ufffe" not in text and "\uffff" not in text


FEED_TEMPLATE = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                 "<title>{t}</title><item><title>{t}</title><link>{l}</link>"
                 "<guid>{g}</guid><description>{d}</description><author>{a}</author>"
                 "<pubDate>{p}</pubDate></item></channel></rss>")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(), st.text(), st.text(), st.text(), st.text(), st.text())
def test_parse_and_normalise_never_crash_on_any_field_text(
        title: str, link: str, guid: str, description: str, author: str, date: str) -> None:
    document = FEED_TEMPLATE.format(t=title, l=link, g=guid, d=description, a=author,
                                    p=date).encode("utf-8", "surrogatepass")
    check_ingest(document)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_and_normalise_never_crash_on_any_bytes(document: bytes) -> None:
    check_ingest(document)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_inside_a_real_feed_never_crashes(noise: bytes) -> None:
    document = FEED_TEMPLATE.format(t="T", l="https://e.org/", g="g", d="D", a="A",
                                    p="Mon, 17 Nov 2025 09:30:00 GMT").encode()
    cut = len(document) // 2
    check_ingest(document[:cut] + noise + document[cut:])


def check_ingest(document: bytes) -> None:
    try:
        parsed = parse_feed(document)
    except ParseError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for item in normalise_feed(parsed, "1"):
        for text in (item.title, item.summary, item.author or "", item.url or "", *item.keys):
            assert not CONTROL.search(text.replace("\n", "")), repr(text[:80])
        assert item.title and len(item.title) <= 501
        assert item.url is None or item.url.startswith(("http://", "https://"))
