"""The fast path must store exactly what feedparser's path would store.

Every document of the real and conformance corpora (../shared/data) is offered
to `parse_fast` with and without a Content-Type header; whenever it accepts
one, the items tracker would store (identity keys, text, links, dates) and the
feed's title and ttl must equal those from feedparser. Documents it is unsure
of go to feedparser, so the fast path is judged on agreement, and separately
on taking enough of the real feeds to be worth having. Generated documents
(hypothesis) try the text, markup, links, ids and dates the corpora happen not
to hold.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.corpus import build_corpus
from tracker.fastparse import MAX_MARKUP, parse_fast
from tracker.models import ParsedFeed
from tracker.normalise import normalise_feed
from tracker.parse import parse_feed
from tracker.parsepool import ParserPool

HEADER_VARIANTS = ({}, {"content-type": "application/rss+xml; charset=utf-8"},
                   {"content-type": "text/xml"},
                   # feedparser's base for the whole document, when a server names one
                   {"content-type": "application/xml",
                    "content-location": "https://other.example/x/feed.xml"},
                   {"date": "Mon, 05 Jan 2026 10:00:00 GMT"})  # no Content-Type at all
# Where the service says the document came from: relative links resolve against it.
DOCUMENT_URL = "https://feeds.example/news/feed.xml"


def _documents(root: Path) -> list[Path]:
    return [path for path in sorted(root.rglob("*"))
            if path.is_file() and path.suffix.lower() in (".xml", ".rss", ".atom", ".rdf")]


def _disagreements(documents: list[tuple[str, bytes]]) -> tuple[int, list[str]]:
    """(documents taken by the fast path, descriptions of any disagreement)."""
    taken, problems = 0, []
    for name, content in documents:
        for headers in HEADER_VARIANTS:
            fast = parse_fast(content, headers)
            if fast is None:
                continue
            taken += 1
            slow = parse_feed(content, headers)
            if (normalise_feed(fast, "1", DOCUMENT_URL) != normalise_feed(slow, "1", DOCUMENT_URL)
                    or (fast.title, fast.ttl_seconds) != (slow.title, slow.ttl_seconds)):
                problems.append(f"{name} {headers}")
    return taken, problems


@pytest.mark.parametrize("folder", ["feeds", "conformance"])
def test_fast_path_agrees_with_feedparser_on_the_shared_corpora(shared_data: Path,
                                                                folder: str) -> None:
    paths = _documents(shared_data / folder)
    assert len(paths) > 200
    taken, problems = _disagreements([(str(p), p.read_bytes()) for p in paths])
    assert not problems, problems[:10]
    assert taken > 60  # the check is not vacuous


def test_fast_path_takes_most_real_news_feeds(shared_data: Path) -> None:
    """Real feeds of the kind tracker follows (af.mil, Guardian, BBC, NYT ...)."""
    paths = (_documents(shared_data / "feeds" / "afmil_2016_tecnologianova")
             + _documents(shared_data / "feeds" / "rowanmanning_sample_feeds" / "real-world")
             + _documents(shared_data / "feeds" / "inline_js_fixtures"))
    taken = sum(parse_fast(p.read_bytes(), {}) is not None for p in paths)
    assert taken >= 0.95 * len(paths), (taken, len(paths))  # 80 of 82


def test_fast_path_agrees_on_the_benchmark_corpus(shared_data: Path) -> None:
    documents = list(build_corpus(shared_data, 40).items())
    taken, problems = _disagreements(documents)
    assert not problems, problems[:10]
    # All of them, served as tracker's feeds usually are (an XML type, utf-8).
    assert taken >= 2 * len(documents)


@pytest.mark.parametrize("document", [
    b"<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY a 'x'>]><rss><channel><title>t</title>"
    b"<item><title>&a;</title></item></channel></rss>",
    b"<rss><channel><title>t</title><item><title>a</title><link>mailto:a@e.org</link></item>"
    b"</channel></rss>",
    b"<rss><channel><title>t</title><item><title>a</title>",  # not well-formed
    b"<rss><channel><title>t</title><item><description><p>markup</p></description></item>"
    b"</channel></rss>",
    b"<html><body>not a feed</body></html>",
    b"<?xml version='1.0' encoding='iso-8859-2'?><rss><channel><title>t</title>"
    b"<item><title>caf\xe9</title></item></channel></rss>",
])
def test_documents_it_does_not_fully_understand_go_to_feedparser(document: bytes) -> None:
    assert parse_fast(document, {}) is None


def _items_document(count: int) -> bytes:
    """An RSS document of `count` items, with 6 + 4 x count "<" in it."""
    return (b'<rss version="2.0"><channel><title>t</title>'
            + b"<item><title>t</title></item>" * count + b"</channel></rss>")


def test_a_document_with_more_markup_than_the_limit_goes_to_feedparser() -> None:
    """2 MB of empty elements would take 50-80 MB as a tree in-process; above the
    limit the document goes to the worker, whose memory is bounded."""
    largest = _items_document((MAX_MARKUP - 6) // 4)
    assert largest.count(b"<") <= MAX_MARKUP
    assert parse_fast(largest, {}) is not None
    assert parse_fast(_items_document((MAX_MARKUP - 6) // 4 + 1), {}) is None
    nested = b'<rss version="2.0"><channel><title>t</title><item>' + b"<a>" * MAX_MARKUP
    assert parse_fast(nested + b"</a>" * MAX_MARKUP + b"</item></channel></rss>", {}) is None


@pytest.mark.parametrize("declaration, headers, taken", [
    (b"<?xml version='1.0' encoding='UTF-8'?>", {}, True),
    (b'<?xml version="1.0" encoding="utf8" standalone="yes"?>', {}, True),
    (b'<?xml version="1.0"?>', {"content-type": "application/xml; charset=utf-8"}, True),
    (b'<?xml version="1.0" encoding="us-ascii"?>', {}, False),
    (b'<?xml version="1.0" encoding="UTF-8"?>',
     {"content-type": "application/xml; charset=windows-1252"}, False),
    (b"\xef\xbb\xbf<?xml version='1.0'?>", {}, False),  # a byte-order mark: feedparser's rules
    (b"<?xml version='1.0' encoding='ISO-8859-1'?>", {}, True),
    (b"<?xml version='1.0' encoding='latin1'?>", {"content-type": "application/rss+xml"}, True),
    (b"<?xml version='1.0' encoding='windows-1252'?>",
     {"content-type": "application/xml; charset=windows-1252"}, True),
    (b"<?xml version='1.0' encoding='iso-8859-1'?>",
     {"content-type": "application/xml; charset=utf-8"}, False),
    (b"<?xml version='1.0' encoding='iso-8859-15'?>", {}, False),
    (b"<?xml version='1.0' encoding='windows-1251'?>", {}, False),
])
def test_utf_8_and_western_single_byte_encodings_the_headers_agree_with_are_read_in_process(
        declaration: bytes, headers: dict[str, str], taken: bool) -> None:
    document = declaration + _items_document(1)
    assert (parse_fast(document, headers) is not None) is taken


def _single_byte_rss(encoding: str, items: bytes) -> bytes:
    """An RSS document declaring `encoding`, its items already encoded."""
    return (f"<?xml version='1.0' encoding='{encoding}'?>".encode()
            + b'<rss version="2.0"><channel><title>t</title>' + items + b"</channel></rss>")


SINGLE_BYTE_TITLES = [
    ("iso-8859-1", b"Caf\xe9 talks in K\xf6ln"),
    ("windows-1252", b"\x93Drones\x94 \x96 \x80400m deal\x85"),   # Windows-1252's own characters
    ("iso-8859-1", b"caf\xc3\xa9 opens"),  # UTF-8 declared as Latin-1: feedparser repairs it
]


@pytest.mark.parametrize("encoding, title", SINGLE_BYTE_TITLES)
def test_single_byte_documents_are_read_as_feedparser_reads_them(encoding: str,
                                                                 title: bytes) -> None:
    document = _single_byte_rss(
        encoding, b"<item><title>" + title + b"</title><link>https://e.org/a</link></item>")
    fast = parse_fast(document, {})
    if fast is None:  # a text feedparser would change (see _check_unrepaired) is its to read
        assert parse_feed(document).entries[0].title != title.decode(encoding)
        return
    assert fast.entries[0].title == title.decode(encoding)
    assert (normalise_feed(fast, "1", DOCUMENT_URL)
            == normalise_feed(parse_feed(document), "1", DOCUMENT_URL))


@pytest.mark.parametrize("encoding, title", [
    ("iso-8859-1", b"caf\xe9 \x85 more"),  # a C1 control feedparser maps to Windows-1252's
    ("windows-1252", b"Windows-1252 leaves \x81 undefined"),  # expat refuses; feedparser retries
])
def test_single_byte_documents_feedparser_would_read_otherwise_go_to_it(encoding: str,
                                                                        title: bytes) -> None:
    document = _single_byte_rss(encoding, b"<item><title>" + title + b"</title></item>")
    assert parse_fast(document, {}) is None


def _assert_read_as_feedparser_reads(document: bytes) -> ParsedFeed:
    """The fast path takes `document` and stores what feedparser's path would."""
    fast = parse_fast(document, {})
    assert fast is not None
    assert normalise_feed(fast, "1", DOCUMENT_URL) == normalise_feed(parse_feed(document), "1",
                                                                     DOCUMENT_URL)
    return fast


def _rss_item(inner: str) -> bytes:
    return ('<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" '
            'xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>t</title>'
            f"<item>{inner}</item></channel></rss>").encode()


def _atom_entry_document(inner: str, feed_title: str = "<title>t</title>") -> bytes:
    """An Atom feed of one entry (id and link given) with `inner` inside it."""
    return ('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">'
            f'{feed_title}<entry><id>https://e.org/a</id><link href="https://e.org/a"/>'
            f"{inner}</entry></feed>").encode()


NEWS_ITEM = ("<title>Air policing mission extended</title><link>https://e.org/a</link>"
             "<guid>https://e.org/a</guid>")


@pytest.mark.parametrize("inner", [
    # NYT: a related link beside the item's own
    NEWS_ITEM + '<atom:link href="https://e.org/standout" rel="standout"/>',
    # Sky News, Engadget: a captioned picture after the item's description
    NEWS_ITEM + "<description>Jets stay on.</description>"
    '<media:content url="https://e.org/p.jpg"><media:title>Photo</media:title>'
    "<media:description>A jet</media:description></media:content>",
    '<media:thumbnail url="https://e.org/p.jpg"><media:title>Photo</media:title>'
    "</media:thumbnail>" + NEWS_ITEM,
    NEWS_ITEM + "<description>Jets stay on.</description><media:description>A jet"
    "</media:description>",
    # podcast tags publishers add to news feeds
    NEWS_ITEM + "<itunes:author>MoD press office</itunes:author><itunes:title>Ep 1"
    "</itunes:title><itunes:subtitle>Short</itunes:subtitle>",
    NEWS_ITEM + "<description>Jets stay on.</description><itunes:summary>Longer"
    "</itunes:summary>",
])
def test_fast_path_reads_related_links_pictures_and_podcast_tags_as_feedparser_does(
        inner: str) -> None:
    _assert_read_as_feedparser_reads(_rss_item(inner))


def _based_rss(guid: str) -> bytes:
    return ('<rss version="2.0" xml:base="https://www.gov.example/news/"><channel><title>t'
            "</title><item><title>Air policing</title><link>https://www.gov.example/a</link>"
            f"<description>&lt;a href='b'&gt;More&lt;/a&gt; on it</description>{guid}</item>"
            "</channel></rss>").encode()


@pytest.mark.parametrize("guid", [
    "",
    "<guid>https://www.gov.example/a</guid>",
    '<guid isPermaLink="false">645745 at https://www.gov.example</guid>',  # Drupal's
    "<guid>tag:gov.example,2026:645745</guid>",
])
def test_fast_path_reads_documents_with_a_base_that_changes_nothing_it_keeps(
        guid: str) -> None:
    _assert_read_as_feedparser_reads(_based_rss(guid))


@pytest.mark.parametrize("guid", ["<guid>645745</guid>",
                                  "<guid>HTTPS://www.gov.example/a</guid>",
                                  "<guid>https://www.gov.example/a?</guid>"])
def test_fast_path_leaves_ids_a_base_would_change_to_feedparser(guid: str) -> None:
    assert parse_fast(_based_rss(guid), {}) is None


@pytest.mark.parametrize("author", [
    "<name>Defence press office</name><email>press@mod.example</email>",
    "<email>press@mod.example</email>",
    "<name> Defence press office </name>",
])
def test_fast_path_names_atom_authors_as_feedparser_does(author: str) -> None:
    document = _atom_entry_document(f"<title>Air policing</title><author>{author}</author>")
    assert _assert_read_as_feedparser_reads(document).entries[0].author


@pytest.mark.parametrize("inner", [
    # without rel, an atom:link is the item's link to feedparser
    NEWS_ITEM + '<atom:link href="https://e.org/other"/>',
    # a picture's description before the item's own becomes the summary
    NEWS_ITEM + "<media:description>A jet</media:description>"
    "<description>Jets stay on.</description>",
    # with no title of its own, the picture's title is the item's
    "<link>https://e.org/a</link><media:content url='https://e.org/p.jpg'>"
    "<media:title>Photo</media:title></media:content>",
    # a summary without words: tracker would read content, where the caption went
    NEWS_ITEM + "<description>&lt;img src='x'/&gt;</description>"
    "<media:description>A jet</media:description>",
    NEWS_ITEM + "<itunes:summary>Longer</itunes:summary>",
    # two titles: feedparser keeps the first with text in it
    "<title>First</title><title>Second</title><link>https://e.org/a</link>",
    # before the description, the podcast summary is the summary
    NEWS_ITEM + "<itunes:summary>Longer</itunes:summary><description>Jets stay on."
    "</description>",
    # Found by generated documents:
    # a second description is filed as content (and an empty one leaves none)
    NEWS_ITEM + "<description>Jets stay on.</description><description></description>",
    # two ids that differ: feedparser keeps the first
    "<title>a</title><guid>https://e.org/1</guid><guid>https://e.org/2</guid>",
    # after a <source>, feedparser takes a media:title for the item's title
    NEWS_ITEM + "<source url='https://e.org/s'>Agency</source><media:title>Photo</media:title>",
    # a second caption at the item's level replaces the description
    NEWS_ITEM + "<description>Jets stay on.</description>"
    "<media:description>A jet</media:description><itunes:summary>Longer</itunes:summary>",
    # a tag left open by the next "<": feedparser's sanitiser closes it there
    NEWS_ITEM + "<description>&lt;A&lt; Jets stay on.</description>",
    NEWS_ITEM + "<description>&lt;!&lt;p&gt;Jets stay on.</description>",
])
def test_fast_path_leaves_pictures_and_links_that_change_the_item_to_feedparser(
        inner: str) -> None:
    assert parse_fast(_rss_item(inner), {}) is None


@pytest.mark.parametrize("inner", [
    # Yahoo-made feeds repeat an item's id word for word
    "<title>a</title><guid>https://e.org/1</guid><guid>https://e.org/1</guid>",
    # after a <source>, a media:title that says what the item's does, and (Engadget)
    # a picture's title inside its media:content
    NEWS_ITEM.replace("Air policing mission extended", "Photo")
    + "<source url='https://e.org/s'>Agency</source><media:title>Photo</media:title>",
    NEWS_ITEM + "<source url='https://e.org/s'>Agency</source><media:content url='x'>"
    "<media:title>Photo</media:title></media:content>",
    # captions of pictures, each in its own media:content, after the description
    NEWS_ITEM + "<description>Jets stay on.</description><media:content url='x'>"
    "<media:description>A</media:description></media:content><media:content url='y'>"
    "<media:description>B</media:description></media:content>",
])
def test_repeated_fields_feedparser_reads_alike_stay_in_process(inner: str) -> None:
    _assert_read_as_feedparser_reads(_rss_item(inner))


def test_of_two_ttls_the_last_counts_as_for_feedparser() -> None:
    document = (b'<rss version="2.0"><channel><title>t</title><ttl>60</ttl><ttl>x</ttl>'
                b"<item><title>a</title></item></channel></rss>")
    fast = parse_fast(document, {})
    assert fast is not None and fast.ttl_seconds is None
    assert parse_feed(document).ttl_seconds is None
    assert parse_fast(document.replace(b"<ttl>x</ttl>", b"<ttl>90</ttl>"), {}).ttl_seconds == 5400


def test_the_parser_pool_starts_no_process_for_documents_the_fast_path_reads() -> None:
    document = (b"<rss version='2.0'><channel><title>MoD</title><item><title>Drones</title>"
                b"<link>https://example.org/a</link></item></channel></rss>")
    with ParserPool(workers=2, timeout=5, memory_mb=256) as pool:
        output = pool.parse(document, {}, "1")
        assert [item.title for item in output.items] == ["Drones"]
        assert pool._started == 0
        broken = pool.parse(document.replace(b"</channel>", b""), {}, "1")  # feedparser's
        assert [item.title for item in broken.items] == ["Drones"]
        assert pool._started == 1


@pytest.mark.parametrize("inner, taken", [
    # found by generated documents: feedparser keeps the first id, files a
    # second summary as content
    ("<id>tag:e.org,2026:2</id><title>a</title>", False),
    ("<summary>One</summary><summary></summary>", False),
    ('<link href="https://e.org/b"/>', False),
    # the same alternate link twice, and other links beside it, change nothing
    ('<link href="https://e.org/a"/><link rel="related" href="https://e.org/r"/>', True),
])
def test_an_atom_entry_field_given_twice_in_different_words_goes_to_feedparser(
        inner: str, taken: bool) -> None:
    document = _atom_entry_document(inner)
    if taken:
        _assert_read_as_feedparser_reads(document)
    else:
        assert parse_fast(document, {}) is None
        assert parse_fast(_atom_entry_document(""), {}) is not None  # without it, read here


def test_an_atom_entry_with_two_titles_goes_to_feedparser() -> None:
    document = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>'
                b"<title>First</title><title>Second</title><id>https://e.org/a</id>"
                b'<link href="https://e.org/a"/></entry></feed>')
    assert parse_feed(document).entries[0].title == "First"  # what it keeps
    assert parse_fast(document, {}) is None


@pytest.mark.parametrize("title, feedparsers", [
    ("caf\u00c3\u00a9 opens", "caf\u00e9 opens"),  # UTF-8 read as Latin-1, repaired
    ("\u00a0\u00c3\u00a9", "\u00e9"),  # repaired once stripped of its no-break space
    ("Drones\u0085 more", "Drones\u2026 more"),   # a C1 control, read as Windows-1252
])
def test_texts_feedparser_would_repair_go_to_it(title: str, feedparsers: str) -> None:
    document = _rss_item(f"<title>{title}</title><link>https://e.org/a</link>")
    assert parse_feed(document).entries[0].title == feedparsers
    assert parse_fast(document, {}) is None


def test_other_non_ascii_text_is_read_in_process() -> None:
    _assert_read_as_feedparser_reads(_rss_item(
        "<title>Caf\u00e9 talks: \u0423\u043a\u0440\u0430\u0457\u043d\u0430 air defence"
        "</title><link>https://e.org/a</link>"))


EMBEDDED_POST = ('<p>Jets stay on.</p><blockquote class="twitter-tweet"><p>Air policing '
                 'extended</p></blockquote><script async src="https://platform.twitter.com/'
                 'widgets.js" charset="utf-8"></script><p>More soon.</p>')


@pytest.mark.parametrize("summary", [
    EMBEDDED_POST,
    "<p>Jets stay on.</p><script>var shown = 1 && 2;</script><p>More soon.</p>",
])
def test_fast_path_reads_summaries_with_plain_scripts_as_feedparser_does(summary: str) -> None:
    """Embedded posts in news feeds: both readings drop the script whole."""
    feed = _assert_read_as_feedparser_reads(
        _rss_item(NEWS_ITEM + f"<description><![CDATA[{summary}]]></description>"))
    stored = normalise_feed(feed, "1")[0].summary
    assert stored.startswith("Jets stay on.") and stored.endswith("More soon.")
    assert "widgets" not in stored and "shown" not in stored


@pytest.mark.parametrize("summary", [
    # sgmllib reads tags inside script code: feedparser stores "Jets\nstay on"
    'Jets <script>document.write("<p>x</p>")</script> stay on',
    'Jets <script>var s = "</div>";</script> stay on',
    "<p>Jets</p><!-- <script> --><p>More</p>",  # a script tag in a comment
    "<p>Jets</p><script async src='https://e.org/w.js'><p>More</p>",  # never closed
])
def test_summaries_with_other_scripts_go_to_feedparser(summary: str) -> None:
    assert parse_fast(_rss_item(NEWS_ITEM + f"<description><![CDATA[{summary}]]>"
                                "</description>"), {}) is None


def _podcast_channel(channel: str) -> bytes:
    """Two items each with a description then a second summary (itunes:summary)."""
    items = "".join(f"<item><title>{n}</title><link>https://e.org/{n}</link><description>Short"
                    "</description><itunes:summary>Long text</itunes:summary></item>"
                    for n in ("a", "b"))
    return ('<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
            f"{channel}{items}</channel></rss>").encode()


@pytest.mark.parametrize("channel", [
    # feedparser's content flag, set here, is cleared only at the end of the first item,
    # whose itunes:summary then replaces its description ("Long text", not "Short")
    "<itunes:summary>About the show</itunes:summary><description>Show</description>",
    "<content:encoded>About the show</content:encoded>",
])
def test_a_channel_that_sets_feedparsers_content_flag_sends_second_summaries_to_it(
        channel: str) -> None:
    document = _podcast_channel(channel)
    assert [item.summary for item in normalise_feed(parse_feed(document), "1")] == [
        "Long text", "Short"]
    assert parse_fast(document, {}) is None


def test_second_summaries_under_a_plain_channel_are_read_in_process() -> None:
    feed = _assert_read_as_feedparser_reads(_podcast_channel("<description>Show</description>"))
    assert [entry.summary for entry in feed.entries] == ["Short", "Short"]


@pytest.mark.parametrize("authors, last", [
    ("<dc:creator>Joe Pinkstone</dc:creator><dc:creator>Josh White</dc:creator>", "Josh White"),
    ("<author>press@mod.example (MoD)</author><dc:creator>Josh White</dc:creator>",
     "Josh White"),
    ("<dc:creator>Josh White</dc:creator><author>press@mod.example (MoD)</author>",
     "press@mod.example (MoD)"),
    ("<itunes:author>MoD</itunes:author><dc:creator>Josh White</dc:creator>", "Josh White"),
    ("<dc:creator>Josh White</dc:creator><dc:creator> </dc:creator>", None),
])
def test_co_authors_are_read_as_feedparser_reads_them(authors: str, last: str | None) -> None:
    """The Telegraph gives each co-author a dc:creator: feedparser keeps the last."""
    document = _rss_item(NEWS_ITEM + authors).replace(
        b"<rss ", b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/" ')
    feed = _assert_read_as_feedparser_reads(document)
    assert normalise_feed(feed, "1")[0].author == last


@pytest.mark.parametrize("inner", [
    # NYT: an empty description, then a captioned picture
    NEWS_ITEM + "<description></description><media:content url='https://e.org/p.jpg'>"
    "<media:description>Rubble in Borodyanka &amp; rescuers</media:description></media:content>",
    NEWS_ITEM + "<description> </description><itunes:summary>Rubble in Borodyanka &amp; "
    "rescuers</itunes:summary>",
])
def test_after_a_blank_description_the_one_caption_is_the_summary(inner: str) -> None:
    """feedparser files it as content, which tracker reads for want of a summary."""
    feed = _assert_read_as_feedparser_reads(_rss_item(inner))
    assert normalise_feed(feed, "1")[0].summary == "Rubble in Borodyanka & rescuers"


def test_after_a_blank_description_two_captions_go_to_feedparser() -> None:
    """The second replaces the first as feedparser's summary: its rules, not ours."""
    inner = (NEWS_ITEM + "<description></description><media:description>One"
             "</media:description><media:description>Two</media:description>")
    assert [item.summary for item in normalise_feed(parse_feed(_rss_item(inner)), "1")] == [
        "Two"]
    assert parse_fast(_rss_item(inner), {}) is None


@pytest.mark.parametrize("inner, summary", [
    # YouTube: the video's title and description in a media:group
    ("<title>Air policing</title><media:group><media:title>Video</media:title>"
     "<media:description>Jets &amp; crews &lt;b&gt;up&lt;/b&gt;</media:description>"
     "</media:group>", "Jets & crews up"),
    ("<media:group><media:title>Video</media:title><media:description>Jets"
     "</media:description></media:group><title>Air policing</title>", "Jets"),
    ("<title>Air policing</title><media:group><media:title>Video</media:title></media:group>", ""),
])
def test_atom_entries_with_a_video_description_are_read_as_feedparser_reads_them(
        inner: str, summary: str) -> None:
    feed = _assert_read_as_feedparser_reads(_atom_entry_document(inner))
    item = normalise_feed(feed, "1")[0]
    assert (item.title, item.summary) == ("Air policing", summary)


@pytest.mark.parametrize("inner", [
    # no title of its own: the media:title stands in
    "<media:group><media:title>Video</media:title><media:description>Jets</media:description>"
    "</media:group>",
    "<title>Air policing</title><summary>S</summary><media:group><media:description>Jets"
    "</media:description></media:group>",
    "<title>Air policing</title><media:group><media:description>One</media:description>"
    "<media:description>Two</media:description></media:group>",
])
def test_other_atom_media_text_goes_to_feedparser(inner: str) -> None:
    assert parse_fast(_atom_entry_document(inner), {}) is None


def _atom_titled(title: str) -> bytes:
    return _atom_entry_document("<title>Air policing</title>",
                                feed_title=f'<title type="html">{title}</title>')


def test_an_html_feed_title_with_no_markup_is_read_in_process() -> None:
    document = _atom_titled("Rowan’s Blog | Rowan Manning")
    feed = _assert_read_as_feedparser_reads(document)
    assert feed.title == parse_feed(document).title == "Rowan’s Blog | Rowan Manning"


@pytest.mark.parametrize("title", ["&lt;b&gt;MoD&lt;/b&gt; news", "MoD &amp; DE&amp;S",
                                   "&lt;!-- MoD --&gt;"])
def test_html_feed_titles_with_markup_or_entities_go_to_feedparser(title: str) -> None:
    assert parse_fast(_atom_titled(title), {}) is None


FT_ITEM = (b'<rss version="2.0"><channel><title>FT</title><item><title>Coal ban prepared</title>'
           b"<link>/content/c57f1115</link><guid isPermaLink='false'>c57f1115</guid></item>"
           b"</channel></rss>")


def test_relative_links_are_read_in_process_and_resolved_as_feedparsers_are() -> None:
    """feedparser, given a stream, leaves them as written; both are joined to the
    document's URL when normalised."""
    feed = _assert_read_as_feedparser_reads(FT_ITEM)
    assert normalise_feed(feed, "1", DOCUMENT_URL)[0].url == "https://feeds.example/content/c57f1115"


def test_a_content_location_header_is_feedparsers_base_so_relative_links_go_to_it() -> None:
    headers = {"content-type": "application/rss+xml", "content-location": "https://www.ft.com/rss"}
    assert parse_fast(FT_ITEM, headers) is None
    assert parse_feed(FT_ITEM, headers).entries[0].link == "https://www.ft.com/content/c57f1115"


def test_a_response_without_content_type_goes_to_feedparser() -> None:
    """feedparser reads such a body leniently (its loose parser), whatever the XML says."""
    assert parse_fast(FT_ITEM, {"date": "Mon, 05 Jan 2026 10:00:00 GMT"}) is None
    assert parse_fast(FT_ITEM, {}) is not None  # no HTTP response at all: a file, a test


# Generated documents: text of any XML character (escaped, or in CDATA), HTML
# fragments and entities, links absolute, relative and with queries, ids of
# several schemes, dates feedparser reads and ones it does not, fields in any
# order. Whatever the fast path accepts must read as feedparser's path does.
_XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), min_codepoint=1).filter(
    lambda c: c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD
    or ord(c) > 0xFFFF), max_size=40)
_HTML_TEXT = st.lists(st.one_of(_XML_TEXT, st.sampled_from([
    "<p>", "</p>", "<b>x</b>", "&amp;", "&lt;b&gt;", "<br/>", "&nbsp;", " ", "\n",
    "<a href='https://e.org/x'>l</a>", "&#233;", "&#x2019;"])), max_size=6).map("".join)
_DATES = st.sampled_from(["Mon, 05 Jan 2026 10:00:00 GMT", "2026-01-05T10:00:00Z",
                          " Tue, 6 Jan 2026 08:00:00 +0100 ", "", "garbage"])


def _escaped(draw: st.DrawFn, text: str) -> str:
    if draw(st.booleans()) and "]]>" not in text:
        return f"<![CDATA[{text}]]>"
    return escape(text)


_RSS_LINKS = st.sampled_from(["https://e.org/a", " https://e.org/b ", "https://e.org/c?x=1&y=2",
                              "/rel/path", "", "mailto:x@e.org", "//e.org/p", "HTTP://E.ORG/X"])


def _rss_guid(draw: st.DrawFn) -> str:
    permalink = draw(st.sampled_from(["true", "false"]))
    guid = draw(st.sampled_from(["https://e.org/g", "tag:x,2026:1", " id-1 ", ""]))
    return f"<guid isPermaLink='{permalink}'>{escape(guid)}</guid>"


@st.composite
def _rss_documents(draw: st.DrawFn) -> bytes:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        parts = []
        if draw(st.booleans()):
            parts.append(f"<title>{_escaped(draw, draw(_XML_TEXT))}</title>")
        if draw(st.booleans()):
            parts.append(f"<link>{escape(draw(_RSS_LINKS))}</link>")
        if draw(st.booleans()):
            summary = draw(st.one_of(_XML_TEXT, _HTML_TEXT))
            parts.append(f"<description>{_escaped(draw, summary)}</description>")
        if draw(st.booleans()):
            parts.append(_rss_guid(draw))
        if draw(st.booleans()):
            parts.append(f"<pubDate>{draw(_DATES)}</pubDate>")
        if draw(st.booleans()):
            parts.append(f"<author>{escape(draw(_XML_TEXT))}</author>")
        items.append("<item>" + "".join(draw(st.permutations(parts))) + "</item>")
    title = _escaped(draw, draw(_XML_TEXT))
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title>{''.join(items)}</channel></rss>").encode()


def _atom_text_element(draw: st.DrawFn, name: str,
                       kinds: tuple[str | None, ...] = ("text", "html", None)) -> str:
    """An Atom text construct of one of `kinds` (None: no type attribute)."""
    kind = draw(st.sampled_from(kinds))
    kind_attribute = f' type="{kind}"' if kind else ""
    if kind == "xhtml":
        return (f'<{name}{kind_attribute}><div xmlns="http://www.w3.org/1999/xhtml">'
                f"{escape(draw(_XML_TEXT))}</div></{name}>")
    body = draw(_HTML_TEXT) if kind == "html" else draw(_XML_TEXT)
    return f"<{name}{kind_attribute}>{_escaped(draw, body)}</{name}>"


@st.composite
def _atom_documents(draw: st.DrawFn) -> bytes:
    entries = []
    for n in range(draw(st.integers(1, 3))):
        entry_id = draw(st.sampled_from([f"https://e.org/a{n}", f"tag:e.org,2026:{n}",
                                         f"urn:uuid:{n}"]))
        parts = [f"<id>{entry_id}</id>"]
        if draw(st.booleans()):
            parts.append(_atom_text_element(draw, "title"))
        if draw(st.booleans()):
            href = draw(st.sampled_from(["https://e.org/a", "/rel", "https://e.org/b?x=1&y=2"]))
            rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="related"',
                                        ' type="text/html"']))
            parts.append(f'<link href="{escape(href)}"{rel}/>')
        if draw(st.booleans()):
            parts.append(_atom_text_element(draw, "summary"))
        for name in ("updated", "published"):
            if draw(st.booleans()):
                parts.append(f"<{name}>{draw(_DATES)}</{name}>")
        if draw(st.booleans()):
            parts.append(f"<author><name>{escape(draw(_XML_TEXT))}</name></author>")
        entries.append("<entry>" + "".join(draw(st.permutations(parts))) + "</entry>")
    return ('<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(draw(_XML_TEXT))}</title>{''.join(entries)}</feed>").encode()


_MEDIA_NS = "http://search.yahoo.com/mrss/"
_RICH_RSS_NAMESPACES = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" '
    f'xmlns:media="{_MEDIA_NS}" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"')


@st.composite
def _rich_rss_field(draw: st.DrawFn) -> str:
    """Any field an item may carry, namespaced, nested or repeated."""
    kind = draw(st.sampled_from([
        "title", "link", "description", "guid", "pubDate", "author", "dc:creator",
        "content:encoded", "dc:date", "dcterms:modified", "media:content", "media:description",
        "media:title", "itunes:summary", "itunes:author", "atom:link", "source", "category",
        "enclosure", "nested title"]))
    if kind == "media:content":
        inner = "".join(draw(st.lists(st.sampled_from([
            f"<media:title>{escape(draw(_XML_TEXT))}</media:title>",
            f"<media:description>{escape(draw(_XML_TEXT))}</media:description>",
            "<media:credit>x</media:credit>"]), max_size=2)))
        return f'<media:content url="https://e.org/p.jpg">{inner}</media:content>'
    if kind == "atom:link":
        rel = draw(st.sampled_from(["alternate", "related", "self", "standout"]))
        return f'<atom:link href="https://e.org/l" rel="{rel}"/>'
    if kind == "enclosure":
        return '<enclosure url="https://e.org/a.mp3" length="1" type="audio/mpeg"/>'
    if kind == "nested title":
        return f"<title><b>{escape(draw(_XML_TEXT))}</b></title>"
    if kind in ("pubDate", "dc:date", "dcterms:modified"):
        return f"<{kind}>{draw(_DATES)}</{kind}>"
    if kind == "link":
        return f"<link>{escape(draw(_RSS_LINKS))}</link>"
    if kind == "guid":
        return _rss_guid(draw)
    text = draw(st.one_of(_XML_TEXT, _HTML_TEXT))
    return f"<{kind}>{_escaped(draw, text)}</{kind}>"


@st.composite
def _rich_rss_documents(draw: st.DrawFn) -> bytes:
    items = "".join("<item>" + "".join(draw(st.lists(_rich_rss_field(), max_size=7))) + "</item>"
                    for _ in range(draw(st.integers(1, 3))))
    channel = "".join(draw(st.lists(st.sampled_from([
        "<description>d</description>", "<itunes:summary>s</itunes:summary>", "<ttl>60</ttl>",
        "<ttl>x</ttl>", "<image><title>i</title><url>https://e.org/i.png</url></image>",
        "<content:encoded>c</content:encoded>"]), max_size=3)))
    base = draw(st.sampled_from(["", ' xml:base="https://base.example/x/"']))
    return (f'<rss version="2.0" {_RICH_RSS_NAMESPACES}{base}><channel>'
            f"<title>{escape(draw(_XML_TEXT))}</title>{channel}{items}</channel></rss>").encode()


@st.composite
def _rich_atom_field(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from([
        "title", "summary", "content", "rights", "link", "id", "updated", "published", "author",
        "contributor", "media:group", "media:description", "media:title", "source"]))
    if kind in ("title", "summary", "content", "rights"):
        return _atom_text_element(draw, kind, ("text", "html", "xhtml", "text/plain", None))
    if kind == "link":
        rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="related"',
                                    ' rel="enclosure"', ' rel="self"']))
        link_type = draw(st.sampled_from(["", ' type="text/html"', ' type="application/pdf"',
                                          ' type="TEXT/HTML"']))
        href = draw(st.sampled_from(["https://e.org/a", "https://e.org/b", "/rel", ""]))
        return f'<link href="{href}"{rel}{link_type}/>'
    if kind == "id":
        entry_id = draw(st.sampled_from(["https://e.org/i", "tag:e.org,2026:1", " urn:x ", ""]))
        return f"<id>{escape(entry_id)}</id>"
    if kind in ("updated", "published"):
        return f"<{kind}>{draw(_DATES)}</{kind}>"
    if kind == "author":
        parts = draw(st.lists(st.sampled_from([
            f"<name>{escape(draw(_XML_TEXT))}</name>", "<email>a@e.org</email>",
            "<uri>https://e.org</uri>"]), max_size=3))
        return "<author>" + "".join(parts) + "</author>"
    if kind == "contributor":
        return f"<contributor><name>{escape(draw(_XML_TEXT))}</name></contributor>"
    if kind == "media:group":
        inner = "".join(draw(st.lists(st.sampled_from([
            f"<media:title>{escape(draw(_XML_TEXT))}</media:title>",
            f"<media:description>{escape(draw(_XML_TEXT))}</media:description>"]), max_size=2)))
        return f"<media:group>{inner}</media:group>"
    if kind == "source":
        return "<source><title>S</title><id>tag:s,1</id></source>"
    return f"<{kind}>{escape(draw(_XML_TEXT))}</{kind}>"


@st.composite
def _rich_atom_documents(draw: st.DrawFn) -> bytes:
    entries = "".join("<entry>" + "".join(draw(st.lists(_rich_atom_field(), max_size=7)))
                      + "</entry>" for _ in range(draw(st.integers(1, 3))))
    title = draw(st.sampled_from(["<title>F</title>", '<title type="html">F &amp;amp; G</title>',
                                  '<title type="text">F</title>', ""]))
    return (f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="{_MEDIA_NS}">'
            f"{title}{entries}</feed>").encode()


# CI runs the same documents every time; TRACKER_FUZZ_EXAMPLES=20000 runs that
# many accepted documents, newly drawn (worth doing whenever the fast path changes).
_FUZZ_EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "0"))


@settings(max_examples=_FUZZ_EXAMPLES or 300, deadline=None, derandomize=not _FUZZ_EXAMPLES,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.one_of(_rss_documents(), _atom_documents(), _rich_rss_documents(),
                 _rich_atom_documents()))
def test_generated_documents_the_fast_path_accepts_read_as_feedparser_reads_them(
        document: bytes) -> None:
    headers = {"content-type": "application/rss+xml; charset=utf-8"}
    fast = parse_fast(document, headers)
    assume(fast is not None)  # only accepted documents count, a quarter of those generated
    assert fast is not None
    slow = parse_feed(document, headers)
    assert (fast.title, fast.ttl_seconds) == (slow.title, slow.ttl_seconds)
    assert normalise_feed(fast, "1", DOCUMENT_URL) == normalise_feed(slow, "1", DOCUMENT_URL)


def _single_byte_alphabet(encoding: str) -> str:
    """Every character a document in this encoding can hold as a byte (tab,
    newline and the printable range; for Latin-1 that includes the C1 controls
    feedparser maps to Windows-1252's characters)."""
    # Windows-1252 leaves five bytes undefined: "ignore" leaves them out.
    return "".join(bytes([byte]).decode(encoding, "ignore")
                   for byte in (9, 10, *range(0x20, 0x100)))


@settings(max_examples=_FUZZ_EXAMPLES or 200, deadline=None, derandomize=not _FUZZ_EXAMPLES)
@given(st.sampled_from(["iso-8859-1", "ISO-8859-1", "windows-1252"]), st.booleans(), st.data())
def test_generated_single_byte_documents_the_fast_path_accepts_read_as_feedparser_reads_them(
        encoding: str, charset_header: bool, data: st.DataObject) -> None:
    text = st.text(st.sampled_from(_single_byte_alphabet(encoding)), min_size=1, max_size=40)
    items = data.draw(st.lists(st.tuples(text, text), min_size=1, max_size=4))
    body = "".join(f"<item><title>{escape(title)}</title><description>{escape(summary)}"
                   f"</description><link>https://e.org/{n}</link></item>"
                   for n, (title, summary) in enumerate(items))
    document = _single_byte_rss(encoding, body.encode(encoding))
    headers = ({"content-type": f"application/rss+xml; charset={encoding}"} if charset_header
               else {"content-type": "application/rss+xml"})
    fast = parse_fast(document, headers)
    assume(fast is not None)
    assert fast is not None
    slow = parse_feed(document, headers)
    assert normalise_feed(fast, "1", DOCUMENT_URL) == normalise_feed(slow, "1", DOCUMENT_URL)


@pytest.mark.parametrize("summary", ["x &lt;&gt; y", "&lt;!x&gt; y", "&lt;! &gt;", "&lt;!--&gt; y",
                                     "a &lt;!--b--&gt; &lt;!-- c"])
def test_markup_the_two_readings_disagree_on_goes_to_feedparser(summary: str) -> None:
    document = _rss_item(f"<title>t</title><description>{summary}</description>"
                         "<link>https://e.org/a</link>")
    assert parse_fast(document, {}) is None


def test_a_closed_comment_in_a_summary_is_read_in_process() -> None:
    _assert_read_as_feedparser_reads(_rss_item(
        "<title>t</title><description>a &lt;!--b--&gt; c</description>"
        "<link>https://e.org/a</link>"))
