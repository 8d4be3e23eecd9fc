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


def test_only_the_daemon_that_holds_the_lock_and_beats_is_told_to_reload(
        tmp_path: Path) -> None:
    """`tracker restore` holds the lock too, and SIGHUP would end it: the
    holder must be the process whose heartbeat the database has, running."""
    import signal

    from tracker.reload import reload_running_daemon

    db = tmp_path / "tracker.db"
    received: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda number, frame: received.append(number))
    lock = DatabaseLock(db)
    try:
        beat = {"pid": os.getpid(), "stopped": None}
        assert reload_running_daemon(db, lambda: beat) is None  # nobody holds the lock
        lock.acquire()
        assert DatabaseLock(db).holder() == os.getpid()
        assert reload_running_daemon(db, lambda: None) is None  # a restore: no heartbeat
        assert reload_running_daemon(db, lambda: {**beat, "pid": 1}) is None  # another's beat
        assert reload_running_daemon(db, lambda: {**beat, "stopped": "2026-11-26"}) is None
        assert received == []
        told = reload_running_daemon(db, lambda: beat)
        assert told == f"the running daemon (pid {os.getpid()}) reloads the config now"
        assert received == [signal.SIGHUP]
    finally:
        lock.release()
        signal.signal(signal.SIGHUP, previous)
    assert DatabaseLock(db).holder() is None
