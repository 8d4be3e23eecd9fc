from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracker.models import ParsedEntry, ParsedFeed
from tracker.normalise import (
    canonical_url,
    clean_text,
    html_to_text,
    normalise_entry,
    normalise_feed,
    safe_link,
)


def entry(**fields: object) -> ParsedEntry:
    base: dict[str, object] = {"guid": None, "link": None, "title": "T", "summary": None,
                               "author": None, "published": None, "updated": None}
    base.update(fields)
    return ParsedEntry(**base)  # type: ignore[arg-type]


def test_url_variants_of_one_story_share_a_canonical_form() -> None:
    variants = [
        "https://www.bbc.co.uk/news/uk-123?at_medium=RSS&at_campaign=KARANGA",
        "http://bbc.co.uk/news/uk-123/",
        "https://WWW.BBC.CO.UK:443/news/uk-123#comments",
        "https://www.bbc.co.uk/news/uk-123?utm_source=twitter&utm_medium=social",
    ]
    assert {canonical_url(v) for v in variants} == {"bbc.co.uk/news/uk-123"}


def test_meaningful_query_parameters_are_kept_and_ordered() -> None:
    a = canonical_url("https://www.war.gov/RSS.ashx?Site=945&ContentType=1&max=10")
    b = canonical_url("https://www.war.gov/RSS.ashx?ContentType=1&max=10&Site=945")
    assert a == b == "war.gov/RSS.ashx?ContentType=1&Site=945&max=10"
    assert canonical_url("https://a.example/?ContentType=9") != canonical_url(
        "https://a.example/?ContentType=1")


def test_non_http_links_are_not_identities_and_not_kept() -> None:
    assert canonical_url("javascript:alert(1)") is None
    assert safe_link("javascript:alert(1)") is None
    assert safe_link(" JAVASCRIPT:alert(1)") is None
    assert safe_link("mailto:a@b.c") is None
    assert safe_link("https://a.example/x") == "https://a.example/x"


def test_clean_text_removes_control_characters_and_folds_space() -> None:
    assert clean_text("a\x00b\x1bc\u00a0 d\r\n\r\n e\t") == "a b c d\ne"


def test_clean_text_cuts_long_text_on_a_word() -> None:
    text = clean_text("word " * 100, limit=22)
    assert text.endswith("…") and len(text) <= 23 and "wor…" not in text


def test_html_to_text_keeps_visible_text_only() -> None:
    html = ("<p>UK &amp; Ukraine sign <b>drone</b> deal</p><script>alert(1)</script>"
            "<img src=x onerror=alert(1)><p>Second&nbsp;para</p>")
    assert html_to_text(html) == "UK & Ukraine sign drone deal\nSecond para"


def test_identity_keys_strongest_first() -> None:
    item = normalise_entry(entry(guid="urn:uuid:1", link="https://a.example/x?utm_source=y"),
                           "7")
    assert item.keys == ("guid:urn:uuid:1", "url:a.example/x")
    assert item.url == "https://a.example/x?utm_source=y"


def test_bare_guids_are_scoped_to_their_feed() -> None:
    a = normalise_entry(entry(guid="1234"), "1")
    b = normalise_entry(entry(guid="1234"), "2")
    assert a.keys == ("guid:1:1234",) and b.keys == ("guid:2:1234",)


def test_url_guids_collapse_onto_the_link_identity() -> None:
    item = normalise_entry(entry(guid="https://www.bbc.com/news/articles/c1#0",
                                 link="https://www.bbc.com/news/articles/c1"), "1")
    assert item.keys == ("url:bbc.com/news/articles/c1",)


def test_an_entry_with_nothing_stable_gets_a_feed_scoped_content_hash() -> None:
    item = normalise_entry(entry(title="Statement", summary="Text"), "3")
    assert len(item.keys) == 1 and item.keys[0].startswith("hash:3:")


def test_a_link_shared_by_every_entry_is_not_an_identity() -> None:
    parsed = ParsedFeed(title="F", entries=(
        entry(title="One", link="https://a.example/"),
        entry(title="Two", link="https://a.example/"),
    ))
    items = normalise_feed(parsed, "1")
    assert len(items) == 2
    assert all(key.startswith("hash:") for item in items for key in item.keys)


def test_duplicate_entries_in_one_document_become_one_item() -> None:
    parsed = ParsedFeed(title="F", entries=(entry(guid="urn:x", title="A"),
                                            entry(guid="urn:x", title="A again")))
    assert [item.title for item in normalise_feed(parsed, "1")] == ["A"]


def test_hostile_title_is_stored_as_plain_text_without_controls() -> None:
    item = normalise_entry(entry(title="<script>x</script>\r\nBcc: evil@example.com\x00"), "1")
    assert item.title == "<script>x</script> Bcc: evil@example.com"
    assert "\n" not in item.title and "\x00" not in item.title


def test_html_titles_are_reduced_to_text() -> None:
    item = normalise_entry(entry(title="<b>Bold</b> move", title_is_html=True), "1")
    assert item.title == "Bold move"


@given(st.text())
def test_clean_text_never_leaves_control_characters(text: str) -> None:
    cleaned = clean_text(text)
    assert not any(ord(c) < 32 and c != "\n" for c in cleaned)
    assert "\x7f" not in cleaned and cleaned == cleaned.strip()


@given(st.text(), st.text())
def test_html_to_text_is_total_and_clean(fragment: str, tail: str) -> None:
    text = html_to_text(f"<p>{fragment}</p>{tail}", limit=300)
    assert "\x00" not in text and len(text) <= 301


def test_relative_links_are_joined_to_the_document_url_and_others_left_alone() -> None:
    feed = ParsedFeed(title="FT", warning=None, ttl_seconds=None, entries=tuple(
        entry(title=f"T{n}", link=link) for n, link in enumerate([
            "/content/a", "content/b", "//cdn.example/c", "https://other.example/d",
            "javascript:alert(1)", " /content/e "])))
    links = [item.url for item in normalise_feed(feed, "1", "https://www.ft.com/rss/home")]
    assert links == ["https://www.ft.com/content/a", "https://www.ft.com/rss/content/b",
                     "https://cdn.example/c", "https://other.example/d", None,
                     "https://www.ft.com/content/e"]
    # Without the document's URL a relative link cannot be followed, and is not kept.
    assert [item.url for item in normalise_feed(feed, "1")][:2] == [None, None]
