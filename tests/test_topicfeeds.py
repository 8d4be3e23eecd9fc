"""Each topic as an Atom feed on disk, through real polls of a local feed server."""

from __future__ import annotations

import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.atomschema import ATOM_NS, assert_valid_atom
from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker.config import load_config, parse_config
from tracker.errors import ConfigError
from tracker.fetch import Fetcher
from tracker.service import TrackerService
from tracker.store import Store
from tracker.topicfeeds import file_name

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STORIES = [
    ("UK to mass-produce interceptor drones", "Ukrainian-designed drones built in Britain.", 0),
    ("Russian drones violate Polish airspace", "NATO jets scrambled over Poland.", 1),
    ("Drone wall plan for NATO's eastern flank", "Allies discuss counter-drone systems.", 2),
    ("Defence budget rises", "Spending reaches 2.5 per cent of GDP.", 3),
]


def rss(stories: list[tuple[str, str, int]]) -> bytes:
    items = "".join(f"<item><title>{title}</title><link>https://e.org/{day}</link>"
                    f"<description>{text}</description>"
                    f"<pubDate>{format_datetime(T0 + timedelta(days=day))}</pubDate></item>"
                    for title, text, day in stories)
    return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def make_cli(tmp_path: Path, server: FeedServer, folder: str = "topic-feeds") -> Cli:
    extra = (f"[topic_feeds]\nfolder = {json.dumps(folder)}\nitems = 2\n"
             "[topics.drones]\nquery = 'drone*'\n[topics.nato]\nquery = 'NATO'\n"
             "[topics.aukus]\nquery = 'AUKUS'")
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "Defence News", "url": server.url("/feed")}], extra=extra)
    return Cli(config, tmp_path / "db" / "tracker.db")


def entries(path: Path) -> list[tuple[str, list[str]]]:
    root = ET.parse(path).getroot()
    return [(entry.findtext("a:title", namespaces=ATOM_NS) or "",
             [c.get("term", "") for c in entry.findall("a:category", ATOM_NS)])
            for entry in root.findall("a:entry", ATOM_NS)]


def test_each_topic_is_a_feed_of_its_newest_matches_rewritten_only_when_it_changes(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES[:3])))
    cli = make_cli(tmp_path, feed_server)
    first = cli("poll", "--all")
    assert first.exit_code == 0 and "; 3 topic feeds rewritten\n" in first.output
    folder = tmp_path / "db" / "topic-feeds"  # beside the database
    drones, nato, aukus = (folder / "drones.atom", folder / "nato.atom", folder / "aukus.atom")
    for path in (drones, nato, aukus):
        assert_valid_atom(path.read_text(encoding="utf-8"))
    # The newest two of three drone stories, newest first, with every topic each matched.
    assert entries(drones) == [("Drone wall plan for NATO's eastern flank", ["drones", "nato"]),
                               ("Russian drones violate Polish airspace", ["drones", "nato"])]
    assert [title for title, _ in entries(nato)] == [
        "Drone wall plan for NATO's eastern flank", "Russian drones violate Polish airspace"]
    assert entries(aukus) == []
    assert ET.parse(drones).getroot().findtext("a:title", namespaces=ATOM_NS) == "tracker: drones"
    assert not list(folder.glob(".*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert drones.stat().st_mode & 0o777 == 0o666 & ~umask  # a web server may read it

    # Nothing new: no file is rewritten, so a web server's Last-Modified holds.
    stamps = {path: path.stat().st_mtime_ns for path in (drones, nato, aukus)}
    contents = {path: path.read_bytes() for path in stamps}
    again = cli("poll", "--all")
    assert again.exit_code == 0 and "topic feed" not in again.output
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert {path: path.read_bytes() for path in stamps} == contents

    # A new drone story replaces the oldest shown; the NATO feed stays as it was.
    feed_server.add("/feed", Document(rss([*STORIES[:3],
                                           ("Counter-drone lasers ordered", "Laser deal.", 5)])))
    assert cli("poll", "--all").exit_code == 0
    assert [title for title, _ in entries(drones)] == [
        "Counter-drone lasers ordered", "Drone wall plan for NATO's eastern flank"]
    assert nato.read_bytes() == contents[nato]


def test_a_folder_that_cannot_be_written_is_reported_and_the_poll_stands(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    (tmp_path / "a-file").write_text("")
    cli = make_cli(tmp_path, feed_server, folder=str(tmp_path / "a-file" / "feeds"))
    result = cli("poll", "--all")
    assert result.exit_code == 0
    assert f"topic feeds not written to {tmp_path / 'a-file' / 'feeds'}" in result.output
    assert "4 new items" in result.output
    assert len(cli("export").output.splitlines()) == 4


def test_without_a_folder_no_feed_is_written(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "Defence News", "url": feed_server.url("/feed")}],
                          extra="[topics.drones]\nquery = 'drone*'")
    assert Cli(config, tmp_path / "tracker.db")("poll", "--all").exit_code == 0
    assert not [path for path in tmp_path.rglob("*") if path.suffix == ".atom" or path.is_dir()]


@pytest.mark.parametrize(("table", "message"), [
    ("folder = 5", "topic_feeds.folder: must be a folder name"),
    ("folder = 'x'\nitems = 0", "topic_feeds.items: must be a whole number from 1 to 1000"),
    ("folder = 'x'\nitem = 5", "topic_feeds: unknown key 'item'; did you mean 'items'?"),
])
def test_bad_topic_feed_settings_are_refused(table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"[topic_feeds]\n{table}\n", Path("tracker.toml"))


def test_a_topic_name_becomes_a_safe_file_name() -> None:
    assert file_name("air_defence") == "air_defence.atom"
    assert re.fullmatch(r"\.\._x_y-[0-9a-f]{6}\.atom", file_name("../x y"))
    assert len({file_name("air defence"), file_name("air_defence"), file_name("air/defence")}) == 3


def test_a_rematch_rewrites_the_feeds_of_the_topics_it_changed(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES[:3])))
    cli = make_cli(tmp_path, feed_server)
    assert cli("poll", "--all").exit_code == 0
    nato = tmp_path / "db" / "topic-feeds" / "nato.atom"
    assert len(entries(nato)) == 2
    cli.config.write_text(cli.config.read_text().replace("query = 'NATO'", "query = 'airspace'"))
    result = cli("topics", "rematch")
    assert "nato: 1 matching items" in result.output
    # drones.atom too: its entries' categories no longer say nato; aukus.atom is as it was.
    assert "topic feeds rewritten: drones.atom, nato.atom\n" in result.output
    assert [title for title, _ in entries(nato)] == ["Russian drones violate Polish airspace"]


def test_a_daemons_service_logs_an_unwritable_folder_once_and_its_recovery(
        tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    blocker = tmp_path / "db" / "topic-feeds"
    blocker.parent.mkdir()
    blocker.write_text("a file where the folder should be")
    config = load_config(make_cli(tmp_path, feed_server).config)
    with Store.open(tmp_path / "db" / "tracker.db") as store:
        service = TrackerService(config, store, Fetcher(config.fetch, True, frozenset()))
        try:
            with caplog.at_level(logging.DEBUG, logger="tracker.service"):
                for _ in range(3):
                    assert service.poll(all_feeds=True).topic_feeds_error
                warnings = [r for r in caplog.records if "topic feeds not written" in r.message]
                assert [r.levelno for r in warnings] == [logging.WARNING, logging.DEBUG,
                                                         logging.DEBUG]
                blocker.unlink()
                caplog.clear()
                assert service.poll(all_feeds=True).topic_feeds_error is None
                assert [r.message for r in caplog.records
                        if r.levelno >= logging.INFO] == ["topic feeds written again"]
        finally:
            service.close()
    assert (blocker / "drones.atom").exists()


def test_an_entry_says_which_earlier_story_it_continues(tmp_path: Path,
                                                        feed_server: FeedServer) -> None:
    thread = [("UK and Ukraine sign interceptor drone partnership",
               "Britain and Ukraine agreed to build Ukrainian-designed interceptor drones in "
               "Britain.", 0),
              ("UK to build Ukrainian-designed interceptor drones at scale",
               "Production of the interceptor drones agreed in the UK-Ukraine partnership starts "
               "in Britain.", 20)]
    feed_server.add("/feed", Document(rss(thread)))
    cli = make_cli(tmp_path, feed_server)
    assert cli("poll", "--all").exit_code == 0
    drones = tmp_path / "db" / "topic-feeds" / "drones.atom"
    assert_valid_atom(drones.read_text(encoding="utf-8"))
    root = ET.parse(drones).getroot()
    later, first = root.findall("a:entry", ATOM_NS)
    assert later.findtext("a:summary", namespaces=ATOM_NS) == thread[1][1]
    assert later.findtext("a:content", namespaces=ATOM_NS) == (
        f"{thread[1][1]}\n\nContinues: UK and Ukraine sign interceptor drone partnership "
        "(Defence News, 20 Nov 2026)")
    assert first.find("a:content", ATOM_NS) is None  # it begins the thread
