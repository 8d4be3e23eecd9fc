"""Opening a database (migrations run when, and only when, the schema is behind),
and writing through one from several threads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from tracker.migrations import migrations
from tracker.store import NEWEST_MIGRATION, Store

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_newest_migration_names_the_last_registered_one() -> None:
    everything = migrations.pending(Database(sqlite3.connect(":memory:")))
    assert everything[-1].name == NEWEST_MIGRATION


def test_a_database_one_migration_behind_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(Database(conn), stop_before=NEWEST_MIGRATION)
    assert "link_queue" not in Database(conn).table_names()
    conn.close()

    with Store.open(path) as store:
        assert store._has_migration(NEWEST_MIGRATION)
        tables = {row[0] for row in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "link_queue" in tables


def _opens_importing_sqlite_utils(path: Path) -> bool:
    code = ("import sys; from pathlib import Path; from tracker.store import Store; "
            f"Store.open(Path({str(path)!r})).close(); print('sqlite_utils' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip() == "True"


def test_migration_machinery_is_loaded_only_for_a_database_that_needs_it(
        tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    assert _opens_importing_sqlite_utils(path)       # new: created through migrations
    assert not _opens_importing_sqlite_utils(path)   # current: nothing to do


def test_two_threads_writing_through_one_store_take_turns(tmp_path: Path) -> None:
    """The daemon's heartbeat job and its poll both write through one Store:
    the second transaction must wait for the first, not fail inside it."""
    store = Store.open(tmp_path / "tracker.db")
    store.beat(1, NOW, started=NOW)
    inside, errors = threading.Event(), []

    def first() -> None:
        with store.write():
            inside.set()
            time.sleep(0.3)  # the other thread asks for its transaction meanwhile
            store.conn.execute("UPDATE daemon SET last_poll = 'first' WHERE id = 1")

    def second() -> None:
        inside.wait()
        try:
            store.beat(1, NOW + timedelta(seconds=1), last_poll="second")
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.conn.execute("SELECT last_poll FROM daemon").fetchone()[0] == "second"
    store.close()
