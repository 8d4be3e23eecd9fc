"""`tracker run` as a real process against a local feed server: scheduling,
signals, reload, one daemon per database, concurrent CLI use, SIGKILL safety."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bench.daemon_memory import read_log
from tests.conftest import REPO, write_config
from tests.feedserver import Document, FeedServer


class GrowingFeed:
    """A feed whose item count the test raises; ETags change with the content."""

    def __init__(self, name: str, count: int = 2) -> None:
        self.name = name
        self.count = count

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        items = "".join(
            f"<item><title>{self.name} story {n}</title>"
            f"<link>https://{self.name}.example/{n}</link>"
            f"<description>Drone report number {n}</description></item>"
            for n in range(self.count))
        body = f'<rss version="2.0"><channel><title>{self.name}</title>{items}</channel></rss>'
        FeedServer.serve_document(handler, Document(body.encode()))


def tracker_args(config: Path, db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tracker.cli", "--config", str(config), "--db", str(db), *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def item_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0


class Setup:
    def __init__(self, tmp: Path, server: FeedServer, feeds: dict[str, GrowingFeed]) -> None:
        self.tmp = tmp
        self.server = server
        self.feeds = feeds
        self.db = tmp / "tracker.db"
        self.config = tmp / "tracker.toml"
        self.log = tmp / "daemon.log"
        self.write_config()

    def write_config(self, extra_feeds: dict[str, GrowingFeed] | None = None) -> None:
        feeds = {**self.feeds, **(extra_feeds or {})}
        entries = [{"name": name, "url": self.server.add(f"/{name}", feed), "interval": "1s"}
                   for name, feed in feeds.items()]
        write_config(self.config, entries, extra="[topics.drones]\nquery = 'drone'")

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(tracker_args(self.config, self.db, "run"),
                                    stdout=subprocess.DEVNULL, stderr=log, env=environment())

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(tracker_args(self.config, self.db, *args), capture_output=True,
                              text=True, timeout=60, env=environment())


@pytest.fixture
def setup(tmp_path: Path, feed_server: FeedServer) -> Iterator[Setup]:
    yield Setup(tmp_path, feed_server, {"alpha": GrowingFeed("alpha"),
                                        "beta": GrowingFeed("beta", 1)})


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def test_daemon_polls_on_schedule_and_stops_cleanly(setup: Setup) -> None:
    daemon = setup.start()
    try:
        wait_for(lambda: item_count(setup.db) == 3)
        setup.feeds["alpha"].count = 5
        wait_for(lambda: item_count(setup.db) == 6)  # new items arrive as published
        report = json.loads(setup.cli("status", "--json").stdout)
        assert report["daemon"]["state"] == "running"
        assert report["daemon"]["pid"] == daemon.pid
        assert "polled" in (report["daemon"]["last_poll"] or "")
    finally:
        started = time.monotonic()
        assert stop(daemon) == 0
    assert time.monotonic() - started < 10
    log = setup.log.read_text()
    assert "tracker daemon started" in log and "tracker daemon stopped" in log
    assert "poll: polled" in log
    assert read_log(log)["count"] >= 2  # the daemon benchmark reads its polls this way
    report = json.loads(setup.cli("status", "--json").stdout)
    assert report["daemon"]["state"] == "stopped" and report["ok"]


def test_verbose_is_trackers_own_detail_not_the_libraries(setup: Setup) -> None:
    """-v adds each feed's fetch; the libraries (APScheduler's jobs, httpx's
    requests, tzlocal reading /etc/timezone) log only what goes wrong."""
    with open(setup.log, "ab") as log:
        daemon = subprocess.Popen(
            [*tracker_args(setup.config, setup.db)[:3], "-v",
             *tracker_args(setup.config, setup.db)[3:], "run", "--log-json"],
            stdout=subprocess.DEVNULL, stderr=log, env=environment())
    try:
        wait_for(lambda: item_count(setup.db) == 3)
        wait_for(lambda: '"feed alpha: HTTP' in setup.log.read_text())
    finally:
        assert stop(daemon) == 0
    lines = [json.loads(line) for line in setup.log.read_text().splitlines()]
    assert any(line["level"] == "debug" for line in lines)
    assert {line["logger"].split(".")[0] for line in lines
            if line["level"] in ("debug", "info")} == {"tracker"}


def test_cli_commands_run_alongside_the_daemon_without_lock_errors(setup: Setup) -> None:
    daemon = setup.start()
    failures: list[str] = []
    try:
        wait_for(lambda: item_count(setup.db) == 3)

        def worker(args: tuple[str, ...]) -> None:
            for _ in range(4):
                result = setup.cli(*args)
                if result.returncode != 0 or "locked" in result.stderr + result.stdout:
                    failures.append(f"{args}: {result.returncode} {result.stderr[-300:]}")
                setup.feeds["alpha"].count += 1

        backups = setup.tmp / "backups"
        backups.mkdir()
        commands = [("status", "--json"), ("search", "drone"), ("poll", "--all"),
                    ("topics", "test", "drone"), ("export",), ("backup", str(backups))]
        threads = [threading.Thread(target=worker, args=(c,)) for c in commands]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expected = 1 + setup.feeds["alpha"].count
        wait_for(lambda: item_count(setup.db) == expected)
    finally:
        assert stop(daemon) == 0
    assert failures == []
    for copy in backups.iterdir():  # each one moment of the database the daemon was writing
        with sqlite3.connect(copy) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == \
                conn.execute("SELECT count(*) FROM items_fts_docsize").fetchone()[0] > 0


def test_a_second_daemon_is_refused_and_takes_over_from_a_dead_one(setup: Setup) -> None:
    first = setup.start()
    try:
        wait_for(lambda: item_count(setup.db) == 3)
        second = setup.cli("run")
        assert second.returncode == 1
        assert f"another tracker run (pid {first.pid})" in second.stderr
    finally:
        first.kill()
        first.wait()
    third = setup.start()  # the lock died with the first process
    try:
        setup.feeds["beta"].count = 2
        wait_for(lambda: item_count(setup.db) == 4)
    finally:
        assert stop(third) == 0


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_otherwise(setup: Setup) -> None:
    daemon = setup.start()
    try:
        wait_for(lambda: item_count(setup.db) == 3)
        gamma = GrowingFeed("gamma", 3)
        setup.write_config({"gamma": gamma})
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: item_count(setup.db) == 6)
        assert "config reloaded: 3 feeds" in setup.log.read_text()

        setup.config.write_text(setup.config.read_text() + "\nbogus_key = 1\n")
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reload refused" in setup.log.read_text())
        assert daemon.poll() is None  # still running on the old config
        gamma.count = 4
        wait_for(lambda: item_count(setup.db) == 7)
    finally:
        assert stop(daemon) == 0


def test_config_edits_from_the_cli_are_taken_by_the_running_daemon(setup: Setup) -> None:
    """`tracker feeds add` and `topics add` tell the daemon on the same database
    to reload (SIGHUP): the new feed is polled without a restart."""
    daemon = setup.start()
    try:
        wait_for(lambda: item_count(setup.db) == 3)
        gamma = setup.server.add("/gamma", GrowingFeed("gamma", 3))
        added = setup.cli("feeds", "add", gamma, "--name", "gamma", "--interval", "1s")
        assert added.returncode == 0, added.stderr
        assert f"the running daemon (pid {daemon.pid}) reloads the config now" in added.stdout
        wait_for(lambda: item_count(setup.db) == 6)
        topic = setup.cli("topics", "add", "reports", "report")
        assert topic.returncode == 0, topic.stderr
        assert "reports: 6 matching items in the archive" in topic.stdout
        assert f"the running daemon (pid {daemon.pid}) reloads" in topic.stdout
        wait_for(lambda: setup.log.read_text().count("config reloaded") == 2)
        assert "config reloaded: 3 feeds, 2 topics" in setup.log.read_text()
    finally:
        assert stop(daemon) == 0
    removed = setup.cli("feeds", "remove", "gamma")
    assert removed.stdout == "removed gamma\n"  # no daemon to tell


def test_repeated_sigkill_loses_nothing_and_duplicates_nothing(setup: Setup) -> None:
    rng = random.Random(1)
    for _ in range(10):
        daemon = setup.start()
        time.sleep(rng.uniform(0.3, 1.5))
        setup.feeds["alpha"].count += rng.randint(1, 8)
        time.sleep(rng.uniform(0.0, 0.8))
        daemon.kill()
        daemon.wait()
    expected = setup.feeds["alpha"].count + setup.feeds["beta"].count
    final = setup.start()
    try:
        wait_for(lambda: item_count(setup.db) == expected, timeout=30)
        wait_for(lambda: json.loads(setup.cli("status", "--json").stdout)["daemon"]["pid"]
                 == final.pid)
    finally:
        assert stop(final) == 0
    with sqlite3.connect(setup.db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM (SELECT canonical_url FROM items "
                            "GROUP BY canonical_url HAVING count(*) > 1)").fetchone()[0] == 0
        stored = {row[0] for row in conn.execute("SELECT title FROM items")}
    published = {f"{name} story {n}" for name, feed in setup.feeds.items()
                 for n in range(feed.count)}
    assert stored == published


def test_status_flags_a_daemon_that_stopped_beating(setup: Setup) -> None:
    daemon = setup.start()
    wait_for(lambda: item_count(setup.db) == 3)
    daemon.kill()
    daemon.wait()
    assert setup.cli("status").returncode == 0  # the beat is still fresh
    with sqlite3.connect(setup.db) as conn:
        conn.execute("UPDATE daemon SET last_beat = '2020-01-01T00:00:00+00:00'")
    result = setup.cli("status")
    assert result.returncode == 1
    assert "stopped beating" in result.stdout
    assert json.loads(setup.cli("status", "--json").stdout)["needs_attention"] == ["daemon"]


def test_a_poll_stopped_by_a_full_disk_is_one_log_line_and_polls_go_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """In-process: the poll job meets the store's full-disk error (raised by a
    real poll in tests/test_service.py) and logs it without a traceback."""
    from tracker.daemon import Daemon
    from tracker.errors import StoreError
    from tracker.store import Store

    class FullDisk:
        def poll(self) -> None:
            raise StoreError(f"{tmp_path}/tracker.db: the disk is full (0.0 MB free there)")

    daemon = Daemon(tmp_path / "tracker.db", lambda: None,  # type: ignore[arg-type,return-value]
                    lambda config, store: None)  # type: ignore[arg-type,return-value]
    daemon.service = FullDisk()  # type: ignore[assignment]
    daemon.poll_store = Store.open(tmp_path / "tracker.db")
    try:
        with caplog.at_level(logging.INFO, logger="tracker.daemon"):
            daemon._poll()
    finally:
        daemon.poll_store.close()
    assert "poll stopped: " in caplog.text and "the disk is full" in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert daemon.scheduler.get_job("poll") is not None  # the next poll is scheduled


def test_a_database_moved_away_under_the_daemon_stops_it(setup: Setup) -> None:
    """Otherwise it writes on into the moved file while every command reads a
    new, empty one where the database was."""
    daemon = setup.start()
    try:
        wait_for(lambda: item_count(setup.db) == 3)
        for suffix in ("", "-wal", "-shm"):  # as a person moves a database, whole
            setup.tmp.joinpath("tracker.db" + suffix).rename(setup.tmp / f"moved.db{suffix}")
        assert daemon.wait(timeout=30) == 1
    finally:
        if daemon.poll() is None:
            stop(daemon)
    log = setup.log.read_text()
    assert f"{setup.db} was deleted, moved or replaced while the daemon had it open" in log
    assert "tracker daemon stopped" in log
    assert item_count(setup.tmp / "moved.db") == 3


def test_a_digest_the_mail_server_refused_is_retried_within_minutes_backing_off(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """In-process: the digest jobs against an SMTP port nobody listens on (the
    delivery itself is tested against aiosmtpd in tests/test_digest.py). Each
    digest, the main one and a named one, backs off on its own."""
    from tests.conftest import write_config
    from tests.test_digest import free_port
    from tracker.config import load_config
    from tracker.daemon import DIGEST_RETRY, Daemon
    from tracker.store import Store

    digests = ('[digest]\nsend_empty = true\nto = ["a@example.org"]\n'
               '[digests.desk]\nsend_empty = true\nto = ["desk@example.org"]\n'
               '[digest.smtp]\n'
               f'host = "127.0.0.1"\nport = {free_port()}\nsecurity = "none"\ntimeout = 2')
    config = load_config(write_config(tmp_path / "tracker.toml", [], extra=digests))
    daemon = Daemon(tmp_path / "tracker.db", lambda: config,
                    lambda config, store: None)  # type: ignore[arg-type,return-value]
    daemon.config = config
    daemon.poll_store = Store.open(tmp_path / "tracker.db")
    try:
        daemon._schedule_digest()
        assert {job.id for job in daemon.scheduler.get_jobs()} == {"digest", "digest:desk"}
        waits = []
        with caplog.at_level(logging.INFO, logger="tracker.daemon"):
            for _ in range(3):
                daemon._digest()
                waits.append(round(daemon.digest_retry[""].total_seconds() / 60))
            daemon._digest("desk")
            assert daemon.scheduler.get_job("digest-retry") is not None
            assert daemon.scheduler.get_job("digest-retry:desk") is not None
        assert round(daemon.digest_retry["desk"].total_seconds() / 60) == 15
        # A reload without the named digest takes its jobs away.
        daemon.config = load_config(write_config(tmp_path / "tracker.toml", [], extra=(
            '[digest]\nto = ["a@example.org"]')))
        daemon._schedule_digest()
        assert {job.id for job in daemon.scheduler.get_jobs()} == {"digest", "digest-retry"}
    finally:
        daemon.poll_store.close()
    assert waits == [15, 30, 60] and DIGEST_RETRY.total_seconds() == 15 * 60
    assert "digest not delivered (it stays pending, tried again at" in caplog.text
    assert "digest desk not delivered (it stays pending, tried again at" in caplog.text
    assert "connection refused" in caplog.text.lower()
