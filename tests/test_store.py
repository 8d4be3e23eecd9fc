"""Opening a database: migrations run when, and only when, the schema is behind."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlite_utils import Database

from tracker.migrations import migrations
from tracker.store import NEWEST_MIGRATION, Store


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
