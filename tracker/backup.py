"""A consistent, checked copy of the database, taken while the daemon writes to it.

Copying tracker.db with `cp` while the daemon runs is not a backup: the newest
commits live in tracker.db-wal until a checkpoint moves them into the main
file, and a copy taken during a write mixes pages of two moments. SQLite's
`VACUUM INTO` writes one read transaction's snapshot to a new file (compacted:
free pages left out), without stopping the daemon's writes (WAL lets readers
and a writer run together).

The copy is written beside its destination under a temporary name, checked
(`PRAGMA quick_check`, and that it is a tracker database with its items),
flushed to disk (SQLite does not fsync what VACUUM INTO writes) and only then
renamed over the destination: a failed backup, a full disk or a crash leaves
the earlier backup as it was. It gets the database's permissions: an archive
kept private stays private in its copies. This module handles the files; the
SQL (copying, checking, checkpointing) is the store's.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tracker.config import Config, beside_database
from tracker.errors import BackupError, reason
from tracker.store import checked_item_count, checkpoint, copy_database
from tracker.wording import counted

BACKUP_SUFFIX = ".db"
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Backup:
    """A backup written: where, how many items it holds, its size, how long it took."""

    path: Path
    items: int
    size: int
    seconds: float

    def line(self) -> str:
        """What a person reads of it (the command's output, the daemon's log)."""
        return (f"backed up {counted(self.items, 'item')} to {self.path} "
                f"({self.size / 1_048_576:.1f} MB, checked) in {self.seconds:.1f}s")


def backup_path(destination: Path, database: Path, now: datetime) -> Path:
    """The file a backup goes to: `destination` itself, or, when it is a folder,
    a new file in it named after the database and `now` (UTC), so that a folder
    keeps a history of backups (`tracker-20261126-033000.db`)."""
    if destination.is_dir():
        return destination / f"{database.stem}-{now:%Y%m%d-%H%M%S}{BACKUP_SUFFIX}"
    return destination


def backup_folder(config: Config, database: Path) -> Path:
    """The config's `[backup] folder` (beside the database when relative),
    created if need be; BackupError when it cannot be."""
    assert config.backup.folder is not None
    folder = beside_database(config.backup.folder, database)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"{folder}: cannot create the backup folder ({reason(exc)}); "
                          "check [backup] folder in the config") from None
    return folder


def scheduled_backup(config: Config, database: Path, now: datetime) -> tuple[Backup, list[Path]]:
    """The daemon's backup: a dated file in `[backup] folder` (created if need
    be), then all but the `keep` newest deleted. Returns it and those deleted."""
    folder = backup_folder(config, database)
    remove_abandoned(folder, database)
    written = write_backup(database, folder, now)
    return written, prune_backups(folder, database, config.backup.keep)


ABANDONED_AFTER_SECONDS = 86400


def remove_abandoned(folder: Path, database: Path) -> list[Path]:
    """Delete the temporary files of backups into `folder` that never finished
    (the process was killed while writing: a copy as large as the database) and
    are a day old, so none is still being written. Returns those deleted."""
    name = re.compile(r"\." + re.escape(database.stem) + r"-\d{8}-\d{6}"
                      + re.escape(BACKUP_SUFFIX) + r"\.\d+\.[0-9a-f]+\.tmp")
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    removed = []
    for path in folder.iterdir():
        try:
            if name.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def write_backup(database: Path, destination: Path, now: datetime) -> Backup:
    """Write a checked copy of the tracker database at `database` to
    `destination` (a file, or a folder for a dated file).

    It reads through a connection of its own, which a daemon's poll does not
    wait for. BackupError, with nothing at the destination changed, when it
    cannot be written."""
    started = time.monotonic()
    target = backup_path(destination, database, now)
    _check_target(target, database)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        copy_database(database, temporary)
        items = checked_item_count(temporary)
        os.chmod(temporary, stat.S_IMODE(database.stat().st_mode))
        _flush(temporary)
        os.replace(temporary, target)
        _flush(target.parent)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"{target}: the backup could not be written ({reason(exc)}); "
                          "the database is unchanged"
                          + (" and so is the earlier backup there" if target.exists() else "")
                          ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return Backup(target, items, target.stat().st_size, time.monotonic() - started)


@dataclass(frozen=True)
class Restored:
    """A backup put in place: how many items the database now holds, and where
    the database it replaced was moved (None: there was none)."""

    items: int
    replaced: Path | None


def restore_backup(backup: Path, database: Path, now: datetime) -> Restored:
    """Put a checked copy of `backup` in place of the database at `database`.

    Nothing may have the database open (the caller holds its lock, so no
    daemon runs). The database it replaces is not deleted: it is moved aside,
    renamed `<name>.replaced-<now>` with its -wal and -shm files, so that it
    still opens with everything it held (a restore chosen by mistake is undone
    by moving it back). BackupError, with nothing changed, when the backup is
    not a sound tracker database or the copy cannot be written."""
    if not backup.is_file():
        raise BackupError(f"{backup}: no such file; name a backup written by tracker backup")
    if database.exists() and backup.resolve() == database.resolve():
        raise BackupError(f"{backup}: that is the database itself; name a backup")
    temporary = database.with_name(f".{database.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            copy_database(backup, temporary)
            items = checked_item_count(temporary)
        except sqlite3.Error as exc:
            raise BackupError(f"{backup}: not a sound tracker backup ({exc}); nothing was "
                              "changed") from None
        try:
            if database.exists():
                os.chmod(temporary, stat.S_IMODE(database.stat().st_mode))
            _flush(temporary)
            replaced = _move_aside(database, now)
            try:
                os.replace(temporary, database)
            except OSError:
                if replaced is not None:
                    _move(replaced, database)
                raise
            _flush(database.parent)
        except OSError as exc:
            raise BackupError(f"{database}: the backup could not be put in place "
                              f"({reason(exc)}); the database is as it was") from None
    finally:
        temporary.unlink(missing_ok=True)
    return Restored(items, replaced)


def _move_aside(database: Path, now: datetime) -> Path | None:
    """Move a database out of the way, whole: its write-ahead log checkpointed
    into it when SQLite can, and whatever -wal and -shm files remain moved
    with it under the same new name."""
    if not database.exists():
        return None
    with contextlib.suppress(sqlite3.Error):  # a damaged one is moved as it is, log and all
        checkpoint(database)
    aside = database.with_name(f"{database.name}.replaced-{now:%Y%m%d-%H%M%S}")
    _move(database, aside)
    return aside


def _move(source: Path, target: Path) -> None:
    """Rename a database file with its -wal and -shm files (those there are)."""
    for suffix in ("-wal", "-shm"):
        companion = source.with_name(source.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    os.replace(source, target)


def dated_backups(folder: Path, database: Path) -> list[Path]:
    """The dated backups of `database` in `folder` (`backup_path`'s names), oldest first."""
    name = re.compile(re.escape(database.stem) + r"-\d{8}-\d{6}" + re.escape(BACKUP_SUFFIX))
    return sorted(path for path in folder.iterdir()
                  if name.fullmatch(path.name) and path.is_file())


def prune_backups(folder: Path, database: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest dated backups of `database` in `folder`;
    returns those deleted. Other files in the folder are never touched."""
    backups = dated_backups(folder, database)
    removed = []
    for path in backups[:max(0, len(backups) - keep)]:
        try:
            path.unlink()
        except OSError:  # gone already, or not ours to delete: tried again next time
            continue
        removed.append(path)
    return removed


def _check_target(target: Path, database: Path) -> None:
    """Refuse a destination that cannot take a backup, before any work: a missing
    folder, the database itself, or another database in use (its -wal file
    beside it: replacing the main file under a live WAL would corrupt it)."""
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder; create it first, or name "
                          "an existing folder or a file in one")
    if target.exists() and target.resolve() == database.resolve():
        raise BackupError(f"{target}: that is the database itself; name another file "
                          "or a folder")
    for suffix in ("-wal", "-shm"):
        if target.with_name(target.name + suffix).exists():
            raise BackupError(f"{target}: a database in use (its {suffix[1:]} file is "
                              "beside it); back up to another file, or stop what uses it "
                              "first")
    if target.is_file() and target.stat().st_size and not _is_sqlite(target):
        raise BackupError(f"{target}: not an SQLite database, and a backup would replace "
                          "it; name a new file or a folder")


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def _flush(path: Path) -> None:
    """fsync a file or a folder (the rename's entry in it)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
