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


def daemon_holding(holder: int | None,
                   heartbeat: Callable[[], dict[str, Any] | None]) -> int | None:
    """`holder`, the pid holding the database's lock, when it is the daemon:
    the process whose heartbeat the database has, running (`tracker restore`
    holds the lock too). The database is read (`heartbeat`) only when someone
    holds its lock."""
    if holder is None:
        return None
    beat = heartbeat()
    if beat is None or beat["pid"] != holder or beat.get("stopped"):
        return None
    return holder


def reload_running_daemon(db_path: Path,
                          heartbeat: Callable[[], dict[str, Any] | None]) -> str | None:
    """Send SIGHUP to the daemon that holds this database, and say so; None
    when no daemon runs on it (`daemon_holding`: not to `tracker restore`,
    which SIGHUP would end)."""
    pid = daemon_holding(DatabaseLock(db_path).holder(), heartbeat)
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
