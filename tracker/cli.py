"""The `tracker` command line: parse arguments, call the service, format output.

The group builds one `App` (tracker.cliapp) lazily, so `--help` works without a
config file; commands stay thin. Here are the group, `poll`, `status`,
`export` and `run`; the other commands live in modules of their own: `feeds`
(tracker.cli_feeds), `search` and `topics` (cli_query), `show`, `related`,
`story` and `stories` (cli_stories), `digest` (cli_digest), follow and mute
(cli_follow), stars (cli_stars), backup and restore (cli_backup). Modules only
one command needs (APScheduler for `run`, Jinja2 and SMTP for `digest`, tomlkit
and OPML for `feeds`, exports, search) are imported inside that command, so
every invocation, a poll from cron most of all, starts faster and smaller.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import click

from tracker import __version__
from tracker.cli_backup import backup, restore
from tracker.cli_digest import digest
from tracker.cli_feeds import feeds
from tracker.cli_follow import follow, following, mute, muted, unfollow, unmute
from tracker.cli_query import search, topics
from tracker.cli_stars import star, starred, unstar
from tracker.cli_stories import related, show, stories, story
from tracker.cliapp import (
    SINCE_HELP,
    App,
    check_topics,
    checked_query,
    default_config_path,
    default_db_path,
    escape,
    output_console,
    parse_period,
    parse_since,
    pass_app,
    period_options,
    plain_table,
)
from tracker.config import Config, load_config
from tracker.dblock import DatabaseLock
from tracker.errors import ConfigError, StoreError
from tracker.models import FeedState
from tracker.reload import daemon_holding
from tracker.report import ago, config_drift, status_report
from tracker.timefmt import utc_now
from tracker.wording import counted

EXIT_NEEDS_ATTENTION = 1


class TrackerGroup(click.Group):
    """Commands whose database cannot be written (a full disk) end with the
    store's one-line message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              envvar="TRACKER_CONFIG", show_envvar=True,
              help="Config file (TOML). Default: ./config/tracker.toml or the project's.")
@click.option("--db", "db_path", type=click.Path(path_type=Path), envvar="TRACKER_DB",
              show_envvar=True,
              help="SQLite database file. Default: ~/.local/share/tracker/tracker.db.")
@click.option("-v", "--verbose", is_flag=True, help="Log per-feed detail to stderr.")
@click.version_option(__version__, prog_name="tracker")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, db_path: Path | None,
         verbose: bool) -> None:
    """tracker: watch defence-policy feeds, keep every item, report what is new."""
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    app = App(config_path or default_config_path(), db_path or default_db_path())
    ctx.obj = app
    ctx.call_on_close(app.close)


for command in (backup, digest, feeds, follow, following, mute, muted, related, restore, search,
                show, star, starred, stories, story, topics, unfollow, unmute, unstar):
    main.add_command(command)


@main.command()
@click.option("--all", "all_feeds", is_flag=True, help="Poll every feed now, due or not.")
@pass_app
def poll(app: App, all_feeds: bool) -> None:
    """Poll the feeds that are due once, store new items, print a summary, and
    email the new matches of topics with alert = true.

    Exits 0 when the poll ran, even if some feeds failed (see `tracker status`)
    or an alert could not be delivered (it is sent with the next poll).
    """
    with app.service() as service:
        summary = service.poll(all_feeds=all_feeds)
    click.echo(summary.line())
    if offline := summary.offline():
        click.echo(offline)
    for name, error in summary.failures:
        click.echo(f"  failed: {name}: {error}")
    if summary.topic_feeds_error:
        click.echo(summary.topic_feeds_error)
    _warn_changed_topics(summary.changed_topics)
    _send_alert(app)


def _send_alert(app: App) -> None:
    """After a poll, what it brought the alerting topics (`alert = true`) and the
    followed storylines, as the daemon sends it: a poll run from cron alerts too."""
    from tracker.service import alert_after_poll

    for _, message in alert_after_poll(app.config, app.store, app.db_path, utc_now()):
        click.echo(message)


def _warn_changed_topics(names: list[str]) -> None:
    if names:
        click.echo(f"  note: the query of {', '.join(names)} changed; new items use the new "
                   "query, the archive keeps the old matches until `tracker topics rematch`",
                   err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Show each feed's health, item counts and when it is next due.

    Exits 1 when something needs a person: a feed failing for more than a day,
    a feed the publisher removed (HTTP 410), a daemon that stopped beating, a
    digest or alert the mail server refused, or a backup that failed (until one
    works again).
    """
    now = utc_now()
    # A running daemon (or a restore) keeps the feeds: shown as the database has them.
    holder = DatabaseLock(app.db_path).holder()
    if not app.store.read_only and holder is None:
        app.store.sync_feeds(app.config.feeds, now)
    feeds = app.store.feeds()
    report = status_report(feeds, app.store.totals(), now, app.store.heartbeat(),
                           app.store.backup_state(), app.store.deliveries.failing_deliveries(),
                           app.store.deliveries.last_deliveries())
    daemon = daemon_holding(holder, app.store.heartbeat)
    drift = config_drift(app.config.feeds, feeds) if daemon is not None else ""
    report["config_not_taken"] = drift or None  # by the running daemon: "1 added, 1 removed"
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_status_table(feeds, report, now)
        if drift:
            click.echo(f"\nThe running daemon (pid {daemon}) polls the feeds above, not yet "
                       f"those of {app.config_path} (feeds {drift}); if that is its config, "
                       f"reload it: systemctl reload tracker, or kill -HUP {daemon}")
    if not report["ok"]:
        sys.exit(EXIT_NEEDS_ATTENTION)


def _problem_text(feed: FeedState, problem: str | None, quiet: str | None) -> str:
    """The last column (rich markup): what is wrong (`problem` and `quiet` as the
    status report worked them out), or why the next poll is not the usual one.
    Feed-derived text is escaped; only our own styles apply."""
    parts = []
    if problem:
        parts.append(f"[bold red]{escape(problem)}:[/]")
    if feed.consecutive_failures:
        parts.append(escape(f"[{feed.consecutive_failures}x]"))
    if feed.last_error:
        parts.append(escape(feed.last_error))
    elif feed.last_warning:
        parts.append(f"[yellow]warning:[/] {escape(feed.last_warning)}")
    if quiet:
        parts.append(f"[yellow]{escape(quiet)}[/]")
    if feed.due_reason and feed.due_reason != "interval" and not feed.gone_at:
        parts.append(escape(f"(next: {feed.due_reason})"))
    return " ".join(parts)


def _next_text(feed: FeedState, now: datetime) -> str:
    if feed.gone_at:
        return "never"
    if feed.paused:
        return "paused"
    if feed.next_due is None or feed.next_due <= now:
        return "due"
    return ago(feed.next_due, now)


def _http_text(feed: FeedState) -> str:
    if feed.last_status is None:
        return "-"
    if feed.last_not_modified and feed.last_status == 200:
        return "same"  # 200 with a body identical to the last one: not parsed again
    return str(feed.last_status)


STATUS_PROBLEMS_BESIDE = 120  # from this width problems are a column, below it lines of their own
STATUS_PROBLEM_MIN = 40


def _print_status_table(feeds: list[FeedState], report: dict[str, Any], now: datetime) -> None:
    console, table = output_console(80), plain_table()
    # One line per feed, so that the table can be read down and grepped: a
    # long name is cut (the whole of it is in --json and `tracker feeds list`).
    # A narrow console (80 columns when piped to cron mail) leaves too little
    # room for a problem beside the rest, so each one is a line under the table.
    beside = console.width >= STATUS_PROBLEMS_BESIDE
    rows, problems = [], []
    for feed, entry in zip(feeds, report["feeds"], strict=True):
        problems.append(_problem_text(feed, entry["problem"], entry["quiet"]))
        rows.append([escape(feed.name), "official" if feed.kind == "official" else "news",
                     _http_text(feed), ago(feed.last_success, now), str(feed.item_count),
                     ago(feed.newest_item, now), _next_text(feed, now)])
    headers = ["Feed", "Kind", "HTTP", "Last OK", "Items", "Newest", "Next"]
    others = sum(max(len(cell) for cell in column) + 2  # with the gap before each
                 for column in zip(headers[1:], *(row[1:] for row in rows), strict=True))
    room = console.width - others - (STATUS_PROBLEM_MIN if beside else 0)
    table.add_column("Feed", no_wrap=True, overflow="ellipsis", max_width=max(12, room))
    for header in headers[1:]:
        table.add_column(header, no_wrap=True, justify="right" if header == "Items" else "left")
    if beside:
        table.add_column("Problem", overflow="fold", min_width=STATUS_PROBLEM_MIN)
    for row, problem in zip(rows, problems, strict=True):
        table.add_row(*row, *([problem] if beside else []))
    console.print(table)
    below = [f"[bold]{row[0]}[/]: {problem}"
             for row, problem in zip(rows, problems, strict=True) if problem and not beside]
    if below:
        console.print()
    for line in below:
        console.print(line)
    daemon = report["daemon"]
    if daemon["state"] == "running":
        console.print(f"\nDaemon running (pid {daemon['pid']}), last beat "
                      f"{ago(datetime.fromisoformat(daemon['last_beat']), now)}; last poll: "
                      f"{escape(daemon['last_poll'] or 'none yet')}")
    elif daemon["state"] == "stopped":
        console.print(f"\nDaemon stopped cleanly at {daemon['stopped']}.")
    elif daemon["problem"]:
        console.print(f"\n[bold red]{escape(daemon['problem'])}[/]")
    else:
        console.print("\nDaemon never run: start it with `tracker run`.")
    for undelivered in report["undelivered"]:
        console.print(f"[bold red]{escape(undelivered['problem'])}[/]")
    if report["delivered"]:
        console.print("Last delivered: " + ", ".join(
            f"{row['label']} {ago(datetime.fromisoformat(row['delivered_at']), now)}"
            for row in report["delivered"]) + " (subjects in --json).")
    backup = report["backup"]
    if backup["problem"]:
        console.print(f"[bold red]{escape(backup['problem'])}[/]")
    elif backup["state"] == "ok":
        console.print(f"Last backup {ago(datetime.fromisoformat(backup['last_ok']), now)}: "
                      f"{escape(backup['path'])} ({counted(backup['items'], 'item')}).")
    totals = report["totals"]
    waiting = (f" ({totals['waiting_to_link']} waiting to be linked by the next poll)"
               if totals["waiting_to_link"] else "")
    console.print(f"{counted(totals['feeds'], 'feed')}, {totals['failing']} failing, "
                  f"{counted(totals['items'], 'item')} in "
                  f"{counted(totals['storylines'], 'storyline')}{waiting}; database "
                  f"{totals['database_bytes'] / 1_048_576:.1f} MB. "
                  "Bytes, timings and URLs: tracker status --json")
    if report["needs_attention"]:
        console.print(f"[bold red]Needs attention:[/] "
                      f"{escape(', '.join(report['needs_attention']))}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "atom", "jsonfeed"]),
              default="jsonl", show_default=True, help="Output format.")
@click.option("--topic", help="Only items that matched this topic.")
@click.option("--query", help="Only items matching this query, in the topic language (as "
                              "tracker search finds them).")
@click.option("--since", help=f"Only items first seen since then: {SINCE_HELP}.")
@period_options
@click.option("--starred", "only_starred", is_flag=True, help="Only starred items (tracker star).")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file instead of standard output.")
@pass_app
def export(app: App, fmt: str, topic: str | None, query: str | None, since: str | None,
           dated_from: str | None, dated_to: str | None, only_starred: bool,
           output: TextIO) -> None:
    """Export stored items with the topics they matched, their storyline and the
    earlier stories they relate to: JSON lines (one object per item), CSV for
    spreadsheets, or an Atom 1.0 / JSON Feed 1.1 document that any feed reader can
    subscribe to (topics as categories, related stories as links).

    \b
    Example:
      tracker export --query '"Storm Shadow"' --from 2022-01-01 --format csv -o storm.csv
    """
    from tracker.archive import export_records, find
    from tracker.exports import atom, csv_text, json_feed

    check_topics(app.config, [] if topic is None else [topic])
    chosen = None if topic is None else app.store.matched_ids(topic)
    if only_starred:
        starred_ids = set(app.store.marks.stars())
        chosen = starred_ids if chosen is None else chosen & starred_ids
    period = parse_period(dated_from, dated_to, app.config.timezone)
    if query is not None:  # every match, not a page of them as search shows
        checked_query(query, app.config.aliases)
        with closing(find(app.store, query, app.config.aliases,
                          parse_since(since, app.config.timezone), newest=True, period=period,
                          only=chosen)) as found:
            chosen = {hit.id for hit in found}
    items = list(app.store.items(parse_since(since, app.config.timezone), ids=chosen,
                                 period=period))
    records = export_records(app.store, items,
                             whole_archive=chosen is None and since is None and period is None)
    chosen_by = [part for part in ("starred" if only_starred else None, topic) if part]
    title = f"tracker: {' '.join(chosen_by).replace('_', ' ') or 'all items'}"
    if query is not None:
        title = f"tracker: {query}" + (f" ({' '.join(chosen_by)})" if chosen_by else "")
        chosen_by.append(f"search/{quote(query, safe='')}")
    if fmt == "jsonl":
        for record in records:
            output.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        output.write(csv_text(records))
    elif fmt == "atom":
        newest = list(reversed(records))
        key = "/".join(chosen_by) or "all"
        output.write(atom(newest, title, f"tag:tracker,2026:export/{key}", utc_now()))
    else:
        output.write(json_feed(list(reversed(records)), title) + "\n")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="seconds"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@main.command()
@click.option("--log-json", is_flag=True, help="Log one JSON object per line instead of text.")
@pass_app
@click.pass_context
def run(ctx: click.Context, app: App, log_json: bool) -> None:
    """The daemon, in the foreground: poll each feed when it is due, until SIGINT or
    SIGTERM (exit 0). SIGHUP reloads the config; a bad one is reported and the old
    one kept. One line is logged per poll cycle and per notable event; -v adds
    per-feed detail."""
    from tracker.daemon import Daemon
    from tracker.dblock import AlreadyRunning

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if log_json else logging.Formatter(
        "%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers = [handler]
    # The libraries say only what goes wrong (APScheduler's jobs, httpx's every
    # request and tzlocal's reading of /etc/timezone are noise in a daemon's
    # log); -v is tracker's own per-feed detail.
    root.setLevel(logging.WARNING)
    logging.getLogger("tracker").setLevel(
        logging.DEBUG if ctx.parent and ctx.parent.params.get("verbose") else logging.INFO)
    _ = app.config  # refuse a bad config before anything starts

    def load() -> Config:
        return load_config(app.config_path)

    daemon = Daemon(app.db_path, load, app.make_service)
    try:
        sys.exit(daemon.run())
    except (AlreadyRunning, ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    main()
