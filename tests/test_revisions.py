"""Edited announcements, stories that leave and come back, and word-level diffs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker.diffing import changes_only, render_diff, word_diff


def rss(*items: tuple[str, str, str]) -> bytes:
    body = "".join(f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
                   "</item>" for link, t, d in items)
    return f'<rss version="2.0"><channel><title>F</title>{body}</channel></rss>'.encode()


ANNOUNCEMENT = ("https://www.gov.uk/news/interceptors", "UK to build interceptors",
                "The Ministry of Defence will build interceptors with Ukraine.")
EDITED = ("https://www.gov.uk/news/interceptors", "UK to mass-produce interceptor drones",
          "The Ministry of Defence will mass-produce interceptor drones with Ukraine.")
OTHER = ("https://www.gov.uk/news/other", "Other news", "Nothing to see.")


def make_cli(tmp_path: Path, server: FeedServer) -> Cli:
    config = write_config(tmp_path / "tracker.toml", [
        {"name": "GOV.UK", "url": server.url("/gov"), "kind": "official"},
        {"name": "Press", "url": server.url("/press")}],
        extra="[topics.drones]\nquery = 'drone'")
    return Cli(config, tmp_path / "tracker.db")


def test_an_edit_by_the_publisher_is_kept_diffed_and_rematched(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/gov", Document(rss(ANNOUNCEMENT, OTHER)))
    feed_server.add("/press", Document(rss()))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")
    assert json.loads(cli("export").output.splitlines()[0])["topics"] == []

    feed_server.add("/gov", Document(rss(EDITED, OTHER)))
    result = cli("poll", "--all")
    assert "0 new items, 1 updated" in result.output

    exported = json.loads(cli("export").output.splitlines()[0])
    assert exported["title"] == "UK to mass-produce interceptor drones"
    assert exported["topics"] == [{"name": "drones", "terms": ["drones"]}]  # re-matched
    shown = cli("show", str(exported["id"])).output
    assert "Edit 1, seen" in shown
    assert "title:   UK to [-build interceptors-] {+mass-produce interceptor drones+}" in shown
    details = json.loads(cli("show", str(exported["id"]), "--json").output)
    assert len(details["revisions"]) == 1 and details["revised_at"]


def test_another_feed_rewording_a_story_is_not_an_edit(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/gov", Document(rss(ANNOUNCEMENT)))
    feed_server.add("/press", Document(rss((ANNOUNCEMENT[0], "Press take", "Other words"))))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("SELECT count(*) FROM item_revisions").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM item_feeds").fetchone()[0] == 2


def test_a_story_that_leaves_and_comes_back_is_not_new(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/gov", Document(rss(ANNOUNCEMENT, OTHER)))
    feed_server.add("/press", Document(rss()))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")
    feed_server.add("/gov", Document(rss(OTHER)))
    cli("poll", "--all")
    feed_server.add("/gov", Document(rss(ANNOUNCEMENT, OTHER)))
    assert "0 new items" in cli("poll", "--all").output


def test_an_edit_after_delivery_reaches_the_next_digest_as_updated(
        tmp_path: Path, feed_server: FeedServer) -> None:
    drone_story = (ANNOUNCEMENT[0], "UK drone plan", "Drones will be built.")
    feed_server.add("/gov", Document(rss(drone_story, OTHER)))
    feed_server.add("/press", Document(rss()))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")
    assert cli("digest", "--send").exit_code == 0
    assert "nothing new" in cli("digest", "--send").output
    feed_server.add("/gov", Document(rss((ANNOUNCEMENT[0], "UK drone plan doubled",
                                          "Twice as many drones will be built."), OTHER)))
    cli("poll", "--all")
    preview = cli("digest", "--preview", "--html", str(tmp_path / "d.html")).output
    assert "[updated] UK drone plan doubled" in preview
    assert "Changed: +“doubled”; “Drones” → “Twice as many drones”" in preview
    assert "1 new in 1 topic" in preview


def test_word_diff() -> None:
    runs = word_diff("UK to build interceptors now", "UK to mass-produce interceptor drones now")
    assert runs == [("=", "UK to"), ("-", "build interceptors"),
                    ("+", "mass-produce interceptor drones"), ("=", "now")]
    assert render_diff(runs) == (
        "UK to [-build interceptors-] {+mass-produce interceptor drones+} now")
    assert changes_only(runs) == "“build interceptors” → “mass-produce interceptor drones”"
    assert changes_only(word_diff("a b c", "a c")) == "−“b”"
    assert changes_only(word_diff("a c", "a b c")) == "+“b”"


def test_official_words_win_when_the_press_was_first(tmp_path: Path,
                                                    feed_server: FeedServer) -> None:
    press_version = (ANNOUNCEMENT[0], "Ministers hail drone deal", "Press summary of the deal.")
    feed_server.add("/press", Document(rss(press_version)))
    feed_server.add("/gov", Document(rss()))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")  # only the press has it
    feed_server.add("/gov", Document(rss(EDITED)))
    result = cli("poll", "--all")
    assert "0 new items" in result.output and "updated" not in result.output
    (record,) = [json.loads(line) for line in cli("export").output.splitlines()]
    assert record["feed"] == "GOV.UK" and record["feed_kind"] == "official"
    assert record["title"] == EDITED[1] and record["summary"] == EDITED[2]
    assert sorted(record["seen_in"]) == ["GOV.UK", "Press"]
    assert [t["name"] for t in record["topics"]] == ["drones"]
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("SELECT count(*) FROM item_revisions").fetchone()[0] == 0


def govuk_atom(title: str, updated: str) -> bytes:
    """An entry as GOV.UK's Atom feeds write them: `updated`, no `published`."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>MoD</title><id>https://www.gov.uk/mod.atom</id><updated>{updated}</updated>"
            f"<entry><id>https://www.gov.uk/news/interceptors#{updated}</id>"
            f"<updated>{updated}</updated><title>{title}</title>"
            f'<link rel="alternate" type="text/html" href="https://www.gov.uk/news/interceptors"/>'
            f"<summary>Interceptor drones with Ukraine.</summary></entry></feed>").encode()


def test_an_entry_with_only_an_update_time_is_dated_by_it_not_by_the_poll(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/gov", Document(govuk_atom("UK to build interceptors",
                                                "2025-07-10T09:30:00+01:00")))
    feed_server.add("/press", Document(rss()))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")
    exported = json.loads(cli("export").output)
    assert exported["published"] == exported["updated"] == "2025-07-10T08:30:00+00:00"
    assert not exported["first_seen"].startswith("2025")
    # An edit moves its update time, not the date the story appeared.
    feed_server.add("/gov", Document(govuk_atom("UK to mass-produce interceptor drones",
                                                "2025-07-11T12:00:00+01:00")))
    assert "1 updated" in cli("poll", "--all").output
    exported = json.loads(cli("export").output)
    assert exported["published"] == "2025-07-10T08:30:00+00:00"
    assert exported["updated"] == "2025-07-11T11:00:00+00:00"


def test_a_date_far_in_the_future_is_not_believed(
        tmp_path: Path, feed_server: FeedServer) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)  # a time zone slip
    body = "".join(
        f"<item><title>{title}</title><link>https://www.gov.uk/news/{n}</link>"
        f"<pubDate>{when}</pubDate></item>"
        for n, (title, when) in enumerate([("Typo", "Mon, 17 Nov 2099 09:30:00 GMT"),
                                           ("Slip", format_datetime(soon))]))
    feed_server.add("/gov", Document(f'<rss version="2.0"><channel><title>F</title>{body}'
                                     "</channel></rss>".encode()))
    feed_server.add("/press", Document(rss()))
    cli = make_cli(tmp_path, feed_server)
    cli("poll")
    exported = {record["title"]: record
                for record in map(json.loads, cli("export").output.splitlines())}
    assert exported["Typo"]["published"] is None  # dated when first seen instead
    assert exported["Slip"]["published"] == soon.isoformat()
    status = json.loads(cli("status", "--json").output)
    gov = next(feed for feed in status["feeds"] if feed["name"] == "GOV.UK")
    assert gov["newest_item"] == soon.isoformat()  # not 2099 for the next 73 years
