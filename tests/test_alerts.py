"""Alerts: a topic with `alert = true` has its new matches emailed after the
poll that stored them, through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tests.test_digest import Inbox, smtp  # noqa: F401 (the fixture)
from tests.test_service import CountingParser, poll
from tracker.config import load_config, parse_config
from tracker.daemon import Daemon
from tracker.errors import ConfigError
from tracker.store import Store

T0 = datetime.now(UTC) - timedelta(hours=3)


def rss(titles: list[str]) -> bytes:
    """Newest first, as feeds are; each item keeps its link and date as more arrive."""
    items = "".join(f"<item><title>{title}</title><link>https://e.org/{n}</link>"
                    f"<description>{title}.</description>"
                    f"<pubDate>{format_datetime(T0 + timedelta(minutes=n))}</pubDate></item>"
                    for n, title in reversed(list(enumerate(reversed(titles)))))
    return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


class Setup:
    def __init__(self, tmp_path: Path, server: FeedServer, port: int | None) -> None:
        self.server = server
        self.titles = ["NATO invokes Article 4 after drone incursion",
                       "Defence budget rises to 2.5 per cent"]
        self.feed = server.add("/feed", Document(rss(self.titles)))
        self.tmp_path = tmp_path
        self.port = port
        self.cli = Cli(self.write(alert=True), tmp_path / "tracker.db")

    def write(self, alert: bool) -> Path:
        lines = ["[digest]", 'to = ["analyst@example.org"]', 'from = "tracker@example.org"']
        if self.port is not None:
            lines += ["[digest.smtp]", 'host = "127.0.0.1"', f"port = {self.port}",
                      'security = "none"', "timeout = 5"]
        lines += ["[topics.nato]", "query = 'NATO'", f"alert = {json.dumps(alert)}",
                  "[topics.budgets]", "query = 'budget'"]
        return write_config(self.tmp_path / "tracker.toml",
                            [{"name": "NATO news", "url": self.feed, "interval": "1s"}],
                            extra="\n".join(lines))

    def publish(self, *titles: str) -> None:
        self.titles = [*titles, *self.titles]
        self.server.add("/feed", Document(rss(self.titles)))


@pytest.fixture
def alerting(tmp_path: Path, feed_server: FeedServer,
             smtp: tuple[Inbox, int]) -> Iterator[tuple[Setup, Inbox]]:  # noqa: F811
    inbox, port = smtp
    yield Setup(tmp_path, feed_server, port), inbox


def test_an_alerting_topics_new_matches_are_emailed_after_the_poll(
        alerting: tuple[Setup, Inbox]) -> None:
    setup, inbox = alerting
    result = setup.cli("poll", "--all")
    assert result.exit_code == 0, result.output
    assert "alert: sent 'Alert: NATO invokes Article 4 after drone incursion (nato)' (1 item) " \
        "via SMTP server" in result.output
    (message,) = inbox.messages
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "NATO invokes Article 4" in text and "Defence budget" not in text  # not alerting
    assert setup.cli("poll", "--all").exit_code == 0
    assert len(inbox.messages) == 1  # nothing new: nothing sent

    setup.publish("NATO jets scrambled over the Baltic", "NATO to meet on Friday")
    result = setup.cli("poll", "--all")
    assert "alert: sent 'Alert, " in result.output and "2 new in 1 topic" in result.output
    text = inbox.messages[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "NATO jets scrambled" in text and "NATO to meet" in text
    assert "Article 4" not in text  # alerted already

    assert "alerts: after each poll, the new matches of nato" in \
        setup.cli("digest", "--check").output
    digest = setup.cli("digest", "--preview", "--html", str(setup.tmp_path / "d.html"))
    assert "NATO invokes Article 4" in digest.output  # the digest still carries them all
    assert "Defence budget rises" in digest.output


def test_a_named_digest_with_alerts_gets_its_own_alerting_topics_alerts(
        alerting: tuple[Setup, Inbox]) -> None:
    """[digests.NAME] alerts = true: the desk is alerted of the alerting topics
    among its own, by its own delivery, bookkept apart from the main alert."""
    setup, inbox = alerting
    config = setup.cli.config
    config.write_text(config.read_text() + '\n[digests.nato_desk]\nto = ["desk@example.org"]\n'
                      'topics = ["nato"]\nalerts = true\n[digests.budget_desk]\n'
                      'to = ["money@example.org"]\ntopics = ["budgets"]\nalerts = true\n')
    polled = setup.cli("poll", "--all").output
    assert "alert: sent 'Alert: NATO invokes Article 4" in polled
    assert "alert nato_desk: sent 'Alert (nato desk): NATO invokes Article 4" in polled
    assert "budget_desk" not in polled  # budgets does not alert: nothing for that desk
    assert sorted(tuple(envelope.rcpt_tos) for envelope in inbox.envelopes) == [
        ("analyst@example.org",), ("desk@example.org",)]
    with sqlite3.connect(setup.cli.db) as conn:
        assert sorted(conn.execute("SELECT kind, name, status FROM digest_history")) == [
            ("alert", "", "delivered"), ("alert", "nato_desk", "delivered")]
    assert setup.cli("poll", "--all").output.count("alert") == 0  # each carried it once
    checked = setup.cli("digest", "--check").output
    assert "to desk@example.org; alerts of nato" in checked
    assert "to money@example.org; alerts = true, but none of its topics alerts" in checked


def test_an_alert_the_server_refused_is_sent_with_the_next_poll(
        alerting: tuple[Setup, Inbox]) -> None:
    setup, inbox = alerting
    inbox.fail_data_with = "451 4.3.0 try again later"
    result = setup.cli("poll", "--all")
    assert result.exit_code == 0
    assert "alert not delivered (it stays pending and the next poll resends it)" in result.output
    assert "451" in result.output
    report = json.loads(setup.cli("status", "--json").output)
    assert "alert" in report["needs_attention"]
    assert report["undelivered"][0]["problem"].startswith("the alert of ")
    inbox.fail_data_with = None
    setup.publish("NATO jets scrambled over the Baltic")
    assert "alert: sent" in setup.cli("poll", "--all").output
    (message,) = inbox.messages
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "NATO invokes Article 4" in text and "NATO jets scrambled" in text
    with sqlite3.connect(setup.cli.db) as conn:
        rows = conn.execute("SELECT kind, status, attempts FROM digest_history").fetchall()
    assert rows == [("alert", "delivered", 2)]  # one alert, its Message-ID kept
    assert json.loads(setup.cli("status", "--json").output)["undelivered"] == []


def test_alerts_at_most_every_holds_what_is_new_until_the_wait_is_over(
        alerting: tuple[Setup, Inbox]) -> None:
    """A busy topic on a daemon that polls every minute must not mean an email
    every minute: with [alerts] at_most_every, new matches wait (all of them)
    for the first poll after the wait."""
    setup, inbox = alerting
    config = setup.cli.config
    config.write_text(config.read_text() + '\n[alerts]\nat_most_every = "1h"\n')
    assert "alert: sent" in setup.cli("poll", "--all").output
    setup.publish("NATO jets scrambled over the Baltic")
    held = setup.cli("poll", "--all").output
    assert re.search(r"alert: 1 new item held until \d\d:\d\d UTC \(\[alerts\] "
                     r"at_most_every\)", held)
    setup.publish("NATO to meet on Friday")
    assert "held until" in setup.cli("poll", "--all").output
    assert len(inbox.messages) == 1
    with sqlite3.connect(setup.cli.db) as conn:  # the hour is over
        conn.execute("UPDATE digests SET delivered_at = ?",
                     ((datetime.now(UTC) - timedelta(minutes=61)).isoformat(),))
    assert "alert: sent 'Alert, " in setup.cli("poll", "--all").output
    text = inbox.messages[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "NATO jets scrambled" in text and "NATO to meet" in text
    assert "alerts: after each poll (at most every 1h), the new matches of nato" in \
        setup.cli("digest", "--check").output


def test_quiet_hours_hold_alerts_until_they_end(alerting: tuple[Setup, Inbox]) -> None:
    """[alerts] quiet_hours: nothing is sent during them; the first poll after
    sends what came in, in one message."""
    setup, inbox = alerting
    config = setup.cli.config
    plain = config.read_text()
    now = datetime.now(UTC)
    around_now = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    config.write_text(plain + f'\n[alerts]\nquiet_hours = "{around_now}"\n')
    held = setup.cli("poll", "--all").output
    assert re.search(r"alert: 1 new item held until \d\d:\d\d UTC \(\[alerts\] "
                     r"quiet_hours\)", held), held
    setup.publish("NATO jets scrambled over the Baltic")
    assert "held until" in setup.cli("poll", "--all").output
    assert inbox.messages == []
    assert f"alerts: after each poll (none {around_now} UTC)" in \
        setup.cli("digest", "--check").output
    later = f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}"
    config.write_text(plain + f'\n[alerts]\nquiet_hours = "{later}"\n')
    assert "alert: sent 'Alert, " in setup.cli("poll", "--all").output
    (message,) = inbox.messages
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "NATO invokes Article 4" in text and "NATO jets scrambled" in text


@pytest.mark.parametrize(("now", "window", "until"), [
    ("2026-11-26T23:10:00+00:00", "22:00-07:00", "2026-11-27T07:00:00+00:00"),  # evening
    ("2026-11-27T06:59:00+00:00", "22:00-07:00", "2026-11-27T07:00:00+00:00"),  # morning
    ("2026-11-27T07:00:00+00:00", "22:00-07:00", None),  # over
    ("2026-11-27T21:59:00+00:00", "22:00-07:00", None),
    ("2026-11-27T12:30:00+00:00", "12:00-13:00", "2026-11-27T13:00:00+00:00"),
    ("2026-11-27T13:30:00+00:00", "12:00-13:00", None),
    # The night the clocks go forward in London: 07:00 BST is 06:00 UTC.
    ("2026-03-28T23:00:00+00:00", "22:00-07:00", "2026-03-29T06:00:00+00:00"),
])
def test_quiet_hours_end_by_the_readers_clock(now: str, window: str, until: str | None) -> None:
    alerts = parse_config(f'timezone = "Europe/London"\n[alerts]\nquiet_hours = "{window}"\n',
                          Path("t.toml")).alerts
    ends = alerts.quiet_until(datetime.fromisoformat(now), "Europe/London")
    assert (ends and ends.astimezone(UTC).isoformat()) == until


@pytest.mark.parametrize("window", ['"22:00"', '"25:00-07:00"', '"22:00-07:60"',
                                    '"07:00-07:00"', '"at night"', "2200"])
def test_quiet_hours_must_be_a_span_of_the_day(window: str) -> None:
    with pytest.raises(ConfigError, match=r"alerts.quiet_hours: .* such as \"22:00-07:00\""):
        parse_config(f"[alerts]\nquiet_hours = {window}\n", Path("t.toml"))


def test_a_topic_set_to_alert_reports_its_new_matches_not_its_past(
        tmp_path: Path, feed_server: FeedServer) -> None:
    setup = Setup(tmp_path, feed_server, port=None)  # no SMTP: .eml files in the outbox
    setup.cli = Cli(setup.write(alert=False), tmp_path / "tracker.db")
    assert setup.cli("poll", "--all").exit_code == 0
    with sqlite3.connect(setup.cli.db) as conn:  # stored two days ago
        conn.execute("UPDATE items SET first_seen = ?",
                     ((datetime.now(UTC) - timedelta(days=2)).isoformat(),))
    setup.write(alert=True)
    result = setup.cli("poll", "--all")
    assert "alert" not in result.output
    setup.publish("NATO jets scrambled over the Baltic")
    assert "alert: sent 'Alert: NATO jets scrambled over the Baltic (nato)'" in \
        setup.cli("poll", "--all").output
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert "Article 4" not in eml.read_text(encoding="utf-8")


def test_the_daemon_alerts_after_its_poll(
        tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture) -> None:
    setup = Setup(tmp_path, feed_server, port=None)
    config = load_config(setup.cli.config)
    daemon = Daemon(setup.cli.db, lambda: config,
                    lambda config, store: None)  # type: ignore[arg-type,return-value]
    daemon.config = config
    daemon.poll_store = Store.open(setup.cli.db)
    try:
        assert setup.cli("poll", "--all").exit_code == 0  # alerted by the CLI's poll
        setup.publish("NATO jets scrambled over the Baltic")
        poll(config, setup.cli.db, CountingParser())  # the service's poll: no alerting
        with caplog.at_level(logging.INFO, logger="tracker.daemon"):
            daemon._alert()
    finally:
        daemon.poll_store.close()
    assert "alert: sent 'Alert: NATO jets scrambled over the Baltic (nato)'" in caplog.text
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_alert_must_be_true_or_false() -> None:
    with pytest.raises(ConfigError, match=r"topics\.nato: alert must be true or false"):
        parse_config("[topics.nato]\nquery = 'NATO'\nalert = 'yes'\n", Path("tracker.toml"))


def test_a_feeds_old_items_stored_as_new_are_not_alerted(
        tmp_path: Path, feed_server: FeedServer) -> None:
    setup = Setup(tmp_path, feed_server, port=None)
    old = "NATO summit agreed spending rise"  # published weeks ago, seen only now
    body = rss(setup.titles).replace(b"<channel><title>F</title>", (
        "<channel><title>F</title><item><title>" + old + "</title><link>https://e.org/old"
        "</link><pubDate>" + format_datetime(T0 - timedelta(days=20)) +
        "</pubDate></item>").encode())
    feed_server.add("/feed", Document(body))
    assert "alert: sent 'Alert: NATO invokes Article 4 after drone incursion (nato)'" in \
        setup.cli("poll", "--all").output
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    assert old not in eml.read_text(encoding="utf-8")
    digest = setup.cli("digest", "--preview", "--html", str(tmp_path / "d.html")).output
    assert old in digest  # the digest has it


class Webhook:
    """A chat service's incoming webhook on 127.0.0.1: keeps what is posted to
    it, or answers with an error status on demand."""

    def __init__(self) -> None:
        self.posts: list[dict[str, object]] = []
        self.fail_with: int | None = None
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.fail_with or 200
                if status == 200:
                    hook.posts.append({"path": self.path, **json.loads(body)})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0K3N"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def test_alerts_go_to_a_chat_webhook_named_by_an_environment_variable(
        tmp_path: Path, feed_server: FeedServer, webhook: Webhook,
        monkeypatch: pytest.MonkeyPatch) -> None:
    setup = Setup(tmp_path, feed_server, port=None)
    config = setup.cli.config
    config.write_text(config.read_text() + '\n[alerts]\nwebhook_env = "TRACKER_ALERT_WEBHOOK"\n')
    result = setup.cli("poll", "--all")
    assert "alert not delivered" in result.output
    assert "environment variable TRACKER_ALERT_WEBHOOK is not set" in result.output

    check = setup.cli("digest", "--check")
    assert check.exit_code == 1 and "TRACKER_ALERT_WEBHOOK is not set" in check.output
    monkeypatch.setenv("TRACKER_ALERT_WEBHOOK", webhook.url)
    check = setup.cli("digest", "--check").output
    assert "alerts go to the webhook in TRACKER_ALERT_WEBHOOK (host 127.0.0.1)" in check
    webhook.fail_with = 500
    result = setup.cli("poll", "--all")
    assert "alerts webhook 127.0.0.1: the server answered 500" in result.output
    assert "T0K3N" not in result.output  # the address is a secret: its host only
    assert json.loads(setup.cli("status", "--json").output)["undelivered"][0]["kind"] == "alert"

    webhook.fail_with = None
    result = setup.cli("poll", "--all")
    assert "alert: sent 'Alert: NATO invokes Article 4 after drone incursion (nato)' (1 item) " \
        "via webhook 127.0.0.1" in result.output
    (post,) = webhook.posts
    assert post["path"] == "/hooks/T0K3N"
    text = str(post["text"])
    assert text.startswith("Alert: NATO invokes Article 4 after drone incursion (nato)\n\n")
    assert "https://e.org/1" in text and "Defence budget" not in text
    assert not (tmp_path / "outbox").exists()  # not emailed as well


def test_webhook_env_must_name_an_environment_variable() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.webhook_env: must name an environment "):
        parse_config('[alerts]\nwebhook_env = "https://hooks.example/x"\n', Path("t.toml"))


def test_a_named_digest_goes_to_a_chat_webhook_cut_to_a_post_at_an_item(
        tmp_path: Path, feed_server: FeedServer, webhook: Webhook,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """[digests.NAME] webhook_env: the digest is posted to a chat channel, showing
    as many items as one post holds (the rest in its "...and N more" line, all
    of them delivered), where an email shows max_items."""
    from tracker.webhook import MAX_TEXT

    summary = "Interceptor drones and air defence for the eastern flank, " * 8
    items = "".join(f"<item><title>NATO drone story {n}</title><link>https://e.org/{n}</link>"
                    f"<description>{summary}</description>"
                    f"<pubDate>{format_datetime(T0 + timedelta(minutes=n))}</pubDate></item>"
                    for n in range(60))
    feed = feed_server.add("/feed", Document(
        f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()))
    config = write_config(tmp_path / "tracker.toml", [{"name": "NATO news", "url": feed}], extra=(
        "[topics.nato]\nquery = 'NATO'\n"
        '[digests.channel]\nwebhook_env = "TRACKER_DIGEST_WEBHOOK"\ntopics = ["nato"]\n'))
    cli = Cli(config, tmp_path / "tracker.db")
    cli("poll", "--all")
    assert "TRACKER_DIGEST_WEBHOOK is not set" in cli("digest", "--check").output
    refused = cli("digest", "channel", "--send")
    assert refused.exit_code == 1
    assert "digest channel webhook: environment variable TRACKER_DIGEST_WEBHOOK is not set" \
        in refused.output
    monkeypatch.setenv("TRACKER_DIGEST_WEBHOOK", webhook.url)
    assert ("digest channel: schedule: 0 7 * * * (UTC); include: topics of nato; at most 60 "
            "items; to the webhook in TRACKER_DIGEST_WEBHOOK (host 127.0.0.1)"
            in cli("digest", "--check").output)
    sent = cli("digest", "channel", "--send")
    assert sent.exit_code == 0, sent.output
    assert "(60 items) via webhook 127.0.0.1" in sent.output
    (post,) = webhook.posts
    text = str(post["text"])
    assert len(text) <= MAX_TEXT
    assert text.startswith("Defence policy digest (channel), ")
    shown = text.count("* NATO drone story")
    assert 10 < shown < 60
    assert f"...and {60 - shown} more: see them with `tracker search --since" in text
    assert not (tmp_path / "outbox").exists()  # not emailed as well
    with sqlite3.connect(cli.db) as conn:  # every item carried, shown or counted
        assert conn.execute("SELECT name, status, items FROM digest_history").fetchall() == [
            ("channel", "delivered", 60)]


def test_a_post_still_too_long_is_cut_at_an_item_and_says_so() -> None:
    from tracker.webhook import fitted

    text = "Digest\n\n" + "".join(f"* Item {n}\n  {'words ' * 30}\n\n" for n in range(100))
    cut = fitted(text, limit=2000)
    assert len(cut) <= 2000
    assert cut.endswith("...cut to fit the chat service: `tracker search` finds every item.")
    body = cut.rsplit("\n\n...cut", 1)[0]
    assert body.endswith("words") and text.startswith(body)  # whole items only
    assert fitted("short", limit=2000) == "short"


def test_at_most_every_is_a_span_of_time() -> None:
    assert parse_config('[alerts]\nat_most_every = "2h"\n',
                        Path("t.toml")).alerts.at_most_every_seconds == 7200
    with pytest.raises(ConfigError, match=r"alerts.at_most_every: "):
        parse_config('[alerts]\nat_most_every = "often"\n', Path("t.toml"))


def test_a_named_digest_is_emailed_or_posted_not_both() -> None:
    with pytest.raises(ConfigError, match=r"digests.x: is sent by email \(to\) or to a chat "):
        parse_config('[digests.x]\nto = ["a@b.example"]\nwebhook_env = "HOOK"\n', Path("t.toml"))
    with pytest.raises(ConfigError, match=r"digests.x.webhook_env: must name an environment "):
        parse_config('[digests.x]\nwebhook_env = "https://hooks.example/x"\n', Path("t.toml"))


def test_a_hostile_headline_cannot_page_a_chat_channel(
        tmp_path: Path, feed_server: FeedServer, webhook: Webhook,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack acts on <!channel>, Google Chat on <users/all>, Mattermost and
    Rocket.Chat on @channel and @here: feed text reaches the post inert."""
    from tracker.webhook import chat_safe

    setup = Setup(tmp_path, feed_server, port=None)
    setup.titles = ["&lt;!channel&gt; NATO jets scrambled @here &lt;users/all&gt;"]
    setup.server.add("/feed", Document(rss(setup.titles)))
    config = setup.cli.config
    config.write_text(config.read_text() + '\n[alerts]\nwebhook_env = "TRACKER_ALERT_WEBHOOK"\n')
    monkeypatch.setenv("TRACKER_ALERT_WEBHOOK", webhook.url)
    assert "alert: sent" in setup.cli("poll", "--all").output
    (post,) = webhook.posts
    text = str(post["text"])
    assert "NATO jets scrambled" in text
    assert "<" not in text and ">" not in text
    assert "@here" not in text and "@\u200bhere" in text
    assert chat_safe("write to press@allied.example, @channelled") == \
        "write to press@allied.example, @channelled"  # only the broadcast words
