"""One process at a time owns a database (tracker.dblock)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracker.dblock import AlreadyRunning, DatabaseLock
from tracker.store import Store


def test_one_lock_for_a_database_however_its_path_is_spelled(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "tracker.db"
    Store.open(db).close()
    (tmp_path / "link.db").symlink_to(db)
    first = DatabaseLock(db)
    first.acquire()
    try:
        for other in (tmp_path / "link.db", tmp_path / "data" / ".." / "data" / "tracker.db"):
            with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
                DatabaseLock(other).acquire()
    finally:
        first.release()
