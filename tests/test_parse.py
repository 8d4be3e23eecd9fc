from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tracker.errors import ParseError
from tracker.parse import parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>MoD news</title><ttl>60</ttl>
<item><title>UK to mass-produce interceptor drones</title>
<link>https://www.gov.uk/government/news/interceptors</link>
<guid isPermaLink="false">urn:gov:1</guid>
<description>&lt;p&gt;Ukrainian-designed &lt;b&gt;interceptors&lt;/b&gt;&lt;/p&gt;</description>
<pubDate>Mon, 17 Nov 2025 09:30:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>NATO</title>
<entry><title type="html">&lt;em&gt;Eastern Sentry&lt;/em&gt; begins</title>
<link href="/news/1"/><id>tag:nato.int,2025:1</id>
<updated>2025-09-12T10:00:00Z</updated><content type="html">Air policing</content></entry>
</feed>"""


def test_rss_entry_fields() -> None:
    parsed = parse_feed(RSS)
    assert parsed.title == "MoD news" and parsed.warning is None
    assert parsed.ttl_seconds == 3600
    (entry,) = parsed.entries
    assert entry.guid == "urn:gov:1"
    assert entry.link == "https://www.gov.uk/government/news/interceptors"
    assert entry.published == datetime(2025, 11, 17, 9, 30, tzinfo=UTC)
    assert entry.updated is None
    assert "interceptors" in (entry.summary or "")


def test_atom_relative_links_resolve_against_the_response_location() -> None:
    parsed = parse_feed(ATOM, {"content-location": "https://www.nato.int/feed.xml"})
    (entry,) = parsed.entries
    assert entry.link == "https://www.nato.int/news/1"
    assert entry.title_is_html and entry.summary == "Air policing"
    assert entry.updated == datetime(2025, 9, 12, 10, tzinfo=UTC)


def test_broken_xml_with_entries_is_read_leniently_with_a_warning() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>Second & third</title></item>")
    parsed = parse_feed(broken)
    assert len(parsed.entries) == 2
    assert parsed.warning is not None and parsed.warning.startswith("read leniently")


@pytest.mark.parametrize(("document", "headers", "error"), [
    (b"<!DOCTYPE html>\n<html><head><title>Defence news</title></head><body/></html>",
     {"content-type": "application/xml"},
     'not a feed: the server sent a web page titled "Defence news", not RSS or Atom'),
    # a "moved" page served with 200: no doctype, no <html>, two roots
    (b"<head><title>Document Moved</title></head>\n<body><h1>Object Moved</h1></body>", {},
     'the server sent a web page titled "Document Moved"'),
    (b"<html><body><p>Hello</p></body></html>", {"content-type": "text/html; charset=utf-8"},
     "not a feed: the server sent a web page, not RSS or Atom"),
    (b'<?xml version="1.0"?><!-- books --><catalog><book id="1"/></catalog>', {},
     "not a feed: an XML document whose root element is <catalog>, not RSS, Atom or RDF"),
    (b"title,date\nDrones,2025-11-17", {"content-type": "text/csv"},
     'not a feed: the server sent text/csv, not RSS or Atom; it begins "title,date Drones,'),
    (b'{"items": []}', {"content-type": "application/json"},
     "not a feed: JSON, but not a JSON Feed"),
    (b"\x00\x01\x02\x03\x04\x05 garbage", {"content-type": "application/rss+xml"},
     "not a feed: the document is not XML; it is binary data"),
    (b" \n", {}, "not a feed: the document is empty"),
    # what status prints of a document is text: no escape sequence reaches a terminal
    (b"Hello \x1b]52;c;aGk=\x07 world, and some more text", {"content-type": "text/plain"},
     'not a feed: the server sent text/plain, not RSS or Atom; it begins "Hello ]52;c;aGk= '
     'world, and'),
    (b"<html><head><title>Defence \x1b[2J news</title></head></html>", {},
     'the server sent a web page titled "Defence [2J news"'),
    (b'<?xml version="1.0"?>\n<rss version="2.0"', {},
     "not a readable feed: unclosed token: line 2, column 0"),
])
def test_documents_that_are_not_feeds_say_what_they_are(
        document: bytes, headers: dict[str, str], error: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(document, headers)
    assert error in str(info.value)


def test_xml_error_positions_are_shown_only_where_they_are_right() -> None:
    # feedparser adds a declaration line to a document without one, so its
    # line numbers are one off there: no position rather than a wrong one.
    body = b'<rss version="2.0"><channel>\n<item><title>x</fo></item></channel></rss>'
    assert parse_feed(body).warning == "read leniently: mismatched tag"
    declared = b'<?xml version="1.0"?>' + body
    warning = parse_feed(declared).warning or ""
    assert warning.startswith("read leniently: mismatched tag: line 2, column ")


def test_bytes_that_look_like_a_path_are_not_opened(tmp_path: object) -> None:
    with pytest.raises(ParseError):
        parse_feed(b"/etc/passwd")


def entity_bomb(value_bytes: int = 10_000, references: int = 4_000) -> bytes:
    return (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "' + b"X" * value_bytes +
            b'"><!ENTITY b2 "&big;&big;&big;">]><rss version="2.0"><channel><title>x</title>'
            b"<item><title>t</title><description>" + b"&b2;" * references +
            b"</description></item><br></channel></rss>")


def test_entity_expansion_bombs_are_refused_before_parsing() -> None:
    with pytest.raises(ParseError, match=r"expand to about 120 MB"):
        parse_feed(entity_bomb())


def test_a_few_small_entities_are_fine() -> None:
    parsed = parse_feed(entity_bomb(value_bytes=10, references=3))
    assert len(parsed.entries) == 1


def test_a_huge_author_is_trimmed_not_fatal_and_fast() -> None:
    import time

    document = (b'<rss version="2.0"><channel><title>x</title><item><title>t</title><author>' +
                b"a" * 64_000 + b"</author></item></channel></rss>")
    started = time.monotonic()
    (entry,) = parse_feed(document).entries
    assert time.monotonic() - started < 0.5  # untrimmed, feedparser's regex takes seconds
    assert entry.author == "a" * 256
