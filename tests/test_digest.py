"""The email digest against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker.config import DigestSettings, parse_config
from tracker.digest import FEED_PROBLEMS_SHOWN, build_digest, header_text, sanitise_html
from tracker.errors import ConfigError

HOSTILE_TITLES = [
    "<script>alert('x')</script> NATO drones",
    "Drone deal =?UTF-8?Q?=0A?=Bcc: victim@example.com",
    "Drone strike\r\nBcc: evil@example.com",
    "Drone <img src=x onerror=alert(1)> pixel",
]


class Inbox:
    """An aiosmtpd handler that keeps what it accepts, or fails on demand."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.fail_data_with: str | None = None
        self.drop_connection = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop_connection:  # the connection drops after the data was sent
            assert server.transport is not None
            server.transport.close()
            return "421 closing"
        if self.fail_data_with:
            return self.fail_data_with
        self.envelopes.append(envelope)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def rss(titles: list[str]) -> bytes:
    from xml.sax.saxutils import escape
    items = "".join(
        f"<item><title>{escape(t)}</title><link>https://e.org/{n}</link>"
        f"<description>{escape('Drone story body with <b>bold</b> text, number ' + str(n))}"
        f"</description><pubDate>Mon, 17 Nov 2025 09:{n:02d}:00 GMT</pubDate></item>"
        for n, t in enumerate(titles))
    items += ("<item><title>Evil link drone</title><link>javascript:alert(1)</link>"
              "<description>drone</description></item>")
    return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def make_cli(tmp_path: Path, server: FeedServer, port: int | None, **digest: Any) -> Cli:
    url = server.add("/feed", Document(rss(HOSTILE_TITLES)))
    second = server.add("/second", Document(rss(HOSTILE_TITLES[:1])))
    lines = ["[digest]", 'to = ["analyst@example.org", "desk@example.org"]',
             'from = "tracker@example.org"',
             'list_unsubscribe = "mailto:unsubscribe@example.org"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in digest.items()]
    if port is not None:
        lines += ["[digest.smtp]", 'host = "127.0.0.1"', f"port = {port}", 'security = "none"',
                  "timeout = 5"]
    extra = "\n".join(lines) + "\n[topics.drones]\nquery = 'drone'\n[topics.nato]\nquery = 'NATO'"
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "GOV.UK", "url": url, "kind": "official"},
                           {"name": "Guardian", "url": second}], extra=extra)
    return Cli(config, tmp_path / "tracker.db")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_digest_arrives_once_as_safe_multipart_alternative(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    cli = make_cli(tmp_path, feed_server, port)
    cli("poll")
    result = cli("digest", "--send")
    assert result.exit_code == 0, result.output
    assert "sent 'Defence policy digest" in result.output
    assert f"SMTP server 127.0.0.1:{port} to 2 recipients" in result.output
    (message,) = inbox.messages
    assert inbox.envelopes[0].rcpt_tos == ["analyst@example.org", "desk@example.org"]
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    # Headers: exactly ours, nothing injected by a title.
    assert message.get_all("Bcc") is None
    assert [k for k in message if k.lower() not in {
        "subject", "from", "to", "date", "message-id", "list-unsubscribe", "auto-submitted",
        "mime-version", "content-type", "x-peer", "x-mailfrom", "x-rcptto"}] == []
    # Six items: the javascript: link makes the second feed's copy of "Evil link drone"
    # a story of its own (no link to recognise it by).
    # 6 items, 5 stories: the Guardian's copy of "Evil link drone" (same words, same
    # hour) is the same story as GOV.UK's and only adds "also reported by".
    assert re.fullmatch(r"Defence policy digest, \d{1,2} \w{3}: 5 new in 2 topics",
                        message["Subject"])
    assert message["List-Unsubscribe"] == "<mailto:unsubscribe@example.org>"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html
    assert 'href="https://e.org/0"' in html
    assert "<script>alert('x')</script> NATO drones" in text  # plain text stays as written
    assert "Also reported by: Guardian" in text  # one story, two feeds: one entry
    assert text.count("NATO drones") == 2  # listed under both topics, once each
    # Sent once: a second send finds nothing new.
    again = cli("digest", "--send")
    assert "nothing new" in again.output and len(inbox.messages) == 1


@pytest.mark.parametrize("failure", ["down", "4xx", "dropped"])
def test_smtp_failures_lose_nothing_and_the_retry_keeps_its_message_id(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int], failure: str) -> None:
    inbox, port = smtp
    cli = make_cli(tmp_path, feed_server, free_port() if failure == "down" else port)
    cli("poll")
    if failure == "4xx":
        inbox.fail_data_with = "451 4.3.0 Try again later"
    elif failure == "dropped":
        inbox.drop_connection = True
    result = cli("digest", "--send")
    assert result.exit_code == 1
    assert "digest not delivered" in result.output
    expected = {"down": "connection refused", "4xx": "451",
                "dropped": "closed the connection"}[failure]
    assert expected in result.output
    assert inbox.messages == []
    status = cli("status", "--json")  # mail that does not arrive needs a person
    report = json.loads(status.output)
    assert status.exit_code == 1 and "digest" in report["needs_attention"]
    (undelivered,) = report["undelivered"]
    assert undelivered["kind"] == "digest" and undelivered["attempts"] == 1
    assert expected in undelivered["problem"]
    assert "is not delivered after 1 attempt: " in cli("status").output
    # The server comes back; new items arrived meanwhile; the next send has everything, once.
    inbox.fail_data_with, inbox.drop_connection = None, False
    feed_server.add("/feed", Document(rss([*HOSTILE_TITLES, "Late drone news"])))
    cli = make_cli(tmp_path, feed_server, port)
    feed_server.add("/feed", Document(rss([*HOSTILE_TITLES, "Late drone news"])))
    cli("poll", "--all")
    assert cli("digest", "--send").exit_code == 0
    (message,) = inbox.messages
    assert "Late drone news" in message.get_body(("plain",)).get_content()
    assert "6 new" in message["Subject"]  # 7 items; the Guardian copy folds into GOV.UK's
    import sqlite3
    with sqlite3.connect(cli.db) as conn:
        rows = conn.execute("SELECT status, attempts, message_id FROM digests").fetchall()
    assert rows == [("delivered", 2, message["Message-ID"].strip())]
    report = json.loads(cli("status", "--json").output)
    assert report["undelivered"] == [] and "digest" not in report["needs_attention"]


def test_preview_sends_nothing_and_marks_nothing(tmp_path: Path, feed_server: FeedServer,
                                                 smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    cli = make_cli(tmp_path, feed_server, port, max_items=2)
    cli("poll")
    html = tmp_path / "preview.html"
    result = cli("digest", "--preview", "--html", str(html))
    assert result.exit_code == 0
    assert result.output.startswith("Subject: Defence policy digest")
    assert re.search(r"\.\.\.and 3 more: see them with `tracker search --since \S+ --limit 500 "
                     r"'kind:official OR kind:news'`", result.output)
    assert "…and 3 more" in html.read_text()
    assert inbox.messages == []
    assert cli("digest", "--send").exit_code == 0 and len(inbox.messages) == 1


def test_the_more_command_names_the_day_in_the_configs_timezone(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """Items first seen at 02:00 UTC were seen the evening before in New York,
    and `--since` reads a date there: the digest's search must name that day."""
    cli = make_cli(tmp_path, feed_server, None, max_items=2)
    cli.config.write_text('timezone = "America/New_York"\n' + cli.config.read_text())
    cli("poll")
    seen = (datetime.now(UTC) - timedelta(days=1)).replace(hour=2, minute=0, second=0,
                                                           microsecond=0)
    with sqlite3.connect(tmp_path / "tracker.db") as conn:
        conn.execute("UPDATE items SET first_seen = ?", (seen.isoformat(),))
    output = cli("digest", "--preview", "--html", str(tmp_path / "preview.html")).output
    new_york_day = (seen - timedelta(days=1)).date().isoformat()
    assert f"tracker search --since {new_york_day} --limit 500" in output


def test_without_smtp_digests_go_to_the_outbox(tmp_path: Path, feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server, None)
    cli("poll")
    result = cli("digest", "--send")
    assert result.exit_code == 0 and "outbox" in result.output
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert "outbox" in cli("digest", "--check").output
    assert "include: topics; at most" in cli("digest", "--check").output
    chosen = make_cli(tmp_path, feed_server, None, topics=["nato"])
    assert "include: topics of nato; at most" in chosen("digest", "--check").output


def test_no_digest_when_nothing_is_new_unless_configured(tmp_path: Path, feed_server: FeedServer,
                                                         smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    cli = make_cli(tmp_path, feed_server, port)
    assert "nothing new" in cli("digest", "--send").output
    assert inbox.messages == []
    cli = make_cli(tmp_path, feed_server, port, send_empty=True)
    assert cli("digest", "--send").exit_code == 0
    assert "Nothing new since the last digest" in inbox.messages[0].get_body(
        ("plain",)).get_content()


def test_check_reports_configuration_problems(tmp_path: Path, feed_server: FeedServer,
                                              smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    assert "accepts us" in make_cli(tmp_path, feed_server, port)("digest", "--check").output
    down = make_cli(tmp_path, feed_server, free_port())("digest", "--check")
    assert down.exit_code == 1 and "connection refused" in down.output
    bad = make_cli(tmp_path, feed_server, port, schedule="61 * * * *")("digest", "--check")
    assert bad.exit_code == 1 and "digest.schedule '61 * * * *'" in bad.output


def test_header_text_flattens_injection_attempts() -> None:
    assert header_text("a\r\nBcc: x@y") == "a Bcc: x@y"
    assert "=?" not in header_text("=?UTF-8?Q?=0A?=Bcc: x@y")
    assert header_text("x\x00y") == "x y"


def test_the_sanitiser_behind_autoescaping_keeps_only_the_templates_own_markup() -> None:
    hostile = ('<div style="margin:0"><a href="javascript:alert(1)">x</a>'
               '<a href="https://e.org/?a=1&amp;b=2">ok</a><script>steal()</script>'
               '<img src="https://pixel.example/t.gif"><strong style="color:red" onclick="x()">'
               'Patriot</strong><iframe src="https://e.org"></iframe></div>')
    clean = str(sanitise_html(hostile))
    for forbidden in ("javascript:", "<script", "steal()", "<img", "pixel", "onclick", "<iframe"):
        assert forbidden not in clean, forbidden
    assert '<a href="https://e.org/?a=1&amp;b=2">ok</a>' in clean
    assert '<strong style="color:red">Patriot</strong>' in clean


def _polled_preview(tmp_path: Path, feeds: list[dict[str, str]]) -> tuple[str, str]:
    """One poll of `feeds`, then the digest preview's plain-text and HTML parts."""
    config = write_config(tmp_path / "tracker.toml", feeds, extra="[digest]\nsend_empty = true")
    cli = Cli(config, tmp_path / "tracker.db")
    cli("poll")
    html_file = tmp_path / "preview.html"
    text = cli("digest", "--preview", "--html", str(html_file)).output
    return text, html_file.read_text(encoding="utf-8")


def test_feeds_failing_or_gone_quiet_are_named_in_both_parts(
        tmp_path: Path, feed_server: FeedServer) -> None:
    dated = "".join(f"<item><title>Drone {n}</title><link>https://e.org/{n}</link>"
                    f"<pubDate>Mon, 17 Nov 2025 0{n}:00:00 GMT</pubDate></item>" for n in range(6))
    old = feed_server.add("/old", Document(
        f'<rss version="2.0"><channel><title>F</title>{dated}</channel></rss>'.encode()))
    down = feed_server.add("/down", Document(b"<h1>oops</h1>", status=500))
    for part in _polled_preview(tmp_path, [{"name": "GOV.UK", "url": old},
                                           {"name": "Guardian", "url": down}]):
        assert "Feeds failing or gone quiet" in part
        assert "Guardian: the server answered HTTP 500 Internal Server Error" in part
        # An item an hour, then nothing since 17 Nov 2025: far past its rhythm.
        assert "GOV.UK: quiet since 2025-11-17 (an item every 1h before)" in part


def test_many_failing_feeds_are_summed_up_after_the_first_few(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """A network change that breaks every feed should not bury the news under
    a list of hundreds: the first few are named, the rest counted."""
    feeds = [{"name": f"Feed {n:02}", "url": feed_server.add(
        f"/down{n}", Document(b"<h1>oops</h1>", status=500))}
        for n in range(FEED_PROBLEMS_SHOWN + 3)]
    for part in _polled_preview(tmp_path, feeds):
        named = re.findall(r"Feed \d\d: the server answered HTTP 500", part)
        assert len(named) == FEED_PROBLEMS_SHOWN, part
        assert "and 3 more" in part and "tracker status" in part


def _items(now: datetime, published: list[str]) -> list[dict[str, Any]]:
    return [{"id": n, "title": f"Drone {n}", "url": f"https://e.org/{n}", "summary": "",
             "published": date, "first_seen": now.isoformat(), "feed": "GOV.UK",
             "kind": "official", "seen_in": [{"name": "GOV.UK", "kind": "official"}],
             "topics": [], "content_hash": "h"}
            for n, date in enumerate(published)]


def test_an_item_from_another_year_shows_its_year() -> None:
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    items = _items(now, ["2026-11-24T09:30:00+00:00", "2022-07-12T07:58:00+00:00"])
    content = build_digest(items, [], now, DigestSettings(include="all"), "UTC")
    assert content is not None
    assert "24 Nov 09:30 UTC" in content.text and "24 Nov 2026" not in content.text
    assert "12 Jul 2022 07:58 UTC" in content.text


@pytest.mark.parametrize(("published", "count"), [(["2026-11-24T09:30:00+00:00"], "1 new item"),
                                                 (["2026-11-24T09:30:00+00:00",
                                                   "2026-11-23T09:30:00+00:00"], "2 new items")])
def test_both_parts_count_the_items_in_english(published: list[str], count: str) -> None:
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    content = build_digest(_items(now, published), [], now, DigestSettings(include="all"), "UTC")
    assert content is not None
    for part in (content.text, content.html):
        assert re.search(rf"\b{count}\b", part), part


def test_an_item_of_two_topics_is_shown_in_full_once() -> None:
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    items = _items(now, ["2026-11-24T09:30:00+00:00", "2026-11-23T09:30:00+00:00"])
    items[0].update(summary="Iran is preparing to send drones to Russia.",
                    topics=[{"name": "drones", "terms": ["drones"]},
                            {"name": "ukraine", "terms": ["russia"]}])
    items[1]["topics"] = [{"name": "ukraine", "terms": ["drone"]}]
    content = build_digest(items, [], now, DigestSettings(include="all"), "UTC")
    assert content is not None
    # Both sections list it (and count it), one shows it.
    assert "ukraine 2, drones 1" in content.text
    assert content.text.count("Drone 0") == 2
    assert content.text.count("Iran is preparing") == 1
    assert content.text.count("https://e.org/0") == 1
    ukraine = content.text[content.text.index("== ukraine =="):]
    assert "* Drone 0 (under drones, above)" in ukraine and "Drone 1\n  GOV.UK" in ukraine
    assert content.html.count("Iran is preparing") == 1
    assert "(under drones, above)" in content.html


@pytest.mark.parametrize(("topics", "following", "subject"), [
    ([["drones"], ["drones", "ukraine"], []], [None, None, None],
     "3 new in 2 topics, 1 matching no topic"),
    ([["drones"], [], []], [None, "Drone deal", "Drone deal"],
     "3 new in 1 topic and 1 followed storyline"),
    ([[], []], ["Drone deal", "Patriot"], "2 new in 2 followed storylines"),
    ([[], []], [None, None], "2 new, none matching a topic"),
])
def test_the_subject_counts_topics_apart_from_followed_storylines_and_the_rest(
        topics: list[list[str]], following: list[str | None], subject: str) -> None:
    """A followed storyline's section and the items no topic matched are not
    topics: "3 new in 2 topics" must not count them among the topics."""
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    items = _items(now, [f"2026-11-2{day}T09:30:00+00:00" for day in range(len(topics))])
    for item, names, followed in zip(items, topics, following, strict=True):
        item.update(topics=[{"name": name, "terms": []} for name in names], following=followed)
    content = build_digest(items, [], now, DigestSettings(include="all"), "UTC")
    assert content is not None
    assert content.subject.endswith(f": {subject}"), content.subject


def test_a_digest_by_storyline_leads_with_the_threads_that_moved_most() -> None:
    """group = "storyline": a week's threads, each under how it began and how
    far it moved, the followed first, single reports last."""
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    items = _items(now, [f"2026-11-2{day}T09:30:00+00:00" for day in (4, 4, 3, 3, 2, 1)])
    threads = [(7, "Patriot for Poland", 5, None), (9, "Drone deal", 3, None),
               (9, "Drone deal", 3, None), (7, "Patriot for Poland", 5, None),
               (4, "Interceptor partnership", 2, "Interceptor partnership"),
               (None, None, None, None)]
    for item, (storyline, began, size, following) in zip(items, threads, strict=True):
        item.update(storyline_id=storyline, storyline_title=began, storyline_size=size,
                    following=following)
    content = build_digest(items, [], now, DigestSettings(include="all", group="storyline"),
                           "UTC")
    assert content is not None
    assert content.subject.endswith(": 6 new in 4 storylines")
    headings = [line for line in content.text.splitlines() if line.startswith("== ")]
    # Ties (2 new each) keep the newest first.
    assert headings == ["== following: Interceptor partnership (1 new item, 2 in all) ==",
                        "== Patriot for Poland (2 new items, 5 in all) ==",
                        "== Drone deal (2 new items, 3 in all) ==",
                        "== single reports =="]
    assert content.text.count("* Drone ") == 6  # each item once, in full
    assert "(under " not in content.text
    assert "Patriot for Poland (2 new items, 5 in all)" in content.html


def test_a_digest_of_chosen_topics_leaves_the_others_out() -> None:
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    items = _items(now, ["2026-11-24T09:30:00+00:00", "2026-11-23T09:30:00+00:00"])
    items[0]["topics"] = [{"name": "drones", "terms": ["drone"]},
                          {"name": "ukraine", "terms": ["ukraine"]}]
    items[1]["topics"] = [{"name": "ukraine", "terms": ["ukraine"]}]
    content = build_digest(items, [], now, DigestSettings(topics=("drones",)), "UTC")
    assert content is not None
    assert "1 new item: drones 1" in content.text and "ukraine" not in content.text
    assert content.items == [(0, "h")]  # the other stays undelivered for a digest that wants it
    assert build_digest(items[1:], [], now, DigestSettings(topics=("drones",)), "UTC") is None


def test_digest_topics_must_be_configured_topics() -> None:
    with pytest.raises(ConfigError, match=r"digest.topics: 'dron' is not a configured topic "
                                          r"\(configured: drones\)"):
        parse_config("[topics.drones]\nquery = 'drone'\n[digest]\ntopics = ['dron']\n",
                     Path("tracker.toml"))
    config = parse_config("[topics.drones]\nquery = 'drone'\n[digest]\ntopics = ['drones']\n",
                          Path("tracker.toml"))
    assert config.digest.topics == ("drones",)


def test_named_digests_take_delivery_from_the_main_one_and_are_checked() -> None:
    base = ("[topics.drones]\nquery = 'drone'\n[digest]\nfrom = 'tracker@mod.example'\n"
            "max_items = 20\nschedule = '0 6 * * *'\ninclude = 'all'\nlookback = '2d'\n")
    config = parse_config(base + "[digests.desk]\nto = 'desk@mod.example'\n",
                          Path("tracker.toml"))
    (desk,) = config.digests
    assert desk.name == "desk" and desk.settings.to == ("desk@mod.example",)
    # Delivery and limits from [digest]; what it reports is its own (every topic's
    # matches unless it says, not every item as the main digest here).
    assert (desk.settings.sender, desk.settings.max_items, desk.settings.schedule,
            desk.settings.lookback_seconds) == ("tracker@mod.example", 20, "0 6 * * *", 172800)
    assert (desk.settings.include, desk.settings.topics) == ("topics", None)

    def refused(table: str) -> str:
        with pytest.raises(ConfigError) as info:
            parse_config(base + table, Path("tracker.toml"))
        return str(info.value)

    assert "digests.desk: needs its readers: to = [\"reader@example.org\"]" in refused(
        "[digests.desk]\ntopics = ['drones']\n")
    assert "digests.desk.topics: 'dron' is not a configured topic" in refused(
        "[digests.desk]\nto = ['a@b.example']\ntopics = ['dron']\n")
    assert "digests.desk: unknown key 'smtp'" in refused(
        "[digests.desk]\nto = ['a@b.example']\n[digests.desk.smtp]\nhost = 'x'\n")
    assert "digests.desk.alerts: must be true or false" in refused(
        "[digests.desk]\nto = ['a@b.example']\nalerts = 'yes'\n")
    assert "digests.desk.schedule: '7am' is not a cron expression" in refused(
        "[digests.desk]\nto = ['a@b.example']\nschedule = '7am'\n")
    assert "tracker.toml, line 11: digests.desk.max_items" in refused(
        "[digests.desk]\nto = ['a@b.example']\nmax_items = 0\n")


def test_a_preview_whose_html_cannot_be_written_says_where_and_what_to_do(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server, None)
    cli("poll")
    result = cli("digest", "--preview", "--html", str(tmp_path / "missing" / "d.html"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'missing' / 'd.html'}: cannot write the HTML part" in result.output
    assert "pass --html FILE in a folder you may write" in result.output


def test_a_named_digest_goes_to_its_readers_with_its_topics_kept_apart(
        tmp_path: Path, feed_server: FeedServer, smtp: tuple[Inbox, int]) -> None:
    """[digests.NAME]: another set of readers gets the matches of their topics,
    bookkept on its own: the main digest still carries those items, and each
    digest carries each item once."""
    inbox, port = smtp
    cli = make_cli(tmp_path, feed_server, port)
    with cli.config.open("a", encoding="utf-8") as config:
        config.write('\n[digests.nato_desk]\nto = ["nato-desk@example.org"]\n'
                     'topics = ["nato"]\nschedule = "0 8 * * 1-5"\n')
    cli("poll")
    sent = cli("digest", "nato_desk", "--send")
    assert sent.exit_code == 0, sent.output
    assert "sent 'Defence policy digest (nato desk)" in sent.output
    (desk,) = inbox.messages
    assert inbox.envelopes[0].rcpt_tos == ["nato-desk@example.org"]
    assert re.fullmatch(r"Defence policy digest \(nato desk\), \d{1,2} \w{3}: 1 new in 1 topic",
                        desk["Subject"])
    assert desk["From"] == "tracker@example.org"  # delivered as [digest] is
    assert "NATO drones" in desk.get_body(("plain",)).get_content()
    assert cli("digest", "nato_desk", "--send").output.strip() == (
        "nothing new since the last digest nato_desk; none sent")
    main = cli("digest", "--send")
    assert main.exit_code == 0 and len(inbox.messages) == 2
    assert inbox.envelopes[1].rcpt_tos == ["analyst@example.org", "desk@example.org"]
    assert "5 new in 2 topics" in inbox.messages[1]["Subject"]  # the NATO item too
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("SELECT kind, name, status FROM digest_history ORDER BY id"
                            ).fetchall() == [("digest", "nato_desk", "delivered"),
                                             ("digest", "", "delivered")]
    status = " ".join(cli("status").output.split())
    assert re.search(r"Last delivered: digest \d+s ago, digest nato_desk \d+s ago \(subjects in "
                     r"--json\)\.", status)
    delivered = json.loads(cli("status", "--json").output)["delivered"]
    assert [(row["label"], row["items"]) for row in delivered] == [("digest", 6),
                                                                   ("digest nato_desk", 1)]
    assert delivered[1]["subject"] == desk["Subject"]
    checked = cli("digest", "--check").output
    assert ("digest nato_desk: schedule: 0 8 * * 1-5 (UTC); include: topics of nato; at most "
            "60 items; to nato-desk@example.org") in checked
    unknown = cli("digest", "nato", "--preview")
    assert unknown.exit_code == 2
    assert "no digest 'nato' in the config: [digests.nato] is not there (named digests: " \
        "nato_desk)" in unknown.output


def test_a_named_digest_not_delivered_is_named_by_status(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = make_cli(tmp_path, feed_server, free_port())  # nobody listens there
    with cli.config.open("a", encoding="utf-8") as config:
        config.write('\n[digests.nato_desk]\nto = ["nato-desk@example.org"]\ntopics = ["nato"]\n')
    cli("poll")
    refused = cli("digest", "nato_desk", "--send")
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: digest nato_desk not delivered:")
    status = cli("status")
    assert status.exit_code == 1
    text = " ".join(status.output.split())
    assert "the digest nato_desk of " in text and "Needs attention: digest nato_desk" in text
    report = json.loads(cli("status", "--json").output)
    assert [(row["kind"], row["name"]) for row in report["undelivered"]] == [
        ("digest", "nato_desk")]
