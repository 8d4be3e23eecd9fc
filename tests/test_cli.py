"""The CLI end to end against a local feed server."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
from datetime import UTC, datetime, timedelta

import click
import pytest
from click.testing import CliRunner

from bench.daemon_memory import LINKING
from tests.conftest import REPO, Cli, write_config
from tests.feedserver import Document, FeedServer
from tests.test_fetch import drip
from tracker.cli import main
from tracker.dblock import DatabaseLock
from tracker.service import PollSummary
from tracker.store import Store


def rss(*titles: str, base: str = "https://example.org/") -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>{base}{n}</link>"
        f"<pubDate>Mon, 17 Nov 2025 09:{n:02d}:00 GMT</pubDate>"
        f"<description>About {t}</description></item>"
        for n, t in enumerate(titles)
    )
    return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def all_commands() -> list[str]:
    names = []
    for name, command in main.commands.items():
        names.append(name)
        if isinstance(command, click.Group):
            names.extend(f"{name} {sub}" for sub in command.commands)
    return names


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in all_commands():
        result = CliRunner().invoke(main, [*name.split(), "--help"])
        assert result.exit_code == 0, name
        summary = result.output.split("\n\n")[1].strip()
        assert len(summary) > 20, f"{name} needs real --help text"
        assert f"tracker {name}" in readme, f"README does not document `tracker {name}`"


def test_poll_summary_status_and_export(feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    good = feed_server.add("/good", Document(rss("UK drone deal", "NATO air policing")))
    bad = feed_server.add("/bad", Document(b"<html>no feed</html>", content_type="text/html"))
    cli = cli_factory([{"name": "Good", "url": good, "kind": "official"},
                       {"name": "Bad", "url": bad}])
    result = cli("poll")
    assert result.exit_code == 0
    assert result.output.startswith("polled 2 feeds: 1 ok (0 unchanged), 1 failed; 2 new items")
    linking = LINKING.search(result.output.splitlines()[0])  # what the benchmarks read
    assert linking is not None and linking.group(1) == "2"
    assert "failed: Bad: not a feed" in result.output

    again = cli("poll")
    assert again.output.startswith("polled 0 feeds")  # nothing due yet
    assert "linking" not in again.output  # nothing new, nothing to link

    status = cli("status", "--json")
    assert status.exit_code == 0
    report = json.loads(status.output)
    good_status, bad_status = report["feeds"]
    assert good_status["item_count"] == 2 and good_status["kind"] == "official"
    assert good_status["last_status"] == 200 and good_status["bytes"] > 100
    assert bad_status["consecutive_failures"] == 1 and "not a feed" in bad_status["last_error"]
    # Two unrelated headlines: two storylines, both linked by the poll.
    database_bytes = report["totals"].pop("database_bytes")
    assert report["totals"] == {"feeds": 2, "failing": 1, "items": 2, "storylines": 2,
                                "waiting_to_link": 0, "never_polled": 0}
    on_disk = [cli.db, cli.db.with_name("tracker.db-wal")]
    assert database_bytes == sum(path.stat().st_size for path in on_disk if path.exists()) > 0
    assert re.search(r"2 items in 2 storylines; database [0-9.]+ MB\.", cli("status").output)

    table = cli("status")
    lines = table.output.splitlines()
    assert all(len(line) <= 80 for line in lines), table.output
    assert any(line.startswith("Good") and "official" in line for line in lines)
    assert "not a feed" in table.output

    exported = [json.loads(line) for line in cli("export", "--format", "jsonl").output.splitlines()]
    assert [e["title"] for e in exported] == ["UK drone deal", "NATO air policing"]
    first = exported[0]
    assert set(first) >= {"id", "feed", "url", "title", "published", "summary"}
    assert first["feed"] == "Good" and first["url"] == "https://example.org/0"
    assert first["published"] == "2025-11-17T09:00:00+00:00"
    assert first["summary"] == "About UK drone deal"


def test_a_hung_feed_does_not_hold_up_the_others(feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    slow = feed_server.add("/slow", drip)
    fast = [feed_server.add(f"/f{n}", Document(rss(f"Story {n}", base=f"https://e.org/{n}/")))
            for n in range(4)]
    cli = cli_factory([{"name": "Slow", "url": slow}] +
                      [{"name": f"Fast {n}", "url": u} for n, u in enumerate(fast)],
                      extra="[fetch]\ntimeout = 2\nconcurrency = 2\nper_host = 2")
    result = cli("poll")
    assert "4 ok" in result.output and "1 failed" in result.output
    assert "failed: Slow: gave up after 2s" in result.output
    assert "4 new items" in result.output


def test_retry_after_and_gone_are_remembered(feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    busy = feed_server.add("/busy", Document(b"", status=429, etag=False,
                                             headers={"Retry-After": "3600"}))
    # Another host name for the same server, so the 429 above does not hold it back.
    gone = feed_server.add("/gone", Document(b"", status=410, etag=False)).replace(
        "127.0.0.1", "localhost")
    cli = cli_factory([{"name": "Busy", "url": busy}, {"name": "Gone", "url": gone}])
    before = datetime.now().astimezone()
    cli("poll")
    status = cli("status", "--json")
    assert status.exit_code == 1  # a gone feed needs a person
    busy_status, gone_status = json.loads(status.output)["feeds"]
    next_due = datetime.fromisoformat(busy_status["next_due"])
    assert next_due >= before + timedelta(seconds=3590)
    assert "Retry-After" in busy_status["due_reason"]
    assert gone_status["gone"] and "410" in gone_status["problem"]

    again = cli("poll", "--all")
    assert "1 deferred (host asked to wait)" in again.output
    assert len(feed_server.requests_for("/gone")) == 1  # never fetched again
    assert len(feed_server.requests_for("/busy")) == 1  # not even with --all


def test_retry_after_holds_back_every_feed_of_that_host(
        feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    busy = feed_server.add("/busy", Document(b"", status=503, etag=False,
                                             headers={"Retry-After": "600"}))
    other = feed_server.add("/other", Document(rss("Other")))
    cli = cli_factory([{"name": "Busy", "url": busy}, {"name": "Other", "url": other}],
                      extra="[fetch]\nconcurrency = 1\nper_host = 1")
    result = cli("poll")
    assert "1 failed, 1 deferred" in result.output
    assert feed_server.requests_for("/other") == []
    report = json.loads(cli("status", "--json").output)
    assert "Retry-After" in report["feeds"][1]["due_reason"]
    assert report["feeds"][1]["consecutive_failures"] == 0  # waiting is not failing


def test_a_feed_moves_after_repeated_permanent_redirects_only(
        feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.test_fetch import redirect_to

    new = feed_server.add("/new", Document(rss("Moved story")))
    old = feed_server.add("/old", redirect_to("/new", 301))
    temp = feed_server.add("/temp", redirect_to("/new", 302))
    cli = cli_factory([{"name": "Old", "url": old}, {"name": "Temp", "url": temp}])
    for _ in range(3):
        cli("poll", "--all")
    report = json.loads(cli("status", "--json").output)
    moved, temporary = report["feeds"]
    assert moved["url"] == new and moved["redirected_from"] == old
    assert moved["config_url"] == old
    assert temporary["url"] == temp and temporary["redirected_from"] is None
    requests_to_old = len(feed_server.requests_for("/old"))
    cli("poll", "--all")
    assert len(feed_server.requests_for("/old")) == requests_to_old  # goes straight to /new


def test_status_exits_nonzero_when_a_feed_failed_for_over_a_day(
        feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.add("/down", Document(b"", status=500, etag=False))
    cli = cli_factory([{"name": "Down", "url": url}])
    cli("poll")
    assert cli("status").exit_code == 0
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE feeds SET failing_since = '2020-01-01T00:00:00+00:00'")
    result = cli("status")
    assert result.exit_code == 1
    assert "failing for more than a day" in result.output
    assert "Needs attention: Down" in result.output


def test_status_in_a_pipe_gives_each_feed_one_line_and_honours_columns(
        feed_server: FeedServer, cli_factory, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    long_name = "House of Commons Library: research briefings on defence and security"
    ok = feed_server.add("/ok", Document(rss("A")))
    down = feed_server.add("/down", Document(b"", status=500, etag=False))
    cli = cli_factory([{"name": long_name, "url": ok}, {"name": "Down", "url": down}])
    cli("poll")
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = cli("status").output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert re.match(r"House of Commons Library: \w+…  news  200 .* in \d+m$", lines[1])
    assert re.match(r"Down +news  500 .* in \d+m$", lines[2])
    # Too narrow for a problem column: each problem is a paragraph under the table.
    below = " ".join(lines[lines.index("", 3):]).split()
    assert " ".join(below).startswith("Down: [1x] the server answered HTTP 500")
    monkeypatch.setenv("COLUMNS", "160")
    wide = cli("status").output.splitlines()
    assert wide[0].split() == ["Feed", "Kind", "HTTP", "Last", "OK", "Items", "Newest", "Next",
                               "Problem"]
    assert wide[1].startswith(f"{long_name}  news  200")
    assert "[1x] the server answered HTTP 500" in wide[2]


def test_status_beside_a_running_daemon_shows_its_feeds_and_what_it_has_not_taken(
        feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    """The daemon keeps the feeds to its own config: status of another config (or of
    an edit the daemon was not told of) must not rewrite them, and says so."""
    first = feed_server.add("/first", Document(rss("A")))
    second = feed_server.add("/second", Document(rss("B")))
    cli = cli_factory([{"name": "First", "url": first}])
    cli("poll")
    lock = DatabaseLock(cli.db)  # as a running daemon, or a restore, holds it
    lock.acquire()
    try:
        write_config(cli.config, [{"name": "Second", "url": second}])
        restoring = cli("status").output  # held, but no daemon beating: a restore
        assert "First" in restoring and "running daemon" not in restoring
        with Store.open(cli.db) as store:  # the daemon's heartbeat
            store.beat(os.getpid(), datetime.now(UTC), started=datetime.now(UTC))
        shown = cli("status").output
        assert "First" in shown and "Second" not in shown.split("\n\n")[0]
        assert (f"The running daemon (pid {os.getpid()}) polls the feeds above, not yet those "
                f"of {cli.config} (feeds 1 added, 1 removed); if that is its config, reload "
                f"it: systemctl reload tracker, or kill -HUP {os.getpid()}") in \
            " ".join(shown.split())
        assert json.loads(cli("status", "--json").output)["config_not_taken"] == \
            "1 added, 1 removed"
        with sqlite3.connect(cli.db) as conn:
            assert conn.execute("SELECT name FROM feeds WHERE active = 1").fetchall() == \
                [("First",)]
    finally:
        lock.release()
    assert json.loads(cli("status", "--json").output)["config_not_taken"] is None
    shown = cli("status").output  # no daemon: the config is the truth
    assert "Second" in shown and "First" not in shown and "running daemon" not in shown


def test_status_notes_a_feed_gone_quiet_without_an_alert(
        feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.add("/quiet", Document(rss("A", "B", "C", "D", "E")))  # November 2025
    cli = cli_factory([{"name": "Quiet", "url": url}])
    cli("poll")
    result = cli("status")
    assert result.exit_code == 0
    assert "quiet since 2025-11-17" in " ".join(result.output.split())


def test_feeds_removed_from_the_config_leave_status_but_keep_items(
        feed_server: FeedServer, cli_factory) -> None:  # type: ignore[no-untyped-def]
    a = feed_server.add("/a", Document(rss("Alpha")))
    b = feed_server.add("/b", Document(rss("Beta", base="https://b.org/")))
    cli = cli_factory([{"name": "A", "url": a}, {"name": "B", "url": b}])
    cli("poll")
    cli = cli_factory([{"name": "A renamed", "url": a}])
    report = json.loads(cli("status", "--json").output)
    assert [f["name"] for f in report["feeds"]] == ["A renamed"]
    assert report["totals"]["items"] == 2


@pytest.mark.parametrize("variable", ["TRACKER_CONFIG", "TRACKER_DB"])
def test_environment_variables_choose_config_and_database(
        tmp_path, feed_server: FeedServer, variable: str, cli_factory) -> None:  # type: ignore[no-untyped-def]
    cli = cli_factory([{"name": "A", "url": feed_server.add("/a", Document(rss("Alpha")))}])
    env = {"TRACKER_CONFIG": str(cli.config), "TRACKER_DB": str(cli.db)}
    args = ["--db", str(cli.db)] if variable == "TRACKER_CONFIG" else ["--config", str(cli.config)]
    result = CliRunner().invoke(main, [*args, "poll"], env={variable: env[variable]})
    assert result.exit_code == 0 and re.match(r"polled 1 feed:", result.output)
    assert cli.db.exists()


def test_a_poll_where_no_host_resolves_says_the_machine_looks_offline(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The look-up is faked (tests stay off the network): what is tested is
    that the failures are read as one cause, and only when every feed has it."""
    def no_dns(host: str, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": f"Feed {n}", "url": f"https://feeds{n}.example.org/rss"}
                           for n in range(3)], allow_private=False)
    cli = Cli(config, tmp_path / "tracker.db")
    output = cli("poll", "--all").output
    assert "none of the 3 feeds' hosts could be resolved: this machine looks offline" in output
    assert output.count("failed: Feed") == 3


def test_offline_is_said_only_when_every_feed_failed_to_resolve() -> None:
    dns = "network error: cannot resolve host 'x.example': Name or service not known"
    everyone = PollSummary(feeds_polled=2, feeds_failed=2, failures=[("a", dns), ("b", dns)])
    assert everyone.offline() is not None
    one_works = PollSummary(feeds_polled=3, feeds_ok=1, feeds_failed=2,
                            failures=[("a", dns), ("b", dns)])
    assert one_works.offline() is None
    other = PollSummary(feeds_polled=2, feeds_failed=2,
                        failures=[("a", dns), ("b", "HTTP 500 (server error)")])
    assert other.offline() is None
    assert PollSummary(feeds_polled=1, feeds_failed=1, failures=[("a", dns)]).offline() is None


def test_a_database_that_cannot_be_used_is_an_error_not_a_traceback(tmp_path) -> None:
    config = write_config(tmp_path / "tracker.toml", [])
    garbage = tmp_path / "notes.txt"
    garbage.write_text("shopping list\n" * 100)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    runner = CliRunner()
    for db, args, message in [
            (garbage, ["status"], "notes.txt: not an SQLite database"),
            (blocked / "tracker.db", ["status"], "cannot create or open the database"),
            (blocked / "tracker.db", ["run"], "cannot create the daemon's lock")]:
        result = runner.invoke(main, ["--config", str(config), "--db", str(db), *args])
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # a message, not an uncaught error
        assert message in result.output
    assert garbage.read_text() == "shopping list\n" * 100
