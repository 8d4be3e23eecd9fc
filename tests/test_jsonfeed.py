"""JSON Feed documents: read field by field, defensively, and polled like any feed."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker.errors import ParseError
from tracker.jsonfeed import read_json_feed
from tracker.parse import parse_feed

FEED_1_1 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "NATO news",
    "home_page_url": "https://www.nato.int/",
    "items": [
        {"id": "https://www.nato.int/news/1", "url": "https://www.nato.int/news/1",
         "title": "Eastern Sentry begins", "content_html": "<p>Air policing <b>starts</b></p>",
         "date_published": "2025-09-12T10:00:00+02:00", "date_modified": "2025-09-13T08:00:00Z",
         "authors": [{"url": "https://www.nato.int/"}, {"name": "NATO Press Office"}]},
        {"id": 42, "external_url": "https://example.org/elsewhere", "title": "Link post",
         "content_text": "Patriot & IRIS-T <not markup>", "summary": ""},
    ],
}

FEED_1_0 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "MoD",
    "items": [{"id": "a", "url": "https://www.gov.uk/a", "content_text": "Drones",
               "summary": "Interceptor drones for Ukraine", "author": {"name": "MoD"},
               "date_published": "2025-11-17T09:30:00"}],
}


def encoded(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_json_feed_is_read_field_by_field() -> None:
    parsed = read_json_feed(encoded(FEED_1_1))
    assert parsed is not None and parsed.title == "NATO news" and parsed.warning is None
    first, second = parsed.entries
    assert first.guid == first.link == "https://www.nato.int/news/1"
    assert first.title == "Eastern Sentry begins" and not first.title_is_html
    assert first.summary == "<p>Air policing <b>starts</b></p>"
    assert first.author == "NATO Press Office"  # the first author with a name
    assert first.published == datetime(2025, 9, 12, 8, 0, tzinfo=UTC)
    assert first.updated == datetime(2025, 9, 13, 8, 0, tzinfo=UTC)
    # A number for an id; a link post's external_url; plain text escaped, as a
    # summary is HTML everywhere else.
    assert second.guid == "42" and second.link == "https://example.org/elsewhere"
    assert second.summary == "Patriot &amp; IRIS-T &lt;not markup&gt;"


def test_version_1_authors_and_dates_without_a_zone() -> None:
    parsed = read_json_feed(b"\xef\xbb\xbf  " + encoded(FEED_1_0))  # a BOM is tolerated
    assert parsed is not None
    (entry,) = parsed.entries
    assert entry.author == "MoD" and entry.summary == "Interceptor drones for Ukraine"
    assert entry.published == datetime(2025, 11, 17, 9, 30, tzinfo=UTC)


def test_values_of_the_wrong_type_are_ignored() -> None:
    hostile = {"version": "https://jsonfeed.org/version/1.1", "title": ["x"],
               "items": ["not an item", None,
                         {"id": {"nested": 1}, "url": 7, "title": None,
                          "content_html": 3.5, "date_published": "yesterday",
                          "date_modified": "9999-12-31T23:59:59-23:59",
                          "authors": "someone", "author": "a string"}]}
    parsed = read_json_feed(encoded(hostile))
    assert parsed is not None and parsed.title is None
    (entry,) = parsed.entries
    assert (entry.guid, entry.link, entry.title, entry.summary, entry.published,
            entry.updated, entry.author) == (None, None, None, None, None, None, None)


@pytest.mark.parametrize(("document", "error"), [
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "broken JSON"),
    (b'{"a": 1}', "JSON, but not a JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "not a JSON Feed"),
    (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "broken JSON"),
    (b'{"bad": "\xff\xfe"}', "broken JSON"),
])
def test_json_that_is_not_a_json_feed_fails_readably(document: bytes, error: str) -> None:
    with pytest.raises(ParseError, match=error):
        read_json_feed(document)
    with pytest.raises(ParseError, match=error):
        parse_feed(document, {"content-type": "application/json"})


def test_xml_is_left_to_the_xml_parsers() -> None:
    assert read_json_feed(b'<?xml version="1.0"?><rss version="2.0"/>') is None


def test_a_json_feed_is_polled_and_found_by_feeds_add(
        tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.json", Document(encoded(FEED_1_1),
                                                 content_type="application/feed+json"))
    page = feed_server.add("/", Document(
        b'<html><head><link rel="alternate" type="application/feed+json" '
        b'href="/feed.json"></head></html>', content_type="text/html"))
    config = write_config(tmp_path / "tracker.toml", [])
    cli = Cli(config, tmp_path / "tracker.db")
    added = cli("feeds", "add", page, "--kind", "official")
    assert added.exit_code == 0 and "added NATO news" in added.output, added.output
    polled = cli("poll")
    assert "1 ok" in polled.output and "2 new items" in polled.output, polled.output
    with sqlite3.connect(cli.db) as conn:
        rows = conn.execute("SELECT url, title, summary, published FROM items "
                            "ORDER BY id").fetchall()
    assert rows[0] == ("https://www.nato.int/news/1", "Eastern Sentry begins",
                       "Air policing starts", "2025-09-12T08:00:00+00:00")
    assert rows[1][2] == "Patriot & IRIS-T <not markup>"
    assert url in cli.config.read_text()
    # What tracker exports as JSON Feed, it reads back.
    exported = read_json_feed(cli("export", "--format", "jsonfeed").output.encode())
    assert exported is not None
    assert {entry.title for entry in exported.entries} == {"Eastern Sentry begins", "Link post"}
