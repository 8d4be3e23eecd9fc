"""Followed storylines: the next step of a story is alerted after the poll that
linked it and leads the digest, whatever topics it matches (a real SMTP server,
aiosmtpd on 127.0.0.1, and a local feed server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tests.test_digest import Inbox, smtp  # noqa: F401 (the fixture)

NOW = datetime.now(UTC)
PARTNERSHIP = ("UK and Ukraine sign interceptor drone partnership",
               "Interceptor drones for Ukraine, built with Britain.", NOW - timedelta(days=30))
PRODUCTION = ("UK to mass-produce Ukraine's interceptor drones",
              "Interceptor drones for Ukraine, built in Britain.", NOW - timedelta(hours=2))
BUDGET = ("Defence budget rises to 2.5 per cent", "Spending on the armed forces rises.",
          NOW - timedelta(hours=1))


def rss(*items: tuple[str, str, datetime]) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>https://e.org/{n}</link>"
                   f"<description>{summary}</description>"
                   f"<pubDate>{format_datetime(when)}</pubDate></item>"
                   for n, (title, summary, when) in enumerate(items))
    return f'<rss version="2.0"><channel><title>F</title>{body}</channel></rss>'.encode()


def tracker_on(tmp_path: Path, server: FeedServer, port: int,
               *items: tuple[str, str, datetime]) -> Cli:
    """A tracker on a feed of `items` (served at /feed), polled once."""
    cli = make_cli(tmp_path, server.add("/feed", Document(rss(*items))), port)
    cli("poll", "--all")
    return cli


def make_cli(tmp_path: Path, url: str, port: int) -> Cli:
    extra = "\n".join(["[digest]", 'to = ["analyst@example.org"]', 'from = "t@example.org"',
                       "[digest.smtp]", 'host = "127.0.0.1"', f"port = {port}",
                       'security = "none"', "timeout = 5",
                       "[topics.budgets]", "query = 'budget'"])
    return Cli(write_config(tmp_path / "tracker.toml", [{"name": "MoD", "url": url}],
                            extra=extra), tmp_path / "tracker.db")


def test_a_followed_storylines_next_step_is_alerted_and_leads_the_digest(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp
    cli = tracker_on(tmp_path, feed_server, port, PARTNERSHIP)
    assert inbox.messages == []  # no alerting topic, nothing followed
    followed = cli("follow", "--item", "1", "--note", "next: production")
    assert followed.exit_code == 0, followed.output
    assert followed.output == ("following storyline 1: UK and Ukraine sign interceptor drone "
                               "partnership (1 item): next: production\n")

    feed_server.add("/feed", Document(rss(PARTNERSHIP, PRODUCTION, BUDGET)))
    polled = cli("poll", "--all")
    assert polled.exit_code == 0, polled.output
    assert ("""alert: sent "Alert: UK to mass-produce Ukraine's interceptor drones (following)\""""
            in polled.output)
    (alert,) = inbox.messages  # the budget item matches no alerting topic
    text = alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "== following: UK and Ukraine sign interceptor drone partnership ==" in text
    assert "Defence budget" not in text

    assert "followed: its new items are alerted (tracker unfollow 1)" in cli("story", "1").output
    assert cli("stories").output.startswith(
        "#1 UK and Ukraine sign interceptor drone partnership (followed)\n")
    assert json.loads(cli("stories", "--json").output)[0]["followed"] is True
    assert json.loads(cli("story", "1", "--json").output)["followed"] is True
    assert "  storyline 1 (followed): tracker related 2" in cli("show", "2").output
    listed = json.loads(cli("following", "--json").output)
    assert [(row["id"], row["size"], row["new_since_followed"], row["latest"]["title"])
            for row in listed] == [(1, 2, 1, PRODUCTION[0])]
    assert "1 new since followed" in cli("following").output
    brief = cli("following", "--markdown").output.splitlines()
    assert brief[:3] == ["## Followed storylines", "",
                         "### UK and Ukraine sign interceptor drone partnership"]
    assert brief[4].startswith(f"2 items, {PARTNERSHIP[2].date().isoformat()} to ")
    assert brief[4].endswith(" 1 new since followed on "
                             f"{datetime.now(UTC).date().isoformat()}. Followed: next: production.")
    assert brief[5].startswith("Latest: **") and brief[5].endswith(
        "[UK to mass-produce Ukraine's interceptor drones](<https://e.org/1>)")

    digest = cli("digest", "--preview", "--html", str(tmp_path / "d.html")).output
    sections = [line for line in digest.splitlines() if line.startswith("== ")]
    assert sections == ["== following: UK and Ukraine sign interceptor drone partnership ==",
                        "== budgets =="]
    # The partnership itself was never in a digest: it leads with its next step.
    assert "3 new items: following 2, budgets 1" in digest

    assert cli("unfollow", "1").output == "no longer following storyline 1\n"
    assert cli("following").output.startswith("no storyline followed")
    assert cli("following", "--markdown").output == (
        "## Followed storylines\n\nNo storyline followed.\n")
    assert "not followed (tracker follow 1 alerts its next step)" in cli("story", "1").output
    assert "tracker story 1, tracker follow 1" in cli("show", "2").output
    digest = cli("digest", "--preview", "--html", str(tmp_path / "d.html")).output
    assert "== following" not in digest and "interceptor" not in digest


def test_following_what_is_not_there_says_what_to_do(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    _, port = smtp
    cli = tracker_on(tmp_path, feed_server, port, BUDGET)
    missing = cli("follow", "7")
    assert missing.exit_code == 1
    assert "no storyline 7 (tracker stories lists those that moved" in missing.output
    assert "no item 9 (ids are in search" in cli("follow", "--item", "9").output
    both = cli("follow", "1", "--item", "1")
    assert both.exit_code == 2 and "give a storyline (tracker follow 1528) or an item" in \
        both.output
    assert "storyline 1 is not followed" in cli("unfollow", "1").output


def test_the_followed_storylines_are_a_feed_beside_the_topic_feeds(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    _, port = smtp
    url = feed_server.add("/feed", Document(rss(PARTNERSHIP)))
    cli = make_cli(tmp_path, url, port)
    with cli.config.open("a", encoding="utf-8") as config:
        config.write('\n[topic_feeds]\nfolder = "feeds"\n')
    cli("poll", "--all")
    following = tmp_path / "feeds" / "tracker-following.atom"
    assert not following.exists()  # nothing followed: no file
    followed = cli("follow", "1").output
    assert "topic feeds rewritten: tracker-following.atom" in followed
    feed_server.add("/feed", Document(rss(PARTNERSHIP, PRODUCTION, BUDGET)))
    cli("poll", "--all")
    text = following.read_text(encoding="utf-8")
    assert "<title>tracker: followed storylines</title>" in text
    assert text.count("<entry>") == 2
    assert f"<title>{PRODUCTION[0]}</title>" in text
    assert BUDGET[0] not in text
    cli("unfollow", "1")
    assert "<entry>" not in following.read_text(encoding="utf-8")  # emptied, not left stale


def test_a_digest_by_storyline_reads_the_threads_from_the_archive(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    _, port = smtp
    url = feed_server.add("/feed", Document(rss(PARTNERSHIP, PRODUCTION, BUDGET)))
    cli = make_cli(tmp_path, url, port)
    config = cli.config.read_text(encoding="utf-8").replace(
        "[digest]\n", '[digest]\ngroup = "storyline"\ninclude = "all"\n')
    cli.config.write_text(config, encoding="utf-8")
    cli("poll", "--all")
    digest = cli("digest", "--preview", "--html", str(tmp_path / "d.html")).output
    assert digest.startswith("Subject: Defence policy digest, ")
    assert ": 3 new in 2 storylines" in digest.splitlines()[0]
    assert [line for line in digest.splitlines() if line.startswith("== ")] == [
        "== UK and Ukraine sign interceptor drone partnership (2 new items, 2 in all) ==",
        "== single reports =="]
    assert "include: all; by storyline; at most 60 items" in cli("digest", "--check").output


def test_a_muted_storyline_stays_in_the_archive_and_out_of_digests_and_alerts(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp
    cli = tracker_on(tmp_path, feed_server, port, PARTNERSHIP)
    assert cli("topics", "add", "drones", "interceptor*", "--alert").exit_code == 0
    muted = cli("mute", "--item", "1", "--note", "not our programme")
    assert muted.output == ("muted storyline 1: UK and Ukraine sign interceptor drone "
                            "partnership (1 item): not our programme\n")
    feed_server.add("/feed", Document(rss(PARTNERSHIP, PRODUCTION, BUDGET)))
    polled = cli("poll", "--all")
    assert "alert" not in polled.output and inbox.messages == []  # its next step is muted
    assert sorted(hit["title"] for hit in json.loads(cli("search", "interceptor", "--json")
                                                     .output)) == sorted(
        [PRODUCTION[0], PARTNERSHIP[0]])  # still in the archive and in search

    def sections() -> list[str]:
        digest = cli("digest", "--preview", "--html", str(tmp_path / "d.html")).output
        return [line for line in digest.splitlines() if line.startswith("== ")]

    assert sections() == ["== budgets =="]
    assert [row["id"] for row in json.loads(cli("muted", "--json").output)] == [1]
    assert "muted: its new items stay out of digests and alerts (tracker unmute 1)" in \
        cli("story", "1").output
    assert cli("stories").output.startswith(f"#1 {PARTNERSHIP[0]} (muted)\n")
    assert "storyline 1 (muted)" in cli("show", "2").output

    assert cli("unmute", "1").output == "storyline 1 is no longer muted\n"
    assert sections() == ["== budgets ==", "== drones =="]  # the newest item first
    assert "storyline 1 is not muted" in cli("unmute", "1").output
    cli("mute", "1")
    cli("follow", "1")  # following a muted storyline unmutes it, and the other way round
    assert json.loads(cli("muted", "--json").output) == []
    cli("mute", "1")
    assert json.loads(cli("following", "--json").output) == []


def test_following_a_fresh_story_alerts_its_next_step_not_what_was_there(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    """Found running the daemon by hand: following a story that arrived an hour
    ago alerted that story itself at the next poll."""
    inbox, port = smtp
    fresh = (PARTNERSHIP[0], PARTNERSHIP[1], NOW - timedelta(hours=3))
    cli = tracker_on(tmp_path, feed_server, port, fresh)
    cli("follow", "--item", "1")
    assert "alert" not in cli("poll", "--all").output and inbox.messages == []
    feed_server.add("/feed", Document(rss(fresh, PRODUCTION)))
    assert "alert: sent" in cli("poll", "--all").output
    (alert,) = inbox.messages
    text = alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert PRODUCTION[0] in text and "* " + PARTNERSHIP[0] not in text


def test_a_named_digest_with_following_carries_the_followed_storylines(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    """[digests.NAME] following = true: the desk's digest carries the followed
    storylines first, as the main one does, and with alerts = true the desk is
    alerted of their next steps; a desk without it keeps to its topics."""
    inbox, port = smtp
    cli = tracker_on(tmp_path, feed_server, port, PARTNERSHIP)
    cli.config.write_text(cli.config.read_text() + "\n".join([
        "", "[digests.drones_desk]", 'to = ["drones@example.org"]', 'topics = ["budgets"]',
        "following = true", "alerts = true",
        "[digests.money_desk]", 'to = ["money@example.org"]', 'topics = ["budgets"]',
        "alerts = true", ""]))
    checked = {line.split(":")[0]: line for line in cli("digest", "--check").output.splitlines()}
    assert "; with the followed storylines" in checked["digest drones_desk"]
    assert "followed" not in checked["digest money_desk"]
    cli("follow", "--item", "1")
    feed_server.add("/feed", Document(rss(PARTNERSHIP, PRODUCTION, BUDGET)))
    polled = cli("poll", "--all")
    assert polled.exit_code == 0, polled.output
    alerted = {message["To"]: message["Subject"] for message in inbox.messages}
    assert alerted == {
        "analyst@example.org": "Alert: UK to mass-produce Ukraine's interceptor drones (following)",
        "drones@example.org": "Alert (drones desk): UK to mass-produce Ukraine's interceptor "
                              "drones (following)"}  # money_desk: no alerting topic, no follows
    for name, carries in (("drones_desk", True), ("money_desk", False)):
        digest = cli("digest", name, "--preview", "--html", str(tmp_path / "d.html")).output
        assert ("== following: UK and Ukraine sign interceptor drone partnership ==" in digest) \
            is carries, name
        assert "Defence budget rises" in digest
