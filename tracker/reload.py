"""After a command edits the config file (`tracker feeds add`, `topics add`
...), the daemon running on the same database is told to reload it (SIGHUP, as
`systemctl reload tracker` does): a feed added should be polled without anyone
remembering to restart anything."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker.dblock import DatabaseLock


def running_daemon(db_path: Path, heartbeat: Callable[[], dict[str, Any] | None]) -> int | None:
    """The pid of the daemon running on this database, or None. The lock's
    holder must be the process whose heartbeat the database has, running:
    `tracker restore` holds the lock too. The database is read (`heartbeat`)
    only when someone holds its lock."""
    pid = DatabaseLock(db_path).holder()
    if pid is None:
        return None
    beat = heartbeat()
    if beat is None or beat["pid"] != pid or beat.get("stopped"):
        return None
    return pid


def reload_running_daemon(db_path: Path,
                          heartbeat: Callable[[], dict[str, Any] | None]) -> str | None:
    """Send SIGHUP to the daemon that holds this database, and say so; None
    when no daemon runs on it (`running_daemon`: not to `tracker restore`,
    which SIGHUP would end)."""
    pid = running_daemon(db_path, heartbeat)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None
    except PermissionError:
        return (f"the daemon (pid {pid}) runs as another user: reload it to use this change "
                f"(systemctl reload tracker, or kill -HUP {pid} as that user)")
    return f"the running daemon (pid {pid}) reloads the config now"
