"""`tracker run`: the scheduled daemon. The only module that knows APScheduler.

* One poll job, rescheduled after every run for the earliest next due time of
  any feed (kept in the database, so a restart neither re-polls everything at
  once nor forgets a backoff), and at least once a minute.
* A heartbeat job writing pid, last beat, last poll and next run to the
  database, which `tracker status` reads.
* Hard deadlines live inside the poll (each fetch and parse is bounded), since
  APScheduler cannot stop a hung job.
* SIGTERM/SIGINT: stop scheduling, let the poll in flight finish within a grace
  period (fetches not yet started are skipped), exit 0. SIGHUP: reload the
  config, validated first; a bad config is reported and the old one kept.
* One daemon per database: an exclusive lock on `<db>.lock` (tracker.dblock),
  released by the operating system when the process dies, so a new daemon
  takes over from a dead one at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from tracker.backup import scheduled_backup
from tracker.briefing import (
    mailer_for,
    send_digest,
)
from tracker.config import Config, NamedDigest, beside_database, digest_label
from tracker.dblock import DatabaseLock
from tracker.errors import BackupError, ConfigError, DeliveryError, StoreError
from tracker.memtrim import release_free_memory
from tracker.service import TrackerService, alert_after_poll
from tracker.store import Store
from tracker.timefmt import utc_now
from tracker.wording import counted

log = logging.getLogger("tracker.daemon")

DIGEST_RETRY = timedelta(minutes=15)  # the first retry of a digest not delivered
DIGEST_RETRY_LONGEST = timedelta(hours=4)
HEARTBEAT_SECONDS = 15  # tracker.report.HEARTBEAT_STALE_AFTER must stay well above this
MAX_POLL_WAIT_SECONDS = 60
STOP_GRACE_SECONDS = 20


def digest_trigger(config: Config, named: NamedDigest | None = None) -> CronTrigger:
    """The digest job's trigger, the main digest's or `named`'s (ConfigError
    for an invalid schedule)."""
    if named is None:
        return _cron_trigger(config, "digest.schedule", config.digest.schedule)
    return _cron_trigger(config, f"digests.{named.name}.schedule", named.settings.schedule)


def backup_trigger(config: Config) -> CronTrigger:
    """The backup job's trigger (ConfigError for an invalid schedule)."""
    return _cron_trigger(config, "backup.schedule", config.backup.schedule)


def _cron_trigger(config: Config, key: str, expression: str) -> CronTrigger:
    """A cron expression in the config's time zone. CronTrigger works in that
    zone, so 07:00 stays 07:00 across DST changes."""
    try:
        return CronTrigger.from_crontab(expression, timezone=ZoneInfo(config.timezone))
    except ValueError as exc:
        raise ConfigError(f"{config.path}: {key} {expression!r} is not a valid cron "
                          f"expression: {exc}") from None


def check_schedules(config: Config) -> None:
    """Every cron expression of the config, before the daemon runs it."""
    digest_trigger(config)
    for named in config.digests:
        digest_trigger(config, named)
    backup_trigger(config)


def file_identity(path: Path) -> tuple[int, int] | None:
    """Which file a path names (device and inode); None when there is none."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


class Daemon:
    """Runs polls on schedule until told to stop."""

    def __init__(self, db_path: Path, load: Callable[[], Config],
                 make_service: Callable[[Config, Store], TrackerService]) -> None:
        self.db_path = db_path
        self.load = load
        self.make_service = make_service
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.pid = os.getpid()
        self.lock = DatabaseLock(db_path)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self.scheduler.add_listener(self._job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self.config: Config | None = None
        self.service: TrackerService | None = None
        self.poll_store: Store | None = None
        self.beat_store: Store | None = None
        self.poll_lock = threading.Lock()
        # The wait before the last retry of each digest not delivered, by name
        # ("": the main digest).
        self.digest_retry: dict[str, timedelta] = {}

    # -- lifecycle ---------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the process exit status."""
        self._install_signals()
        self.lock.acquire()
        try:
            self.config = self.load()
            check_schedules(self.config)
            self.poll_store = Store.open(self.db_path)
            self.beat_store = Store.open(self.db_path)
            self.service = self.make_service(self.config, self.poll_store)
            self.beat_store.beat(self.pid, utc_now(), started=utc_now())
            log.info("tracker daemon started (pid %d): %d feeds, %d topics; database %s%s",
                     self.pid, len(self.config.feeds), len(self.config.topics), self.db_path,
                     self._backups_text())
            self.scheduler.add_job(self._beat, "interval", seconds=HEARTBEAT_SECONDS,
                                   id="heartbeat")
            self.scheduler.add_job(self._poll, "date", run_date=utc_now(), id="poll")
            self._schedule_digest()
            self._schedule_backup()
            self.scheduler.start()
            status = 0
            database_file = file_identity(self.db_path)
            while not self.stop_requested.is_set():
                self.stop_requested.wait(timeout=1.0)
                if file_identity(self.db_path) != database_file:
                    self._database_gone()
                    status = 1
                    break
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self._reload()
            self._stop()
            return status
        finally:
            self.lock.release()

    def _database_gone(self) -> None:
        """The database file was moved, deleted or replaced: writing on into the
        file the daemon has open would go where no command reads."""
        log.error("%s was deleted, moved or replaced while the daemon had it open; stopping, "
                  "so that nothing more is written where no command reads it. Start tracker "
                  "run again (after putting the old file back, if it was moved by mistake)",
                  self.db_path)
        self.stop_requested.set()
        if self.service is not None:
            self.service.stopping.set()

    def _install_signals(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.stop_requested.set()
            if self.service is not None:
                self.service.stopping.set()

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def _stop(self) -> None:
        """Stop scheduling; give the poll in flight a grace period, then leave."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        finished = self.poll_lock.acquire(timeout=STOP_GRACE_SECONDS)
        if not finished:
            log.warning("the poll in flight did not finish within %ds; abandoning it "
                        "(everything stored so far is committed)", STOP_GRACE_SECONDS)
        assert self.beat_store is not None
        self.beat_store.beat(self.pid, utc_now(), stopped=True)
        if finished:
            assert self.service is not None
            self.service.close()
            self.poll_lock.release()
        log.info("tracker daemon stopped")

    def _reload(self) -> None:
        try:
            config = self.load()
            check_schedules(config)
        except ConfigError as exc:
            log.error("config reload refused, still running the previous config: %s", exc)
            return
        with self.poll_lock:
            assert self.poll_store is not None and self.service is not None
            self.service.close()
            self.config = config
            self.service = self.make_service(config, self.poll_store)
        log.info("config reloaded: %d feeds, %d topics", len(config.feeds), len(config.topics))
        self._schedule_poll(utc_now())
        self._schedule_digest()
        self._schedule_backup()

    # -- jobs --------------------------------------------------------------

    def _poll(self) -> None:
        next_run = utc_now() + timedelta(seconds=MAX_POLL_WAIT_SECONDS)
        try:
            with self.poll_lock:
                if self.stop_requested.is_set():
                    return
                assert self.service is not None and self.poll_store is not None
                try:
                    summary = self.service.poll()
                except StoreError as exc:  # a full disk: said once a cycle, not as a traceback
                    log.error("poll stopped: %s", exc)
                    return
                if summary.feeds_polled or summary.feeds_deferred:
                    log.info("poll: %s", summary.line())
                if offline := summary.offline():
                    log.warning("%s", offline)
                self._alert()
                if summary.changed_topics:
                    log.info("topic queries changed: %s; run `tracker topics rematch` to "
                             "re-evaluate the archive", ", ".join(summary.changed_topics))
                next_due = self.poll_store.next_due()
                if next_due is not None:
                    next_run = min(next_run, max(next_due, utc_now() + timedelta(seconds=1)))
                assert self.beat_store is not None
                self.beat_store.beat(self.pid, utc_now(), last_poll=summary.line(),
                                     next_poll=next_run)
        finally:
            release_free_memory()  # what the poll freed, while the daemon waits for the next
            if not self.stop_requested.is_set():
                self._schedule_poll(next_run)

    def _alert(self) -> None:
        """What the poll brought the alerting topics and the followed
        storylines, sent after it (in the poll's turn: one message at a time)."""
        assert self.config is not None and self.poll_store is not None
        for how, message in alert_after_poll(self.config, self.poll_store, self.db_path,
                                             utc_now()):
            # A held alert is said once a poll: worth a line only with -v.
            level = {"sent": logging.INFO, "held": logging.DEBUG}.get(how, logging.ERROR)
            log.log(level, "%s", message)

    def _schedule_poll(self, when: datetime) -> None:
        self.scheduler.add_job(self._poll, "date", run_date=when, id="poll",
                               replace_existing=True)

    def _schedule_digest(self) -> None:
        """A job for the main digest and one for each `[digests.NAME]`; those of
        names a reload took out of the config are removed."""
        assert self.config is not None
        self.scheduler.add_job(self._digest, digest_trigger(self.config), id="digest",
                               replace_existing=True, misfire_grace_time=3600)
        names = {named.name for named in self.config.digests}
        for job in self.scheduler.get_jobs():
            name = job.id.partition(":")[2]
            if job.id.startswith(("digest:", "digest-retry:")) and name not in names:
                job.remove()
        for named in self.config.digests:
            self.scheduler.add_job(self._digest, digest_trigger(self.config, named),
                                   args=[named.name], id=f"digest:{named.name}",
                                   replace_existing=True, misfire_grace_time=3600)

    def _digest(self, name: str = "") -> None:
        """Send the main digest, or the named one (looked up in the config as it
        stands: a reload may have changed it)."""
        with self.poll_lock:
            if self.stop_requested.is_set():
                return
            assert self.config is not None and self.poll_store is not None
            named = self.config.named_digest(name) if name else None
            if name and named is None:
                return  # taken out of the config since this run was scheduled
            label = digest_label(named)
            try:
                result = send_digest(self.poll_store, self.config,
                                     mailer_for(self.config, self.db_path, named), utc_now(),
                                     named)
            except (DeliveryError, StoreError) as exc:
                self._retry_digest(name, label, exc)
                return
            finally:
                release_free_memory()
            self.digest_retry.pop(name, None)
            log.info("%s: %s", label, result.message)

    def _retry_digest(self, name: str, label: str, exc: Exception) -> None:
        """A digest the mail server refused (or never answered) is tried again in
        15 minutes, then 30, 60 ... up to 4 hours apart, not only at its next
        scheduled time, a day later: a mail server's minutes of trouble should
        not cost a day's digest."""
        wait = self.digest_retry.get(name)
        wait = DIGEST_RETRY if wait is None else min(wait * 2, DIGEST_RETRY_LONGEST)
        self.digest_retry[name] = wait
        when = utc_now() + wait
        log.error("%s not delivered (it stays pending, tried again at %s UTC): %s",
                  label, when.strftime("%H:%M"), exc)
        self.scheduler.add_job(self._digest, "date", run_date=when, args=[name],
                               id=f"digest-retry:{name}" if name else "digest-retry",
                               replace_existing=True)

    def _schedule_backup(self) -> None:
        """The backup job when `[backup] folder` is set; none otherwise (a reload
        may have turned it off)."""
        assert self.config is not None
        if self.config.backup.folder is None:
            if self.scheduler.get_job("backup") is not None:
                self.scheduler.remove_job("backup")
            return
        self.scheduler.add_job(self._backup, backup_trigger(self.config), id="backup",
                               replace_existing=True, misfire_grace_time=3600)

    def _record_backup(self, now: datetime, path: Path | None = None, items: int = 0,
                       error: str | None = None) -> None:
        assert self.beat_store is not None
        try:
            self.beat_store.record_backup(now, path, items, error)
        except StoreError as exc:
            log.error("backup not recorded for tracker status: %s", exc)

    def _backups_text(self) -> str:
        assert self.config is not None
        settings = self.config.backup
        if settings.folder is None:
            return ""
        return (f"; backups to {beside_database(settings.folder, self.db_path)} at "
                f"{settings.schedule!r} ({self.config.timezone}), {settings.keep} kept")

    def _backup(self) -> None:
        """Runs beside polls, not between them: it reads through a connection
        of its own, and SQLite's WAL lets the poll write meanwhile."""
        assert self.config is not None and self.beat_store is not None
        now = utc_now()
        try:
            written, removed = scheduled_backup(self.config, self.db_path, now)
        except BackupError as exc:
            log.error("backup failed: %s", exc)
            self._record_backup(now, error=str(exc))
            return
        self._record_backup(now, written.path, written.items)
        deleted = f"; deleted {counted(len(removed), 'older backup')}" if removed else ""
        log.info("backup: %s%s", written.line(), deleted)

    def _beat(self) -> None:
        assert self.beat_store is not None
        try:
            self.beat_store.beat(self.pid, utc_now())
        except StoreError as exc:  # the poll reports a full disk; every 15 s would drown it
            log.debug("heartbeat not written: %s", exc)

    def _job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run time %s", event.job_id, event.scheduled_run_time)
        elif event.exception is not None:
            log.error("job %s failed: %s: %s", event.job_id, type(event.exception).__name__,
                      event.exception, exc_info=event.exception)
            if event.job_id == "poll" and not self.stop_requested.is_set():
                self._schedule_poll(utc_now() + timedelta(seconds=MAX_POLL_WAIT_SECONDS))

