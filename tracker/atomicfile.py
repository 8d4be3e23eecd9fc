"""Replacing a file that others read, so that they never see half of it.

The config file (edited by `tracker feeds ...`) and the topic feeds (read by feed
readers and web servers) are written to a temporary file beside them, flushed
to disk, and renamed over the old one: a reader, or a crash, sees the old file
or the new, never a mix. The new file keeps the old one's permissions (a new
one gets the umask's): a temporary file's private 0600 would lock a web
server out of a feed folder, or change who may read a config.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


def replace_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, keeping its permissions."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)  # exactly the old file's, not masked by the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
