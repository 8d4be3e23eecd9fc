"""Poll a local mirror of the 241 real feed documents in ../shared/data/feeds.

Expectations are computed independently of tracker's own parser: the standard
library's XML parser reads each well-formed document's links.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Cli
from tests.feedserver import Document, FeedServer
from tracker.normalise import canonical_url


def index_rows(shared_data: Path) -> list[dict[str, str]]:
    with open(shared_data / "feeds" / "INDEX.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def links_in(document: bytes) -> list[str]:
    """Canonical http(s) links of every RSS item / Atom entry, read with ElementTree."""
    root = ET.fromstring(document)
    links: list[str] = []
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag not in ("item", "entry"):
            continue
        for child in element:
            if child.tag.rsplit("}", 1)[-1] != "link":
                continue
            href = child.get("href") if child.get("href") is not None else (child.text or "")
            rel = child.get("rel", "alternate")
            canonical = canonical_url(href.strip()) if rel == "alternate" else None
            if canonical:
                links.append(canonical)
                break
    return links


@pytest.fixture(scope="module")
def polled(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One poll of every real document, served from 127.0.0.1, then a second poll."""
    server = FeedServer().start()
    rows = index_rows(shared_data)
    feeds = []
    for number, row in enumerate(rows):
        body = (shared_data / "feeds" / row["path"]).read_bytes()
        url = server.add(f"/f/{number}", Document(body, content_type="application/xml"))
        feeds.append({"name": f"{number}: {row['path']}", "url": url})
    tmp = tmp_path_factory.mktemp("realfeeds")
    from tests.conftest import write_config

    cli = Cli(write_config(tmp / "tracker.toml", feeds), tmp / "tracker.db")
    first = cli("poll")
    status_first = cli("status", "--json")
    conn = sqlite3.connect(cli.db)
    conn.execute("CREATE TABLE rewrites (tbl TEXT)")
    for table in ("items", "item_keys", "item_feeds"):
        conn.execute(f"CREATE TRIGGER {table}_updates AFTER UPDATE ON {table} "
                     f"BEGIN INSERT INTO rewrites VALUES ('{table}'); END")
        conn.execute(f"CREATE TRIGGER {table}_deletes AFTER DELETE ON {table} "
                     f"BEGIN INSERT INTO rewrites VALUES ('{table}'); END")
    conn.commit()
    requests_before = len(server.requests)
    second = cli("poll", "--all")
    second_requests = server.requests[requests_before:]
    server.stop()
    return {"rows": rows, "cli": cli, "first": first, "second": second, "conn": conn,
            "status": json.loads(status_first.output), "status_exit": status_first.exit_code,
            "second_requests": second_requests, "shared": shared_data}


def feed_rows(conn: sqlite3.Connection) -> dict[str, sqlite3.Row]:
    conn.row_factory = sqlite3.Row
    return {row["name"]: row for row in conn.execute("SELECT * FROM feeds")}


def test_poll_runs_and_reports_a_summary(polled: dict[str, Any]) -> None:
    result = polled["first"]
    assert result.exit_code == 0, result.output
    assert re.search(r"polled 241 feeds: \d+ ok", result.output)
    assert "Traceback" not in result.output


def test_every_well_formed_feed_stores_all_its_items(polled: dict[str, Any]) -> None:
    conn = polled["conn"]
    feeds = feed_rows(conn)
    checked = 0
    for number, row in enumerate(polled["rows"]):
        if row["well_formed"] != "True" or not int(row["items"] or 0):
            continue
        name = f"{number}: {row['path']}"
        feed = feeds[name]
        assert feed["last_error"] is None, (name, feed["last_error"])
        links = links_in((polled["shared"] / "feeds" / row["path"]).read_bytes())
        # A link shared by several entries of one document is not an identity.
        expected = {link for link in links if links.count(link) == 1}
        # Each link is a key of an item remembered as seen in this feed (the item
        # may have been first seen elsewhere, under the same GUID).
        stored = {r[0][4:] for r in conn.execute(
            "SELECT k.key FROM item_keys k JOIN item_feeds x ON x.item_id = k.item_id "
            "WHERE x.feed_id = ? AND k.key LIKE 'url:%'", (feed["id"],))}
        assert expected <= stored, (name, sorted(expected - stored)[:3])
        count = conn.execute("SELECT count(*) FROM item_feeds WHERE feed_id = ?",
                             (feed["id"],)).fetchone()[0]
        assert count >= len(expected)
        checked += 1
    assert checked > 180


def test_malformed_documents_fail_readably_or_are_read_leniently(polled: dict[str, Any]) -> None:
    feeds = feed_rows(polled["conn"])
    failed = []
    for number, row in enumerate(polled["rows"]):
        if row["well_formed"] == "True":
            continue
        feed = feeds[f"{number}: {row['path']}"]
        if feed["last_error"] is not None:
            error = feed["last_error"]
            assert "\n" not in error and len(error) < 300 and "Traceback" not in error
            assert feed["consecutive_failures"] == 2  # one per poll: the streak counts
            failed.append(row["path"])
        else:
            assert feed["last_warning"], row["path"]
            assert "read leniently" in feed["last_warning"] or \
                "gzip" in feed["last_warning"], (row["path"], feed["last_warning"])
    assert "node_feedparser/notafeed.html" in failed


@pytest.mark.parametrize(("name", "error"), [
    ("node_feedparser/notafeed.html", 'a web page titled "The Is Not The Feed'),
    ("rbren_rss_parser/unrecognized.rss", 'a web page titled "Document Moved"'),
    ("feed_rs/xml_sample_1.xml", "root element is <catalog>"),
    ("feed_rs/xml_sample_2.xml", "root element is <catalog>"),
])
def test_documents_that_are_not_feeds_are_failures_named_as_such(
        polled: dict[str, Any], name: str, error: str) -> None:
    feed = next(f for n, f in feed_rows(polled["conn"]).items() if n.endswith(name))
    assert feed["last_error"] is not None and feed["last_error"].startswith("not a feed: ")
    assert error in feed["last_error"], feed["last_error"]


@pytest.mark.parametrize("name", ["node_feedparser/compressed.xml",
                                  "node_feedparser/invalid-characters-gzipped.xml"])
def test_gzip_files_served_as_xml_are_read(polled: dict[str, Any], name: str) -> None:
    # Captured as gzip files and served without Content-Encoding, as a
    # misconfigured server serves a .xml.gz: feedparser alone reads nothing.
    conn = polled["conn"]
    feed = next(f for n, f in feed_rows(conn).items() if n.endswith(name))
    assert feed["last_error"] is None and "without saying so" in feed["last_warning"]
    document = gzip.decompress((polled["shared"] / "feeds" / name).read_bytes())
    entries = len(re.findall(rb"<item[\s>]", document))
    stored = conn.execute("SELECT count(*) FROM item_feeds WHERE feed_id = ?",
                          (feed["id"],)).fetchone()[0]
    assert entries >= 10 and stored == entries


def test_status_json_tells_the_truth(polled: dict[str, Any]) -> None:
    conn = polled["conn"]
    report = polled["status"]
    assert polled["status_exit"] == 0  # failures younger than a day are not yet an alert
    # Captured years ago, most documents' newest items are long past their rhythm:
    # noticed, never an alert.
    quiet = [feed for feed in report["feeds"] if feed["quiet"]]
    assert len(quiet) > 50 and all(feed["problem"] is None for feed in quiet)
    assert report["totals"]["items"] == conn.execute("SELECT count(*) FROM items").fetchone()[0]
    by_name = {feed["name"]: feed for feed in report["feeds"]}
    assert len(by_name) == 241
    for name, row in feed_rows(conn).items():
        entry = by_name[name]
        count = conn.execute("SELECT count(*) FROM item_feeds WHERE feed_id = ?",
                             (row["id"],)).fetchone()[0]
        assert entry["item_count"] == count
        assert entry["last_status"] == 200
        if row["last_error"]:
            assert entry["last_error"] == row["last_error"]
            assert entry["consecutive_failures"] == 1
        else:
            assert entry["last_success"] is not None and entry["last_error"] is None
    assert report["totals"]["failing"] == sum(1 for f in report["feeds"] if f["last_error"])


def test_one_item_in_two_afmil_feeds_is_one_story_seen_in_both(polled: dict[str, Any]) -> None:
    """The 47 af.mil feeds repeat items across feeds; GUIDs there are URLs."""
    guid_feeds: dict[str, set[str]] = defaultdict(set)
    for row in polled["rows"]:
        if not row["path"].startswith("afmil_2016"):
            continue
        text = (polled["shared"] / "feeds" / row["path"]).read_text("utf-8", errors="replace")
        for guid in re.findall(r"<guid[^>]*>([^<]+)</guid>", text):
            guid_feeds[canonical_url(guid.strip()) or ""].add(row["path"])
    multi = {guid for guid, paths in guid_feeds.items() if len(paths) > 1}
    assert len(multi) > 100
    conn = polled["conn"]
    seen_counts = dict(conn.execute(
        "SELECT i.canonical_url, count(x.feed_id) FROM items i "
        "JOIN item_feeds x ON x.item_id = i.id JOIN feeds f ON f.id = i.feed_id "
        "WHERE f.name LIKE '%afmil_2016%' GROUP BY i.id"))
    assert set(seen_counts) == set(guid_feeds)
    for guid, paths in guid_feeds.items():
        assert seen_counts[guid] == len(paths), guid


def test_repoll_adds_nothing_rewrites_nothing_and_is_conditional(polled: dict[str, Any]) -> None:
    second = polled["second"]
    assert second.exit_code == 0
    assert " 0 new items" in second.output
    assert polled["conn"].execute("SELECT count(*) FROM rewrites").fetchone()[0] == 0
    requests = polled["second_requests"]
    assert len(requests) == 241
    healthy = {urlsplit(row["url"]).path for row in feed_rows(polled["conn"]).values()
               if row["last_error"] is None}
    assert len(healthy) > 200
    assert all("If-None-Match" in r.headers for r in requests if r.path in healthy)
