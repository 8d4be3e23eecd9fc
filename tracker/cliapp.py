"""What every `tracker` command is handed: the `App` (config, store and
service, each built once and only when first asked for, so `--help` works
without a config file) and the output helpers several command modules share.
rich is imported only by the commands that draw with it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload
from zoneinfo import ZoneInfo

import click

from tracker.arenas import limit_arenas
from tracker.config import Config, load_config, parse_duration
from tracker.errors import ConfigError
from tracker.models import Period
from tracker.query import QuerySyntaxError, parse_query
from tracker.store import Store

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tracker.configfile import ConfigFile
    from tracker.service import TrackerService


PROJECT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "tracker.toml"


def default_config_path() -> Path:
    """./config/tracker.toml when run from a checkout, else the project's own."""
    local = Path("config") / "tracker.toml"
    return local if local.is_file() else PROJECT_CONFIG


def default_db_path() -> Path:
    """The user's data directory (XDG), or ./tracker.db where there is no home."""
    data_home = os.environ.get("XDG_DATA_HOME")
    if data_home:
        return Path(data_home) / "tracker" / "tracker.db"
    home = os.environ.get("HOME")
    if home and Path(home).is_dir():
        return Path(home) / ".local" / "share" / "tracker" / "tracker.db"
    return Path("tracker.db")


@dataclass
class App:
    """What every command needs, built once and only when first asked for."""

    config_path: Path
    db_path: Path
    _config: Config | None = None
    _store: Store | None = None
    _closers: list[object] = field(default_factory=list)

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            _ = self.config  # an invalid config must stop us before the database is touched
            # A StoreError (not a database, another application's, no room) becomes
            # the command's one-line error in `tracker.cli.TrackerGroup`.
            self._store = Store.open(self.db_path)
        return self._store

    @contextmanager
    def service(self) -> Iterator[TrackerService]:
        service = self.make_service(self.config, self.store)
        try:
            yield service
        finally:
            service.close()

    def make_service(self, config: Config, store: Store) -> TrackerService:
        """A service with its own HTTP client and parser processes (close() them).
        Imported here: the commands that only read the archive never load httpx,
        its TLS stack or the parsers, a third of a reading command's start."""
        from tracker.fetch import Fetcher
        from tracker.parsepool import ParserPool
        from tracker.service import TrackerService

        limit_arenas()  # before its threads start allocating
        settings = config.fetch
        return TrackerService(
            config, store,
            Fetcher(settings, config.allow_private_networks, config.allow_addresses),
            parser=ParserPool(settings.parse_workers, settings.parse_timeout,
                              settings.parse_memory_mb))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


pass_app = click.make_pass_decorator(App)


def output_console(pipe_width: int) -> Console:
    """The terminal's width on a terminal; when piped (cron mail, logs), the
    width COLUMNS asks for, else a fixed one."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) >= 40 else pipe_width,
                   highlight=False)


def plain_table() -> Table:
    """A table without borders: it reads the same in a terminal, a pipe and cron mail."""
    from rich.table import Table

    return Table(box=None, pad_edge=False, show_edge=False, header_style="bold")


def escape(text: str) -> str:
    """Text shown literally in rich markup. rich is imported by the commands
    that draw tables only, not by `poll` and `run`."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@contextmanager
def config_errors(prefix: str = "") -> Iterator[None]:
    """A config problem becomes the command's error message (exit status 1)."""
    try:
        yield
    except ConfigError as exc:
        raise click.ClickException(f"{prefix}{exc}") from None


def edit_config(app: App) -> ConfigFile:
    """The config file, to edit in place (it must be valid first)."""
    from tracker.configfile import ConfigFile

    _ = app.config
    with config_errors():
        return ConfigFile(app.config_path)


def save_config(app: App, edited: ConfigFile, done: str) -> Config:
    """Validate and write the edited config file, say `done`, and have the
    daemon running on this database reload it."""
    from tracker.reload import reload_running_daemon

    with config_errors("not saved: "):
        config = edited.save()
    click.echo(done)
    told = reload_running_daemon(app.db_path, lambda: app.store.heartbeat())
    if told:
        click.echo(told)
    return config


def refresh_topic_feeds(app: App, config: Config | None = None) -> None:
    """The topic feeds say what the matches now are, not what the next poll will
    (under `config` when the command has just changed it)."""
    from tracker.topicfeeds import not_written, write_topic_feeds

    config = config or app.config
    try:
        written = write_topic_feeds(app.store, config, app.db_path)
    except OSError as exc:
        raise click.ClickException(not_written(config, app.db_path, exc)) from None
    if written:
        click.echo(f"topic feeds rewritten: {', '.join(path.name for path in written)}")


def check_topics(config: Config, names: list[str]) -> None:
    """Each of `names` must be a configured topic: a typo would show nothing."""
    known = [topic.name for topic in config.topics]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.UsageError(f"no such topic: {', '.join(unknown)} "
                               f"(configured: {', '.join(known) or 'none'})")


def period_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--from` and `--to`: the dates the items must be dated in (`parse_period`)."""
    command = click.option(
        "--to", "dated_to", metavar="WHEN",
        help="Only items dated up to then (a whole day for a date): as --from.")(command)
    return click.option(
        "--from", "dated_from", metavar="WHEN",
        help="Only items dated (published, else first seen) from then: "
             f"{SINCE_HELP}.")(command)


def parse_period(start: str | None, end: str | None, timezone: str = "UTC",
                 now: datetime | None = None) -> Period | None:
    """`--from` and `--to` values as a Period (None when neither is given). A
    date given to --to is its whole day: `--from 2022-09-01 --to 2022-09-30`
    is September."""
    if start is None and end is None:
        return None
    period = Period(parse_since(start, timezone, now), _parse_until(end, timezone, now))
    if period.start is not None and period.end is not None and period.start >= period.end:
        raise click.BadParameter(f"--to {end} is not after --from {start}: nothing is dated "
                                 "in between")
    return period


def _parse_until(value: str | None, timezone: str, now: datetime | None) -> datetime | None:
    """The first moment after `value` (`parse_since`'s forms): the next midnight
    for a date, the next second for a time (stored times have whole seconds)."""
    when = parse_since(value, timezone, now)
    if when is None or value is None:
        return None
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return when + timedelta(seconds=1)
    return when + timedelta(days=1)


SINCE_HELP = ("a date (YYYY-MM-DD, midnight in the config's timezone), a date and time, "
              "or a span back from now such as 36h, 7d or 2w")


@overload
def parse_since(value: str, timezone: str = ..., now: datetime | None = ...) -> datetime: ...
@overload
def parse_since(value: None, timezone: str = ..., now: datetime | None = ...) -> None: ...
@overload
def parse_since(value: str | None, timezone: str = ...,
                now: datetime | None = ...) -> datetime | None: ...


def parse_since(value: str | None, timezone: str = "UTC",
                now: datetime | None = None) -> datetime | None:
    """A `--since` value (`SINCE_HELP`). A date is the reader's own day, as the
    digest shows times in `timezone`: 1 July means midnight in London, not in
    UTC. A span (`7d`) is what people type to an alerting tool for "lately";
    a bare number is refused rather than guessed (a year? seconds?)."""
    if value is None:
        return None
    text = value.strip()
    if text and not text.isdigit():
        try:
            span = parse_duration(text)
        except ValueError:
            pass
        else:
            return (now or datetime.now(UTC)) - timedelta(seconds=span)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date such as 2026-11-01 or a span back from now "
            "such as 36h, 7d or 2w") from None
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(timezone))


def checked_query(query: str, aliases: Any) -> str:
    """`query` when it parses in the topic language, else the usage error that
    says where it went wrong."""
    try:
        parse_query(query, aliases)
    except QuerySyntaxError as exc:
        raise click.UsageError(f"invalid query {query!r}: {exc}") from None
    return query
