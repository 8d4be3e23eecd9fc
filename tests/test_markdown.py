"""Storylines and starred items as Markdown: hostile titles stay text."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker.markdown import escape, link
from tracker.timefmt import to_text


def _polled_partnership(tmp_path: Path, feed_server: FeedServer) -> Cli:
    """An official feed of a partnership (July) and its next step (November),
    polled once: one storyline of two items."""
    feed = (b'<rss version="2.0"><channel><title>F</title>'
            b"<item><title>UK and Ukraine sign interceptor drone partnership</title>"
            b"<link>https://e.org/1</link><description>Interceptor drones for Ukraine, built "
            b"with Britain.</description><pubDate>Tue, 01 Jul 2025 09:00:00 GMT</pubDate></item>"
            b"<item><title>UK to mass-produce Ukraine's interceptor drones</title>"
            b"<link>https://e.org/2</link><description>Interceptor drones for Ukraine, built "
            b"in Britain.</description><pubDate>Mon, 03 Nov 2025 09:00:00 GMT</pubDate></item>"
            b"</channel></rss>")
    url = feed_server.add("/feed", Document(feed))
    cli = Cli(write_config(tmp_path / "tracker.toml", [{"name": "Defence_News", "url": url,
                                                        "kind": "official"}]),
              tmp_path / "tracker.db")
    assert cli("poll", "--all").exit_code == 0
    return cli


def test_markup_in_feed_text_is_escaped_and_only_web_links_are_links() -> None:
    assert escape("<script>alert(1)</script> *NATO* [jets]") == \
        r"\<script\>alert\(1\)\</script\> \*NATO\* \[jets\]"
    assert escape("Line\nbreak  |  table") == r"Line break \| table"
    assert link("Click [me]", "javascript:alert(1)") == r"Click \[me\]"
    assert link("Deal", "https://e.org/a (b)>c") == "[Deal](<https://e.org/a%20(b)%3Ec>)"


def test_a_storyline_and_the_starred_items_as_markdown(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = _polled_partnership(tmp_path, feed_server)
    story = cli("story", "1", "--markdown").output
    assert story.startswith("## UK and Ukraine sign interceptor drone partnership\n\n2 items, "
                            "2025-07-01 to 2025-11-03; officially announced.")
    assert "- **2025-07-01**: [UK and Ukraine sign interceptor drone partnership]" \
           "(<https://e.org/1>) (Defence\\_News)" in story
    assert "- **2025-11-03** (follow-up): [UK to mass\\-produce" not in story  # '-' is text
    assert "(follow-up): [UK to mass-produce Ukraine's interceptor drones](<https://e.org/2>)" \
        in story
    cli("star", "2", "--note", "for the *Tuesday* brief")
    starred = cli("starred", "--markdown").output
    assert starred == ("## Starred\n\n- **2025-11-03** [UK to mass-produce Ukraine's interceptor "
                       "drones](<https://e.org/2>) (Defence\\_News) — for the \\*Tuesday\\* "
                       "brief\n")
    assert cli("search", "submarine", "--markdown").output == (
        "## Search: submarine\n\nNo matching items.\n")
    found = cli("search", "interceptor", "--newest", "--markdown").output
    assert found.splitlines()[:3] == [
        "## Search: interceptor", "",
        "- **2025-11-03** [UK to mass-produce Ukraine's interceptor drones](<https://e.org/2>) "
        "(Defence\\_News)"]


def test_items_are_dated_by_the_readers_day_everywhere(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """An item published at 23:30 UTC on 3 November is from the 4th in Kyiv: the
    digest says so, and so does every command that prints a date."""
    feed = (b'<rss version="2.0"><channel><title>F</title>'
            b"<item><title>Ukraine and UK agree interceptor drone production</title>"
            b"<link>https://e.org/1</link><description>Interceptor drones for Ukraine, built "
            b"with Britain.</description><pubDate>Tue, 01 Jul 2025 09:00:00 GMT</pubDate></item>"
            b"<item><title>UK to mass-produce Ukraine's interceptor drones</title>"
            b"<link>https://e.org/2</link><description>Interceptor drones for Ukraine, built "
            b"in Britain.</description><pubDate>Mon, 03 Nov 2025 23:30:00 GMT</pubDate></item>"
            b"</channel></rss>")
    url = feed_server.add("/feed", Document(feed))
    cli = Cli(write_config(tmp_path / "tracker.toml", [{"name": "MoD", "url": url}],
                           extra='timezone = "Europe/Kyiv"'), tmp_path / "tracker.db")
    assert cli("poll", "--all").exit_code == 0
    cli("star", "2")
    outputs = {
        "story": cli("story", "1").output,
        "story --markdown": cli("story", "1", "--markdown").output,
        "related": cli("related", "1").output,
        "stories": cli("stories", "--since", "2025-01-01").output,
        "search": cli("search", "mass-produce").output,
        "search --markdown": cli("search", "mass-produce", "--markdown").output,
        "starred --markdown": cli("starred", "--markdown").output,
        "show": cli("show", "2").output,
    }
    for command, output in outputs.items():
        assert "2025-11-04" in output, command
        assert "2025-11-03" not in output, command
    assert "published 2025-11-04 01:30 EET, first seen " in outputs["show"]


def test_the_storylines_that_moved_as_a_weekly_brief(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """`stories --markdown`: each storyline that moved under how it began, with
    only the items it gained in the period; muted ones left out."""
    cli = _polled_partnership(tmp_path, feed_server)
    month_ago = to_text(datetime.now(UTC) - timedelta(days=30))
    with sqlite3.connect(cli.db) as conn:  # the partnership was stored a month ago
        conn.execute("UPDATE items SET first_seen = ? WHERE url = 'https://e.org/1'",
                     (month_ago,))
    brief = cli("stories", "--markdown").output
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    assert brief == (
        f"## Storylines that moved since {week_ago}\n\n"
        "### UK and Ukraine sign interceptor drone partnership\n\n"
        "2 items (1 new), 2025-07-01 to 2025-11-03; officially announced."
        + brief.split("officially announced.")[1].split("\n")[0] + "\n\n"
        "- **2025-11-03** (follow-up): [UK to mass-produce Ukraine's interceptor drones]"
        "(<https://e.org/2>) (Defence\\_News)\n")
    assert " About: " in brief
    assert cli("mute", "1").exit_code == 0
    assert cli("stories", "--markdown").output == (
        f"## Storylines that moved since {week_ago}\n\n"
        "No storyline of 2 items or more gained items.\n")
