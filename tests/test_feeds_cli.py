"""Managing feeds from the CLI: add with discovery, remove, pause, OPML in and out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import Cli
from tests.feedserver import Document, FeedServer
from tracker.opml import discover_feeds, read_opml

CONFIG = """# My tracker config: hand-written comments must survive edits.
allow_private_networks = true   # local test server

[[feeds]]
# The ministry itself
name = "MoD"
url = "https://www.gov.uk/government/organisations/ministry-of-defence.atom"
kind = "official"

[topics.drones]
query = "drone"
"""

# As Inoreader/Feedly-style readers export it: folders, a duplicate, a folder-only
# outline, an entry without xmlUrl, a bad URL, and a feed tracker already has.
OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions in Reader</title></head>
  <body>
    <outline text="Defence" title="Defence">
      <outline text="UK Defence Journal" title="UK Defence Journal" type="rss"
               xmlUrl="https://ukdefencejournal.org.uk/feed/" htmlUrl="https://ukdefencejournal.org.uk"/>
      <outline text="Breaking Defense" title="Breaking Defense" type="rss"
               xmlUrl="https://breakingdefense.com/feed/"/>
      <outline text="NATO" title="NATO">
        <outline text="NATO news" type="rss"
                 xmlUrl="https://www.nato.int/cps/rss/en/natohq/rssFeed.xsl/rssFeed.xml"/>
      </outline>
    </outline>
    <outline text="Breaking Defense again" type="rss" xmlUrl="https://breakingdefense.com/feed/"/>
    <outline text="A bookmark, not a feed" htmlUrl="https://example.org/"/>
    <outline text="Broken" type="rss" xmlUrl="ftp://example.org/feed.xml"/>
    <outline text="MoD" type="rss"
             xmlUrl="https://www.gov.uk/government/organisations/ministry-of-defence.atom"/>
  </body>
</opml>
"""

MOD_URL = "https://www.gov.uk/government/organisations/ministry-of-defence.atom"
FEED = (b'<rss version="2.0"><channel><title>Local Defence Feed</title><item><title>x</title>'
        b"<link>https://e.org/1</link></item></channel></rss>")
PAGE = (b'<html><head><title>Site</title><link rel="alternate" type="application/rss+xml" '
        b'title="Site feed" href="/feed.xml"></head><body>hi</body></html>')


def cli_for(tmp_path: Path) -> Cli:
    config = tmp_path / "tracker.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return Cli(config, tmp_path / "tracker.db")


def test_add_checks_the_feed_and_keeps_comments(tmp_path: Path,
                                                feed_server: FeedServer) -> None:
    cli = cli_for(tmp_path)
    url = feed_server.add("/feed.xml", Document(FEED))
    result = cli("feeds", "add", url, "--interval", "20m")
    assert result.exit_code == 0, result.output
    assert "added Local Defence Feed" in result.output
    text = cli.config.read_text()
    assert text.startswith("# My tracker config: hand-written comments must survive edits.")
    assert "# The ministry itself" in text and "# local test server" in text
    listed = json.loads(cli("feeds", "list", "--json").output)
    assert listed[-1] == {"name": "Local Defence Feed", "url": url, "kind": "news",
                          "interval_seconds": 1200, "paused": False}
    fetched = len(feed_server.requests_for("/feed.xml"))
    again = cli("feeds", "add", url)
    assert again.exit_code == 1 and "already in" in again.output
    assert len(feed_server.requests_for("/feed.xml")) == fetched  # said without fetching


def test_add_discovers_the_feed_of_a_web_page(tmp_path: Path, feed_server: FeedServer) -> None:
    cli = cli_for(tmp_path)
    feed_server.add("/feed.xml", Document(FEED))
    page = feed_server.add("/", Document(PAGE, content_type="text/html"))
    result = cli("feeds", "add", page, "--kind", "official", "--name", "Local")
    assert result.exit_code == 0, result.output
    assert json.loads(cli("feeds", "list", "--json").output)[-1]["url"] == \
        feed_server.url("/feed.xml")


def test_add_refuses_what_is_not_a_feed(tmp_path: Path, feed_server: FeedServer) -> None:
    cli = cli_for(tmp_path)
    page = feed_server.add("/plain", Document(b"<html><body>no feed</body></html>",
                                              content_type="text/html"))
    result = cli("feeds", "add", page)
    assert result.exit_code == 1 and "not a feed" in result.output
    assert cli.config.read_text() == CONFIG


def test_pause_resume_and_remove(tmp_path: Path, feed_server: FeedServer) -> None:
    cli = cli_for(tmp_path)
    cli("feeds", "add", feed_server.add("/feed.xml", Document(FEED)))
    requests_before = len(feed_server.requests_for("/feed.xml"))  # the check when adding
    assert cli("feeds", "pause", "Local Defence Feed").exit_code == 0
    assert cli("feeds", "pause", MOD_URL).exit_code == 0  # by URL; keeps the test offline
    assert "paused = true" in cli.config.read_text()
    assert cli("poll").output.startswith("polled 0 feeds")
    assert len(feed_server.requests_for("/feed.xml")) == requests_before
    status = json.loads(cli("status", "--json").output)
    assert status["feeds"][1]["paused"] is True
    assert cli("feeds", "resume", "Local Defence Feed").exit_code == 0
    assert cli.config.read_text().count("paused = true") == 1  # the MoD stays paused
    assert cli("feeds", "remove", "MoD").output.strip() == "removed MoD"
    assert [f["name"] for f in json.loads(cli("feeds", "list", "--json").output)] == [
        "Local Defence Feed"]
    assert cli("feeds", "remove", "nope").exit_code == 1


def test_opml_import_reports_each_problem_and_round_trips(tmp_path: Path) -> None:
    cli = cli_for(tmp_path)
    opml = tmp_path / "subscriptions.opml"
    opml.write_text(OPML, encoding="utf-8")
    result = cli("feeds", "import", str(opml))
    assert result.exit_code == 0, result.output
    assert "imported 3 feeds" in result.output and "4 skipped" in result.output
    assert "appears more than once" in result.output
    assert "no xmlUrl: not a feed" in result.output
    assert "is not an http(s) URL" in result.output
    assert "is already configured" in result.output
    names = [f["name"] for f in json.loads(cli("feeds", "list", "--json").output)]
    assert names == ["MoD", "UK Defence Journal", "Breaking Defense", "NATO news"]

    exported = cli("feeds", "export").output
    root = ET.fromstring(exported)
    assert root.get("version") == "2.0"
    urls = [o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")]
    assert len(urls) == 4 and "https://breakingdefense.com/feed/" in urls
    again, problems = read_opml(exported.encode())
    assert [f.url for f in again] == urls and problems == []
    assert [o.get("text") for o in root.find("body")] == ["official", "news"]  # type: ignore[union-attr]


def test_an_import_that_would_break_the_config_writes_nothing(tmp_path: Path) -> None:
    cli = cli_for(tmp_path)
    opml = tmp_path / "bad.opml"
    opml.write_text("<opml><body><outline", encoding="utf-8")
    result = cli("feeds", "import", str(opml))
    assert "not valid XML" in result.output and "imported 0 feeds" in result.output
    assert cli.config.read_text() == CONFIG


def test_discovery_resolves_relative_links() -> None:
    html = ('<link rel="stylesheet" href="x.css"><link rel="alternate" '
            'type="application/atom+xml" href="atom.xml" title="Atom">')
    assert discover_feeds(html, "https://www.gov.uk/news/") == [
        ("https://www.gov.uk/news/atom.xml", "Atom")]


def test_a_name_two_feeds_share_picks_neither(tmp_path: Path) -> None:
    cli = cli_for(tmp_path)
    cli.config.write_text(CONFIG + '\n[[feeds]]\nname = "MoD"\nurl = "https://mod.example/rss"\n',
                          encoding="utf-8")
    result = cli("feeds", "pause", "MoD")
    assert result.exit_code == 1
    assert (f"2 feeds are named 'MoD' ({MOD_URL}, https://mod.example/rss); give the URL "
            "of the one you mean") in result.output
    assert "paused" not in cli.config.read_text()
    assert cli("feeds", "pause", "https://mod.example/rss").exit_code == 0
    paused = [feed for feed in json.loads(cli("feeds", "list", "--json").output)
              if feed["paused"]]
    assert [feed["url"] for feed in paused] == ["https://mod.example/rss"]


def test_a_config_saved_with_a_byte_order_mark_is_read_and_edited(tmp_path: Path) -> None:
    cli = cli_for(tmp_path)
    cli.config.write_bytes(b"\xef\xbb\xbf" + CONFIG.encode())  # as Notepad saves UTF-8
    assert cli("feeds", "list").exit_code == 0
    assert cli("feeds", "pause", "MoD").exit_code == 0
    assert "paused = true" in cli.config.read_text(encoding="utf-8")


def test_an_edit_keeps_the_config_files_permissions(tmp_path: Path) -> None:
    cli = cli_for(tmp_path)
    cli.config.chmod(0o644)
    assert cli("feeds", "pause", "MoD").exit_code == 0
    assert cli.config.stat().st_mode & 0o777 == 0o644  # not a temporary file's 0600


DEFENCE_FEED = (
    b'<rss version="2.0"><channel><title>Defence Desk</title>'
    b"<item><title>Drone strike on depot</title><link>https://d.org/1</link>"
    b"<pubDate>Mon, 17 Nov 2025 09:00:00 GMT</pubDate></item>"
    b"<item><title>New drone factory opens</title><link>https://d.org/2</link>"
    b"<pubDate>Wed, 19 Nov 2025 09:00:00 GMT</pubDate></item>"
    b"<item><title>Budget day</title><link>https://d.org/3</link>"
    b"<pubDate>Tue, 18 Nov 2025 09:00:00 GMT</pubDate></item>"
    b"</channel></rss>")


def test_test_says_what_a_feed_would_bring_without_adding_or_storing(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = cli_for(tmp_path)
    feed_server.add("/feed.xml", Document(DEFENCE_FEED))
    page = feed_server.add("/", Document(PAGE, content_type="text/html"))
    before = cli.config.read_text()
    result = cli("feeds", "test", page)  # a site's page: the feed it advertises
    assert result.exit_code == 0, result.output
    feed_url = feed_server.url("/feed.xml")
    lines = result.output.splitlines()
    assert lines[0] == f"Defence Desk <{feed_url}>"
    assert lines[1] == "  3 items; newest 2025-11-19 09:00, oldest 2025-11-17"
    assert lines[2] == "  topics: drones (2)"
    assert lines[3:6] == ["  2025-11-19  New drone factory opens  [drones]",
                          "  2025-11-18  Budget day",
                          "  2025-11-17  Drone strike on depot  [drones]"]
    assert lines[-1] == f"Add it with: tracker feeds add {feed_url}"
    assert cli.config.read_text() == before and not cli.db.exists()

    report = json.loads(cli("feeds", "test", feed_url, "--json").output)
    assert report["items"] == 3 and report["topics"] == {"drones": 2}
    assert report["newest_items"][0]["title"] == "New drone factory opens"
    assert report["configured"] is False

    cli("feeds", "add", feed_url)
    again = cli("feeds", "test", feed_url).output
    assert "(already in the config)" in again and "Add it with" not in again
    missing = cli("feeds", "test", feed_server.url("/nothing"))
    assert missing.exit_code == 1 and "404" in missing.output


def test_feed_commands_go_through_the_configured_proxy(
        tmp_path: Path, feed_server: FeedServer) -> None:
    from tests.proxyserver import ProxyServer

    proxy = ProxyServer().start()
    try:
        config = tmp_path / "tracker.toml"
        config.write_text(CONFIG.replace("allow_private_networks = true",
                                         f'allow_private_networks = true\n[fetch]\n'
                                         f'proxy = "{proxy.url}"\n', 1)
                          .replace("\n[[feeds]]", "\n\n[[feeds]]", 1), encoding="utf-8")
        cli = Cli(config, tmp_path / "tracker.db")
        url = feed_server.add("/feed.xml", Document(DEFENCE_FEED))
        assert cli("feeds", "test", url).exit_code == 0
        assert cli("feeds", "add", url).exit_code == 0
    finally:
        proxy.stop()
    assert proxy.requests == [f"GET {url} HTTP/1.1"] * 2


def test_a_feed_title_with_terminal_controls_is_named_as_plain_text(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """A feed's own title becomes its name in the config and in every table:
    escape sequences in it (clear the screen, set the clipboard) are dropped
    as they are from items' titles."""
    cli = cli_for(tmp_path)
    hostile = (b'<rss version="2.0"><channel><title>Local &#x1b;[2J&#x1b;]52;c;aGk=&#x7; '
               b"Defence\n  Feed</title><item><title>x</title><link>https://e.org/1</link>"
               b"</item></channel></rss>")
    url = feed_server.add("/feed.xml", Document(hostile))
    tested = cli("feeds", "test", url, "--json")
    assert json.loads(tested.output)["title"] == "Local [2J ]52;c;aGk= Defence Feed"
    added = cli("feeds", "add", url)
    assert added.exit_code == 0, added.output
    assert "\x1b" not in added.output and "\x1b" not in cli.config.read_text()
    cli("feeds", "remove", "MoD")  # the poll stays on 127.0.0.1
    cli("poll")
    report = json.loads(cli("status", "--json").output)
    assert [feed["title"] for feed in report["feeds"] if feed["url"] == url] == [
        "Local [2J ]52;c;aGk= Defence Feed"]


def test_opml_titles_become_plain_one_line_names() -> None:
    feeds, problems = read_opml(
        '<opml version="1.0"><body><outline title="  NATO \u009b2J   news " '
        'xmlUrl="https://e.org/f"/></body></opml>'.encode())
    assert problems == [] and [feed.title for feed in feeds] == ["NATO 2J news"]
