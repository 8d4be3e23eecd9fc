"""One process at a time owns a database: the daemon for its whole life,
`tracker restore` while it puts a backup in place. An exclusive flock on
`<db>.lock`, which the operating system releases when the process dies, so a
new daemon takes over from a crashed one at once."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from tracker.errors import StoreError, TrackerError


class AlreadyRunning(TrackerError):
    """Another `tracker run` holds this database."""


class DatabaseLock:
    """An exclusive, process-lifetime lock beside the database file."""

    def __init__(self, db_path: Path) -> None:
        # Beside the file itself: a database reached through a symbolic link
        # or another spelling of its path has one lock, not one per path.
        real = db_path.resolve()
        self.path = real.with_name(real.name + ".lock")
        self.handle: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 (held for life)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the daemon's lock beside the database "
                             f"({exc.strerror or exc}); pass --db PATH or set TRACKER_DB to a "
                             "place tracker may write") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(f"another tracker run (pid {holder}) is using this database "
                                 "(a daemon, or a restore putting a backup in place); stop "
                                 "it first, or use another --db") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def holder(self) -> int | None:
        """The pid of the process that holds the lock, or None when nobody does
        (tested with a shared lock, which fails only while someone holds it)."""
        try:
            handle = open(self.path, encoding="ascii")  # noqa: SIM115 (closed below)
        except OSError:
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = handle.read().strip()
                return int(text) if text.isdigit() else None
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
