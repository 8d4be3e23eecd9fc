"""`tracker backup` and the daemon's backups, on real database files: a checked,
consistent copy taken while items are being written, never replacing a good
backup with a bad one, and `tracker status` saying when backups fail."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tracker import backup as backup_module
from tracker.backup import dated_backups, prune_backups, scheduled_backup, write_backup
from tracker.config import load_config, parse_config
from tracker.daemon import Daemon
from tracker.dblock import DatabaseLock
from tracker.errors import BackupError, ConfigError
from tracker.store import Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def rss(count: int) -> bytes:
    items = "".join(f"<item><title>Interceptor drone order {n}</title>"
                    f"<link>https://e.org/{n}</link><description>Drones for Ukraine, lot {n}."
                    f"</description><pubDate>{format_datetime(T0 + timedelta(hours=n))}"
                    "</pubDate></item>" for n in range(count))
    return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def polled_cli(tmp_path: Path, server: FeedServer, count: int = 5, extra: str = "") -> Cli:
    server.add("/feed", Document(rss(count)))
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "Defence News", "url": server.url("/feed")}],
                          extra=extra + "\n[topics.drones]\nquery = 'drone*'")
    cli = Cli(config, tmp_path / "tracker.db")
    assert cli("poll", "--all").exit_code == 0
    return cli


def items_in(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_is_a_checked_tracker_database_the_cli_reads(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = polled_cli(tmp_path, feed_server)
    os.chmod(cli.db, 0o600)
    copy = tmp_path / "copy.db"
    result = cli("backup", str(copy))
    assert result.exit_code == 0, result.output
    assert f"backed up 5 items to {copy}" in result.output and "checked" in result.output
    assert items_in(copy) == 5
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # as private as the database
    assert not list(tmp_path.glob(".copy.db.*"))  # no temporary left behind
    found = Cli(cli.config, copy)("search", "interceptor", "--json")
    assert len(json.loads(found.output)) == 5


def test_a_folder_gets_dated_backups_and_keep_deletes_only_the_oldest_of_them(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = polled_cli(tmp_path, feed_server)
    folder = tmp_path / "backups"
    folder.mkdir()
    old = [folder / f"tracker-2026010{day}-030000.db" for day in range(1, 4)]
    for path in old:
        path.write_bytes(b"")
    unrelated = [folder / "notes.txt", folder / "other-20260101-030000.db"]
    for path in unrelated:
        path.write_text("keep me")
    result = cli("backup", "--keep", "2", str(folder))
    assert result.exit_code == 0, result.output
    assert "deleted 2 older backups, keeping 2" in result.output
    kept = dated_backups(folder, cli.db)
    assert kept[0] == old[2] and len(kept) == 2 and items_in(kept[1]) == 5
    assert all(path.read_text() == "keep me" for path in unrelated)


def test_a_failed_backup_leaves_the_earlier_one_and_status_says_so_until_one_works(
        tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = polled_cli(tmp_path, feed_server)
    copy = tmp_path / "copy.db"
    assert cli("backup", str(copy)).exit_code == 0
    before = copy.read_bytes()
    assert "Last backup" in cli("status").output and cli("status").exit_code == 0

    def broken(path: Path) -> int:
        raise sqlite3.DatabaseError("SQLite's check found it damaged: page 3 is never used")

    monkeypatch.setattr(backup_module, "checked_item_count", broken)
    result = cli("backup", str(copy))
    assert result.exit_code == 1
    assert "page 3 is never used" in result.output
    assert "the database is unchanged and so is the earlier backup there" in result.output
    assert copy.read_bytes() == before
    assert not list(tmp_path.glob(".copy.db.*"))
    status = cli("status", "--json")
    report = json.loads(status.output)
    assert status.exit_code == 1 and "backup" in report["needs_attention"]
    assert report["backup"]["state"] == "failing"
    assert "the last backup failed" in cli("status").output

    monkeypatch.undo()
    assert cli("backup", str(copy)).exit_code == 0
    report = json.loads(cli("status", "--json").output)
    assert report["ok"] and report["backup"]["state"] == "ok"
    assert report["backup"]["path"] == str(copy) and report["backup"]["items"] == 5


@pytest.mark.parametrize("target, message", [
    ("missing/copy.db", "no such folder; create it first"),
    ("tracker.db", "that is the database itself"),
    ("tracker.toml", "not an SQLite database, and a backup would replace it"),
    ("live.db", "a database in use (its wal file is beside it)"),
])
def test_a_destination_that_cannot_take_a_backup_is_refused_and_left_alone(
        tmp_path: Path, feed_server: FeedServer, target: str, message: str) -> None:
    cli = polled_cli(tmp_path, feed_server)
    (tmp_path / "live.db").write_bytes(b"SQLite format 3\x00")
    (tmp_path / "live.db-wal").write_bytes(b"")
    path = tmp_path / target
    before = path.read_bytes() if path.exists() else None
    result = cli("backup", str(path))
    assert result.exit_code == 1 and message in result.output
    if path == cli.db:  # which records the failed attempt, for `tracker status`
        assert items_in(path) == 5
    else:
        assert (path.read_bytes() if path.exists() else None) == before


def test_keep_needs_a_folder_and_a_missing_database_is_not_created(tmp_path: Path) -> None:
    config = write_config(tmp_path / "tracker.toml", [])
    cli = Cli(config, tmp_path / "none.db")
    result = cli("backup", "--keep", "3", str(tmp_path / "copy.db"))
    assert result.exit_code == 2 and "--keep needs a folder" in result.output
    result = cli("backup", str(tmp_path))
    assert result.exit_code == 1 and "no database here yet, nothing to back up" in result.output
    assert not (tmp_path / "none.db").exists()


def test_backups_taken_while_items_are_written_are_consistent_snapshots(
        tmp_path: Path) -> None:
    """A writer commits items (each with its full-text index rows, in one
    transaction) while backups are taken: every backup passes SQLite's check and
    holds whole transactions only, its index in step with its items."""
    db = tmp_path / "tracker.db"
    Store.open(db).close()
    stop = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(db, timeout=30, isolation_level=None)
        conn.execute("INSERT INTO feeds (config_url, url, name, kind, interval_seconds, "
                     "added_at) VALUES ('u', 'u', 'F', 'news', 60, '2026-11-26T00:00:00+00:00')")
        n = 0
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(20):
                n += 1
                conn.execute("INSERT INTO items (feed_id, guid, url, title, summary, first_seen, "
                             "content_hash) VALUES (1, ?, ?, ?, ?, '2026-11-26T00:00:00+00:00', "
                             "'h')",
                             (f"g{n}", f"https://e.org/{n}", f"Drone order {n}",
                              "Interceptor drones " * 50))
            conn.execute("COMMIT")
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    counts = []
    try:
        for n in range(6):
            written = write_backup(db, tmp_path / f"copy{n}.db", datetime.now(UTC))
            with sqlite3.connect(written.path) as copy:
                items = copy.execute("SELECT count(*) FROM items").fetchone()[0]
                indexed = copy.execute("SELECT count(*) FROM items_fts_docsize").fetchone()[0]
                copy.execute("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")
            assert items == indexed == written.items and items % 20 == 0
            counts.append(items)
    finally:
        stop.set()
        writer.join()
    assert counts[-1] > counts[0]  # the writer was writing all along


def test_the_daemons_backup_job_writes_prunes_and_records(
        tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture) -> None:
    cli = polled_cli(tmp_path, feed_server, extra='[backup]\nfolder = "backups"\nkeep = 2')
    config = load_config(cli.config)
    daemon = Daemon(cli.db, lambda: config, lambda config, store: None)  # type: ignore[arg-type,return-value]
    daemon.config = config
    daemon.beat_store = Store.open(cli.db)
    folder = tmp_path / "backups"  # beside the database, created by the job
    try:
        with caplog.at_level(logging.INFO, logger="tracker.daemon"):
            for day in range(1, 4):
                (folder / f"tracker-2026010{day}-030000.db").parent.mkdir(exist_ok=True)
                (folder / f"tracker-2026010{day}-030000.db").write_bytes(b"")
            daemon._backup()
        assert "backup: backed up 5 items" in caplog.text
        assert "deleted 2 older backups" in caplog.text
        kept = dated_backups(folder, cli.db)
        assert len(kept) == 2 and items_in(kept[-1]) == 5
        assert daemon.beat_store.backup_state()["items"] == 5  # type: ignore[index]

        (folder / "blocked").write_text("")
        daemon.config = load_config(write_config(
            cli.config, [], extra='[backup]\nfolder = "backups/blocked/deeper"'))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tracker.daemon"):
            daemon._backup()
        assert "backup failed" in caplog.text and "cannot create the backup folder" in caplog.text
        assert "check [backup] folder in the config" in caplog.text
        assert json.loads(cli("status", "--json").output)["backup"]["state"] == "failing"
    finally:
        daemon.beat_store.close()


def test_the_daemon_schedules_backups_only_with_a_folder(tmp_path: Path) -> None:
    config = write_config(tmp_path / "tracker.toml", [], extra=(
        'timezone = "Europe/London"\n[backup]\nfolder = "b"\nschedule = "30 3 * * *"'))
    daemon = Daemon(tmp_path / "t.db", lambda: load_config(config),
                    lambda config, store: None)  # type: ignore[arg-type,return-value]
    daemon.config = load_config(config)
    daemon._schedule_backup()
    job = daemon.scheduler.get_job("backup")
    assert job is not None and str(job.trigger.timezone) == "Europe/London"
    assert "hour='3'" in str(job.trigger) and "minute='30'" in str(job.trigger)
    daemon.config = load_config(write_config(config, []))
    daemon._schedule_backup()
    assert daemon.scheduler.get_job("backup") is None


@pytest.mark.parametrize("table, message", [
    ('[backup]\nfolder = ""', "backup.folder: must be a folder name"),
    ('[backup]\nfolder = "b"\nkeep = 0', "backup.keep: must be a whole number from 1 to 1000"),
    ('[backup]\nfolder = "b"\nschedule = "daily"', "backup.schedule: 'daily' is not a cron"),
    ('[backup]\nfolders = "b"', "unknown key 'folders'; did you mean 'folder'?"),
])
def test_bad_backup_settings_are_refused(table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("[", r"\[")):
        parse_config(table, Path("tracker.toml"))


def test_prune_never_touches_what_it_cannot_delete(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "tracker-20260101-030000.db").mkdir()  # not a file: not a backup of ours
    (folder / "tracker-20260102-030000.db").write_bytes(b"")
    assert prune_backups(folder, db, 1) == []
    assert (folder / "tracker-20260102-030000.db").exists()


def test_write_backup_refuses_before_copying(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no such folder"):
        write_backup(tmp_path / "tracker.db", tmp_path / "nope" / "x.db", datetime.now(UTC))


def test_restore_puts_a_backup_back_and_keeps_the_database_it_replaces(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = polled_cli(tmp_path, feed_server, count=5)
    copy = tmp_path / "copy.db"
    assert cli("backup", str(copy)).exit_code == 0
    feed_server.add("/feed", Document(rss(8)))
    assert cli("poll", "--all").exit_code == 0 and items_in(cli.db) == 8

    result = cli("restore", str(copy))
    assert result.exit_code == 0, result.output
    assert f"restored 5 items from {copy} into {cli.db}" in result.output
    assert items_in(cli.db) == 5
    replaced = next(tmp_path.glob("tracker.db.replaced-*[0-9]"))
    assert f"kept at {replaced}" in result.output
    assert items_in(replaced) == 8  # nothing lost: it opens with all it held
    assert not list(tmp_path.glob(".tracker.db.*"))
    assert cli("poll", "--all").exit_code == 0 and items_in(cli.db) == 8  # fetched again
    assert cli("status").exit_code == 0


def test_restore_refuses_while_the_database_is_held_or_the_backup_is_unsound(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = polled_cli(tmp_path, feed_server)
    copy = tmp_path / "copy.db"
    assert cli("backup", str(copy)).exit_code == 0
    before = cli.db.read_bytes()
    lock = DatabaseLock(cli.db)  # as a running daemon holds it
    lock.acquire()
    try:
        result = cli("restore", str(copy))
    finally:
        lock.release()
    assert result.exit_code == 1 and f"(pid {os.getpid()}) is using this database" in result.output

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(copy.read_bytes()[:8192])
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    for backup, message in ((damaged, "not a sound tracker backup"),
                            (other, "no such table: items"),
                            (tmp_path / "none.db", "no such file"),
                            (cli.db, "that is the database itself")):
        result = cli("restore", str(backup))
        assert result.exit_code == 1 and message in result.output, result.output
    assert cli.db.read_bytes() == before
    assert not list(tmp_path.glob("tracker.db.replaced-*"))
    assert not list(tmp_path.glob(".tracker.db.*"))


def test_a_database_is_moved_aside_with_its_log_files(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    for suffix, text in (("", "main"), ("-wal", "log"), ("-shm", "index")):
        database.with_name(database.name + suffix).write_text(text)
    aside = tmp_path / "tracker.db.replaced-x"
    backup_module._move(database, aside)
    assert not list(tmp_path.glob("tracker.db")) and not list(tmp_path.glob("tracker.db-*"))
    assert [(aside.with_name(aside.name + s)).read_text() for s in ("", "-wal", "-shm")] == \
        ["main", "log", "index"]


def test_the_daemons_backup_removes_copies_abandoned_a_day_ago(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    Store.open(db).close()
    folder = tmp_path / "backups"
    folder.mkdir()
    abandoned = folder / ".tracker-20261120-033000.db.4242.0a1b2c3d.tmp"
    fresh = folder / ".tracker-20261126-033000.db.4243.0a1b2c3e.tmp"
    other = folder / ".notes.tmp"
    for path in (abandoned, fresh, other):
        path.write_bytes(b"partial")
    day_ago = time.time() - 86400 - 60
    os.utime(abandoned, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    config = parse_config('[backup]\nfolder = "backups"', tmp_path / "tracker.toml")
    written, _ = scheduled_backup(config, db, datetime.now(UTC))
    assert written.items == 0
    assert not abandoned.exists() and fresh.exists() and other.exists()



def test_without_a_destination_the_configs_backup_folder_is_used(
        tmp_path: Path, feed_server: FeedServer) -> None:
    cli = polled_cli(tmp_path, feed_server, extra='[backup]\nfolder = "nightly"\nkeep = 1')
    folder = tmp_path / "nightly"
    (folder).mkdir()
    (folder / "tracker-20260101-030000.db").write_bytes(b"")
    result = cli("backup")
    assert result.exit_code == 0, result.output
    assert f"to {folder}/tracker-" in result.output and "keeping 1" in result.output
    (kept,) = dated_backups(folder, cli.db)
    assert items_in(kept) == 5
    (tmp_path / "blocked").write_text("a file, not a folder")
    blocked = Cli(write_config(tmp_path / "blocked.toml", [],
                               extra='[backup]\nfolder = "blocked/nightly"'), cli.db)
    result = blocked("backup")
    assert result.exit_code == 1 and "cannot create the backup folder" in result.output
    bare = Cli(write_config(tmp_path / "bare.toml", []), cli.db)
    result = bare("backup")
    assert result.exit_code == 2 and "or set [backup] folder in the config" in result.output
