"""`tracker backup` and `tracker restore`: a consistent, checked copy of the
database, and putting one back in its place (tracker.backup)."""

from __future__ import annotations

from pathlib import Path

import click

from tracker.backup import backup_folder, prune_backups, restore_backup, write_backup
from tracker.cliapp import App, pass_app
from tracker.dblock import AlreadyRunning, DatabaseLock
from tracker.errors import BackupError, StoreError
from tracker.timefmt import utc_now
from tracker.wording import counted


@click.command()
@click.argument("destination", type=click.Path(path_type=Path), required=False)
@click.option("--keep", type=click.IntRange(min=1),
              help="With a folder: keep this many newest backups of this database there, "
                   "deleting older ones.")
@pass_app
def backup(app: App, destination: Path | None, keep: int | None) -> None:
    """A consistent, checked copy of the database, safe while the daemon runs.

    DESTINATION is a file, replaced only once the new copy has been checked, or a
    folder, which gets a new dated file each time (tracker-20261126-030000.db).
    Without it, the config's [backup] folder, keeping its `keep` newest. Copying
    the database file instead can miss the newest items or mix two moments. Any
    tracker command reads a backup with --db.

    Example: tracker backup --keep 7 /var/backups/tracker/
    """
    if destination is None:
        settings = app.config.backup
        if settings.folder is None:
            raise click.UsageError("name a DESTINATION (a file or a folder), or set [backup] "
                                   "folder in the config")
        try:
            destination = backup_folder(app.config, app.db_path)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        keep = keep or settings.keep
    if keep is not None and not destination.is_dir():
        raise click.UsageError(f"--keep needs a folder; {destination} is not one")
    if not app.db_path.exists():
        raise click.ClickException(f"{app.db_path}: no database here yet, nothing to back "
                                   "up (pass --db, or set TRACKER_DB, to the one to copy)")
    store = app.store  # a file that is not a tracker database is refused, an old one migrated
    now = utc_now()
    try:
        written = write_backup(app.db_path, destination, now)
    except BackupError as exc:
        if not store.read_only:  # `tracker status` says so until one works
            store.record_backup(now, error=str(exc))
        raise click.ClickException(str(exc)) from None
    if not store.read_only:
        store.record_backup(now, written.path.absolute(), written.items)
    click.echo(written.line())
    if keep is not None:
        removed = prune_backups(destination, app.db_path, keep)
        if removed:
            click.echo(f"deleted {counted(len(removed), 'older backup')}, keeping {keep}")


@click.command()
@click.argument("backup_file", type=click.Path(path_type=Path))
@pass_app
def restore(app: App, backup_file: Path) -> None:
    """Put a backup in place of the database. Stop the daemon first (restore
    refuses while it runs) and any cron job that uses the database.

    The backup is checked before anything changes. The database it replaces is
    kept beside it, renamed tracker.db.replaced-20261126-153000 with its -wal and
    -shm files, so nothing is lost. The next poll fetches again what the feeds
    still carry from after the backup.

    Example: tracker restore /var/backups/tracker/tracker-20261126-033000.db
    """
    lock = DatabaseLock(app.db_path)
    try:
        lock.acquire()
    except (AlreadyRunning, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        restored = restore_backup(backup_file, app.db_path, utc_now())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        lock.release()
    click.echo(f"restored {counted(restored.items, 'item')} from {backup_file} into "
               f"{app.db_path}")
    if restored.replaced is not None:
        click.echo(f"the database it replaced is kept at {restored.replaced}")
