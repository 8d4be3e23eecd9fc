"""A week of real news, day by day, through polls and digests: the week the
invasion of Ukraine began, from the 2022 stream in ../shared/data, served as
its four outlets' feeds from 127.0.0.1 and mailed to a real SMTP server.

Each day every feed serves its newest items, most of them served the day
before too, as real feeds do; after each day's poll the digest is sent. What
must hold over the week: every item stored once however many days it was
served, every item a topic matched carried by exactly one digest and shown in
it, and the week's news linked into storylines that run over several days.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

from bench.corpus import render_rss, replay_items
from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tests.test_digest import Inbox, smtp  # noqa: F401 (the fixture)

DAYS = [f"2022-02-{day}" for day in range(20, 27)]
SERVED = 40  # items in a feed document, newest first
TOPICS = {"ukraine": "Ukraine OR Ukrainian OR Kyiv", "nato": "NATO",
          "sanctions": "sanction* OR embargo*"}


def _outlets(shared_data: Path) -> dict[str, list[dict[str, str]]]:
    """Each outlet's items up to the week's end, in the order they arrived."""
    outlets: dict[str, list[dict[str, str]]] = defaultdict(list)
    for record in replay_items(shared_data):
        if record["capture_day"] <= DAYS[-1]:
            outlets[record["source"]].append({**record, "body": ""})
    return outlets


def test_a_week_of_real_news_is_stored_once_carried_once_and_threaded(
        tmp_path: Path, feed_server: FeedServer, shared_data: Path,
        smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp
    outlets = _outlets(shared_data)
    paths = {source: f"/feed{n}" for n, source in enumerate(sorted(outlets))}
    extra = "\n".join([
        "[digest]", 'to = ["desk@example.org"]', 'from = "tracker@example.org"',
        'include = "topics"', "max_items = 1000", 'lookback = "7d"',
        "[digest.smtp]", 'host = "127.0.0.1"', f"port = {port}", 'security = "none"',
        *(f"[topics.{name}]\nquery = '{query}'" for name, query in TOPICS.items())])
    cli = Cli(write_config(tmp_path / "tracker.toml",
                           [{"name": source.split("://")[1], "url": feed_server.url(path)}
                            for source, path in paths.items()], extra=extra),
              tmp_path / "tracker.db")
    served_links: set[str] = set()
    for day in DAYS:
        for source, path in paths.items():
            arrived = [r for r in outlets[source] if r["capture_day"] <= day]
            newest = sorted(arrived, key=lambda r: r["date_published"], reverse=True)[:SERVED]
            served_links.update(r["link"] for r in newest)
            feed_server.add(path, Document(render_rss(source, newest)))
        polled = cli("poll", "--all")
        assert polled.exit_code == 0, polled.output
        sent = cli("digest", "--send")
        assert sent.exit_code == 0, sent.output

    with sqlite3.connect(cli.db) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT url) FROM items").fetchone()
        carried = Counter(item for (item,) in conn.execute(
            "SELECT d.item_id FROM digest_items d JOIN digests g ON g.id = d.digest_id "
            "WHERE g.kind = 'digest' AND g.status = 'delivered'"))
        matched = {item for (item,) in conn.execute("SELECT DISTINCT item_id FROM topic_matches")}
        titles = dict(conn.execute("SELECT id, title FROM items").fetchall())
        outlet = dict(conn.execute(
            "SELECT i.id, f.name FROM items i JOIN feeds f ON f.id = i.feed_id").fetchall())
        same_story = defaultdict(set)
        for item, earlier in conn.execute(
                "SELECT item_id, related_id FROM item_links WHERE kind = 'same_story'"):
            same_story[item].add(earlier)
        digest_of = {item: digest for item, digest in conn.execute(
            "SELECT d.item_id, g.message_id FROM digest_items d "
            "JOIN digests g ON g.id = d.digest_id")}
        self_links = conn.execute(
            "SELECT count(*) FROM item_links WHERE item_id = related_id").fetchone()[0]
        both_ways = conn.execute(
            "SELECT count(*) FROM item_links a JOIN item_links b "
            "ON a.item_id = b.related_id AND a.related_id = b.item_id").fetchone()[0]
    # Stored once: as many items as distinct links served over the week, each once.
    assert stored[0] == stored[1] == len(served_links), (stored, len(served_links))
    assert len(matched) > 100  # the week the invasion began
    # Carried once: every matched item in exactly one delivered digest, nothing else.
    assert set(carried) == matched
    assert max(carried.values()) == 1
    # Shown: each digest message lists every item it carried, or, for another
    # outlet's report of a story it shows, that outlet beside the story.
    by_id = {message["Message-ID"].strip(): message for message in inbox.messages}  # folded
    assert len(by_id) == len(inbox.messages) == len(DAYS)
    folded = 0
    for item in matched:
        text = " ".join(by_id[digest_of[item]].get_body(  # type: ignore[union-attr]
            ("plain",)).get_content().split())
        if " ".join(titles[item].split()) not in text:
            folded += 1
            assert outlet[item] in text and any(
                " ".join(titles[earlier].split()) in text for earlier in same_story[item]), \
                titles[item]
    assert folded < len(matched) / 4
    subjects = [message["Subject"] for message in inbox.messages]
    assert all(re.search(r": \d+ new in [123] topics?$", subject) for subject in subjects)
    # Threaded: links never point at the item itself or both ways, and the week's
    # news of the invasion forms storylines that run over several days.
    assert self_links == 0 and both_ways == 0
    stories = json.loads(cli("stories", "--json", "--since", "30d", "--limit", "5").output)
    spans = [(story["size"], story["started"][:10], story["updated"][:10]) for story in stories]
    assert any(size >= 5 and started < updated for size, started, updated in spans), spans
