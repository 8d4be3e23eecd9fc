"""Exports through the CLI: Atom and JSON Feed for readers, CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from lxml import etree

from tests.atomschema import assert_valid_atom, atom_schema
from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker import exports

ATOM = "{http://www.w3.org/2005/Atom}"
STORIES = [
    ("https://e.org/1", "Patriot batteries for Poland", "Air defence <b>boost</b> & more"),
    ("https://e.org/2", "=HYPERLINK(\"http://evil\") drone deal", "Drone makers sign."),
    ("https://e.org/3", "Football results", "Nothing military."),
]


def make_cli(tmp_path: Path, server: FeedServer) -> Cli:
    from xml.sax.saxutils import escape
    items = "".join(f"<item><title>{escape(t)}</title><link>{u}</link>"
                    f"<description>{escape(d)}</description>"
                    f"<pubDate>Mon, 17 Nov 2025 09:0{n}:00 GMT</pubDate></item>"
                    for n, (u, t, d) in enumerate(STORIES))
    url = server.add("/f", Document(
        f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()))
    config = write_config(tmp_path / "tracker.toml", [{"name": "MoD", "url": url,
                                                       "kind": "official"}],
                          extra="[topics.air_defence]\nquery = 'Patriot OR \"air defence\"'\n"
                                "[topics.drones]\nquery = 'drone'")
    cli = Cli(config, tmp_path / "tracker.db")
    cli("poll")
    return cli


def test_atom_schema_rejects_what_atom_forbids() -> None:
    valid = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>'
             "<updated>2025-11-17T09:00:00+00:00</updated><author><name>x</name></author>"
             "</feed>")
    assert atom_schema().validate(etree.fromstring(valid))
    for broken in (valid.replace("<id>urn:x</id>", ""),
                   valid.replace("2025-11-17T09:00:00+00:00", "Mon, 17 Nov 2025 09:00 GMT")):
        assert not atom_schema().validate(etree.fromstring(broken))


def test_atom_entry_without_a_link_carries_its_text_as_content() -> None:
    record = {"id": 7, "title": "Statement <b>& notes", "feed": "MoD", "url": None,
              "first_seen": "2025-11-17T09:00:00+00:00", "summary": "Text\nonly.",
              "topics": [{"name": "air_defence"}]}
    document = exports.atom([record], "tracker", "urn:tracker:all",
                            datetime(2025, 11, 18, tzinfo=UTC))
    assert_valid_atom(document)
    (entry,) = feedparser.parse(document).entries
    assert entry.title == "Statement <b>& notes" and entry.content[0].value == "Text\nonly."


def test_atom_export_is_valid_atom_and_round_trips(tmp_path: Path,
                                                   feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server)
    assert_valid_atom(cli("export", "--format", "atom").output)
    document = cli("export", "--format", "atom", "--topic", "air_defence").output
    assert_valid_atom(document)
    root = ET.fromstring(document)
    assert root.tag == f"{ATOM}feed"
    for required in ("title", "id", "updated", "author"):
        assert root.find(f"{ATOM}{required}") is not None, required
    (entry,) = root.findall(f"{ATOM}entry")
    for required in ("title", "id", "updated", "summary"):
        assert entry.find(f"{ATOM}{required}") is not None, required
    assert root.find(f"{ATOM}title").text == "tracker: air defence"  # type: ignore[union-attr]

    parsed = feedparser.parse(document.encode())
    assert parsed.bozo == 0 and parsed.version == "atom10"
    (item,) = parsed.entries
    assert item.title == "Patriot batteries for Poland"
    assert item.link == "https://e.org/1"
    assert [tag.term for tag in item.tags] == ["air_defence"]
    assert item.summary == "Air defence boost & more"
    assert item.author == "MoD"


def test_json_feed_export(tmp_path: Path, feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server)
    feed = json.loads(cli("export", "--format", "jsonfeed").output)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert [item["title"] for item in feed["items"]][-1] == "Patriot batteries for Poland"
    assert all(item["id"].startswith("tag:tracker,2026:item/") for item in feed["items"])
    tagged = {item["title"]: item["tags"] for item in feed["items"]}
    assert tagged["Football results"] == []


def test_csv_export_is_spreadsheet_safe(tmp_path: Path, feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server)
    output = cli("export", "--format", "csv").output
    assert output.startswith("\ufeffid,feed,")  # Excel reads it as UTF-8 only with the mark
    rows = list(csv.DictReader(io.StringIO(output.removeprefix("\ufeff"))))
    assert [row["title"] for row in rows] == [
        "Patriot batteries for Poland", "'=HYPERLINK(\"http://evil\") drone deal",
        "Football results"]
    assert rows[0]["topics"] == "air_defence" and rows[1]["topics"] == "drones"
    assert rows[0]["feed_kind"] == "official"


def test_export_filters_and_refuses_unknown_topics(tmp_path: Path,
                                                   feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server)
    lines = cli("export", "--topic", "drones").output.splitlines()
    assert [json.loads(line)["url"] for line in lines] == ["https://e.org/2"]
    assert cli("export", "--since", "2999-01-01").output == ""
    assert cli("export", "--topic", "nope").exit_code == 2


def test_friendly_views_answer_plain_sql(tmp_path: Path, feed_server: FeedServer) -> None:
    import sqlite3

    cli = make_cli(tmp_path, feed_server)
    with sqlite3.connect(cli.db) as conn:
        stories = conn.execute("SELECT title, feed, topics, seen_in FROM stories "
                               "ORDER BY id").fetchall()
        assert stories[0] == ("Patriot batteries for Poland", "MoD", "air_defence", "MoD")
        health = conn.execute("SELECT name, items, last_status FROM feed_health").fetchall()
        assert health == [("MoD", 3, 200)]
        hits = conn.execute("SELECT topic, title FROM topic_hits ORDER BY topic").fetchall()
        assert hits == [("air_defence", "Patriot batteries for Poland"),
                        ("drones", "=HYPERLINK(\"http://evil\") drone deal")]
        assert conn.execute("SELECT count(*) FROM digest_history").fetchone()[0] == 0
