"""The `tracker` command line: parse arguments, call the service, format output.

The group builds one `App` (tracker.cliapp) lazily, so `--help` works without a
config file; commands stay thin. The `feeds` group (tracker.cli_feeds) and the
query commands, `search` and `topics` (tracker.cli_query), live in modules of
their own. Modules only one command needs (APScheduler for `run`, Jinja2 and
SMTP for `digest`, tomlkit and OPML for `feeds`, exports, search) are imported
inside that command, so every invocation, a poll from cron most of all, starts
faster and smaller.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import click

from tracker import __version__
from tracker.cli_backup import backup, restore
from tracker.cli_feeds import feeds
from tracker.cli_follow import follow, following, mute, muted, unfollow, unmute
from tracker.cli_query import search, topics
from tracker.cli_stars import star, starred, unstar
from tracker.cliapp import (
    SINCE_HELP,
    App,
    check_topics,
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
from tracker.config import Config, DigestSettings, NamedDigest, digest_label, load_config
from tracker.diffing import render_diff, word_diff
from tracker.errors import ConfigError, DeliveryError, StoreError
from tracker.models import FeedState
from tracker.report import ago, continues_text, status_report
from tracker.service import alert_after_poll, utc_now
from tracker.timefmt import local_day, local_time, to_text
from tracker.wording import counted, span

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


for command in (backup, feeds, follow, following, mute, muted, restore, search, star, starred,
                topics, unfollow, unmute, unstar):
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
    if not app.store.read_only:  # else the feeds as the database last knew them
        app.store.sync_feeds(app.config.feeds, now)
    feeds = app.store.feeds()
    report = status_report(feeds, app.store.totals(), now, app.store.heartbeat(),
                           app.store.backup_state(), app.store.deliveries.failing_deliveries(),
                           app.store.deliveries.last_deliveries())
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_status_table(feeds, report, now)
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
@click.option("--since", help=f"Only items first seen since then: {SINCE_HELP}.")
@period_options
@click.option("--starred", "only_starred", is_flag=True, help="Only starred items (tracker star).")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file instead of standard output.")
@pass_app
def export(app: App, fmt: str, topic: str | None, since: str | None, dated_from: str | None,
           dated_to: str | None, only_starred: bool, output: TextIO) -> None:
    """Export stored items with the topics they matched, their storyline and the
    earlier stories they relate to: JSON lines (one object per item), CSV for
    spreadsheets, or an Atom 1.0 / JSON Feed 1.1 document that any feed reader can
    subscribe to (topics as categories, related stories as links)."""
    from tracker.archive import export_records
    from tracker.exports import atom, csv_text, json_feed

    check_topics(app.config, [] if topic is None else [topic])
    chosen = None if topic is None else app.store.matched_ids(topic)
    if only_starred:
        starred_ids = set(app.store.marks.stars())
        chosen = starred_ids if chosen is None else chosen & starred_ids
    period = parse_period(dated_from, dated_to, app.config.timezone)
    items = list(app.store.items(parse_since(since, app.config.timezone), ids=chosen,
                                 period=period))
    records = export_records(app.store, items,
                             whole_archive=chosen is None and since is None and period is None)
    chosen_by = [part for part in ("starred" if only_starred else None, topic) if part]
    title = f"tracker: {' '.join(chosen_by).replace('_', ' ') or 'all items'}"
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


@main.command()
@click.argument("item_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: App, item_id: int, as_json: bool) -> None:
    """One item: its sources, topics, text, and for an edited announcement every
    earlier version with a word-level diff ([-removed-] {+added+})."""
    item = app.store.item(item_id)
    if item is None:
        raise click.ClickException(f"no item {item_id} (ids are in search, export and digests)")
    revisions = app.store.revisions(item_id)
    versions = [*revisions, item]
    changes = []
    for before, after in pairwise(versions):
        changes.append({
            "replaced_at": before["replaced_at"],
            "title": render_diff(word_diff(before["title"], after["title"])),
            "summary": render_diff(word_diff(before["summary"], after["summary"])),
        })
    kept = app.store.marks.stars([item_id]).get(item_id)
    if as_json:
        click.echo(json.dumps({**{k: item[k] for k in (
            "id", "title", "url", "feed", "kind", "seen_in", "published", "updated",
            "first_seen", "revised_at", "summary", "topics", "storyline_id")},
            "starred": kept, "revisions": changes},
            indent=2, ensure_ascii=False))
        return
    def when(text: str | None) -> str:
        return local_time(text, app.config.timezone) or "-"

    click.echo(f"#{item['id']} {item['title']}")
    click.echo(f"  {item['feed']} ({item['kind']}); seen in: {', '.join(item['seen_in'])}")
    click.echo(f"  published {when(item['published'])}, first seen {when(item['first_seen'])}"
               + (f", edited {when(item['revised_at'])}" if item["revised_at"] else ""))
    if item["url"]:
        click.echo(f"  {item['url']}")
    if item["topics"]:
        click.echo("  topics: " + "; ".join(
            f"{t['name']} ({', '.join(t['terms'])})" for t in item["topics"]))
    if item["storyline_id"]:
        mark = app.store.marks.storyline_mark(item["storyline_id"])
        click.echo(f"  storyline {item['storyline_id']}{f' ({mark})' if mark else ''}: "
                   f"tracker related {item['id']}, tracker story {item['storyline_id']}"
                   + ("" if mark == "followed" else f", tracker follow {item['storyline_id']}"))
    thread = continues_text(app.store.links.continues([item_id]).get(item_id),
                            ZoneInfo(app.config.timezone))
    if thread:
        click.echo(f"  continues: {thread}")
    if kept:
        click.echo(f"  starred {when(kept['starred_at'])}" + (f": {kept['note']}" if kept["note"]
                                                         else ""))
    click.echo(f"\n{item['summary']}")
    for number, change in enumerate(changes, start=1):
        click.echo(f"\nEdit {number}, seen {when(change['replaced_at'])}:")
        click.echo(f"  title:   {change['title']}")
        click.echo(f"  summary: {change['summary']}")


@main.command()
@click.argument("item_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@pass_app
def related(app: App, item_id: int, as_json: bool) -> None:
    """The stories an item relates to: earlier items it continues and later ones
    that continue it, each with kind (same_story, follow_up, related), score, the
    time between them and the shared words; and its storyline."""
    item = app.store.item(item_id)
    if item is None:
        raise click.ClickException(f"no item {item_id} (ids are in search, export and digests)")
    links = app.store.links.related(item_id)
    story = app.store.links.storyline(item["storyline_id"]) if item["storyline_id"] else None
    if as_json:
        click.echo(json.dumps({
            "id": item_id, "title": item["title"], "storyline": _story_head(story),
            "links": links}, indent=2, ensure_ascii=False))
        return
    click.echo(f"#{item_id} {item['title']}")
    if story is not None:
        click.echo(f"  storyline {story['id']}: {story['title']} ({counted(story['size'], 'item')}"
                   + (", officially announced" if story["officially_announced"] else "")
                   + f"); tracker story {story['id']}")
    if not links:
        click.echo("  no related stories" + (" (it starts its storyline)"
                                               if story and story["first_item_id"] == item_id
                                               else ""))
    timezone = app.config.timezone
    for link in links:
        gap = abs(link["gap_days"])
        click.echo(f"  {link['kind']:<10} {link['score']:.2f}  #{link['id']} {link['title']}")
        click.echo(f"  {'':<16}{link['feed']}, {local_day(link['at'], timezone)}, "
                   f"{gap:.1f} days {link['direction']}; shared: {', '.join(link['shared'])}"
                   + ("; near-duplicate" if link["near_duplicate"] else "")
                   # A link across storylines: related only, or a follow-up that did
                   # not fit the other storyline as a whole.
                   + (f"; in storyline {link['storyline']}"
                      if link["storyline"] not in (None, item["storyline_id"]) else ""))


def _story_mark(mark: str | None, storyline_id: int) -> str:
    """Whether a storyline is followed or muted (`mark`), and how to change it."""
    if mark == "followed":
        return f"  followed: its new items are alerted (tracker unfollow {storyline_id})"
    if mark == "muted":
        return (f"  muted: its new items stay out of digests and alerts (tracker unmute "
                f"{storyline_id})")
    return f"  not followed (tracker follow {storyline_id} alerts its next step)"


def _story_head(story: dict[str, Any] | None) -> dict[str, Any] | None:
    if story is None:
        return None
    return {k: story[k] for k in ("id", "title", "size", "started", "updated",
                                  "officially_announced", "official_item_id", "first_item_id")}


@main.command()
@click.argument("storyline_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Markdown, to paste into a brief or a report.")
@pass_app
def story(app: App, storyline_id: int, as_json: bool, as_markdown: bool) -> None:
    """A storyline's timeline: its items oldest first, with their sources and how
    each joined (same_story: another report; follow_up: a later development).
    --markdown writes it to paste into a brief: dated, linked, attributed."""
    found = app.store.links.storyline(storyline_id)
    if found is None:
        raise click.ClickException(f"no storyline {storyline_id} (`tracker stories` lists "
                                   "those that moved; `tracker related ITEM` names an item's)")
    mark = app.store.marks.storyline_mark(storyline_id)
    if as_markdown:
        from tracker.markdown import story_markdown

        click.echo(story_markdown(found, app.config.timezone), nl=False)
        return
    if as_json:
        click.echo(json.dumps({**(_story_head(found) or {}), "about": found["about"],
                               "followed": mark == "followed", "muted": mark == "muted",
                               "items": found["items"]}, indent=2, ensure_ascii=False))
        return
    official = (f"; officially announced (#{found['official_item_id']})"
                if found["officially_announced"] else "")
    timezone = app.config.timezone
    click.echo(f"Storyline {found['id']}: {found['title']}")
    click.echo(f"  {counted(found['size'], 'item')}, {local_day(found['started'], timezone)} "
               f"to {local_day(found['updated'], timezone)}{official}")
    if found["about"]:
        click.echo(f"  about: {', '.join(found['about'])}")
    click.echo(_story_mark(mark, found["id"]))
    for entry in found["items"]:
        how = entry["joined_as"] or "first"
        click.echo(f"  {local_day(entry['at'], timezone)}  {how:<10} #{entry['id']} "
                   f"{entry['title']}")
        click.echo(f"  {'':<23}{entry['feed']} ({entry['feed_kind']})"
                   + (f"; also {', '.join(n for n in entry['seen_in'] if n != entry['feed'])}"
                      if len(entry["seen_in"]) > 1 else "")
                   + (f"; topics: {', '.join(entry['topics'])}" if entry["topics"] else ""))


@main.command()
@click.option("--since", help=f"Storylines with items first seen since then: {SINCE_HELP}. "
                              "Default: the last 7 days.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000),
              help="At most this many storylines.")
@click.option("--min-size", default=2, show_default=True, type=click.IntRange(1),
              help="Only storylines of at least this many items (1: single reports too).")
@click.option("--topic", help="Only storylines with an item, new or earlier, that matched "
                              "this topic.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array (stable keys).")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="For a weekly brief: each storyline (muted ones left out) with the items "
                   "it gained, dated and linked.")
@pass_app
def stories(app: App, since: str | None, limit: int, min_size: int, topic: str | None,
            as_json: bool, as_markdown: bool) -> None:
    """The storylines that moved: those that gained items lately, the ones that
    gained most first, each with what it is about and its latest item.
    `tracker story ID` shows one.

    Example: tracker stories --since 7d --topic aukus --markdown > week.md
    """
    check_topics(app.config, [] if topic is None else [topic])
    timezone = app.config.timezone
    start = parse_since(since or "7d", timezone)
    since_day = start.astimezone(ZoneInfo(timezone)).date().isoformat()
    found = app.store.links.active(start, limit, min_size, topic)
    followed, muted_ids = app.store.marks.followed_titles(), app.store.marks.muted_ids()
    for story in found:
        story["followed"] = story["id"] in followed
        story["muted"] = story["id"] in muted_ids
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if as_markdown:
        from tracker.markdown import stories_markdown

        briefed = [{**story, "new": _gained_since(app, story["id"], start)}
                   for story in found if not story["muted"]]
        click.echo(stories_markdown(briefed, since_day, min_size, timezone), nl=False)
        return
    if not found:
        click.echo(f"no storyline of {counted(min_size, 'item')} or more gained items since "
                   f"{since_day}")
    for story in found:
        official = ", officially announced" if story["officially_announced"] else ""
        mark = " (followed)" if story["followed"] else " (muted)" if story["muted"] else ""
        click.echo(f"#{story['id']} {story['title']}{mark}")
        click.echo(f"  {counted(story['size'], 'item')} ({story['new_items']} new), "
                   f"{local_day(story['started'], timezone)} to "
                   f"{local_day(story['updated'], timezone)}{official}")
        if story["about"]:
            click.echo(f"  about: {', '.join(story['about'])}")
        if story["topics"]:
            click.echo(f"  topics: {', '.join(story['topics'])}")
        if story["size"] > 1:  # a single report is its own latest
            latest = story["latest"]
            click.echo(f"  latest: {local_day(latest['at'], timezone)} #{latest['id']} "
                       f"{latest['title']}")


def _gained_since(app: App, storyline_id: int, start: datetime) -> list[dict[str, Any]]:
    """The items of a storyline first seen since `start`, oldest first."""
    story = app.store.links.storyline(storyline_id)
    cutoff = to_text(start) or ""
    return [entry for entry in (story["items"] if story else []) if entry["first_seen"] >= cutoff]


@main.command()
@click.argument("name", required=False)
@click.option("--preview", "mode", flag_value="preview", default=True,
              help="Render without sending or marking anything delivered (the default).")
@click.option("--send", "mode", flag_value="send", help="Send now (SMTP, or the outbox folder).")
@click.option("--check", "mode", flag_value="check",
              help="Check the digest and SMTP configuration without sending.")
@click.option("--html", "html_path", type=click.Path(path_type=Path),
              default=Path("tracker-digest.html"), show_default=True,
              help="With --preview: where to write the HTML part.")
@pass_app
def digest(app: App, name: str | None, mode: str, html_path: Path) -> None:
    """The email digest of what is new since the last one delivered (NAME: the
    digest of [digests.NAME] instead of the main one).

    --preview prints the plain-text part and writes the HTML part to a file;
    --send records the digest, sends it, and marks it delivered only once the
    server accepted it (without SMTP configured, it is written as an .eml file
    to the outbox folder); --check tests the configuration before the first
    scheduled send.
    """
    from tracker.briefing import mailer_for, prepare, send_digest

    config, now = app.config, utc_now()
    named = _named_digest(config, name)
    label = digest_label(named)
    if mode == "check":
        _check_digest(app)
        return
    if mode == "send":
        try:
            result = send_digest(app.store, config, mailer_for(config, app.db_path, named), now,
                                 named)
        except DeliveryError as exc:
            raise click.ClickException(f"{label} not delivered: {exc}") from None
        click.echo(result.message)
        return
    content = prepare(app.store, config, now, named)
    if content is None:
        click.echo(f"nothing new since the last {label}; none would be sent")
        return
    try:
        html_path.write_text(content.html, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{html_path}: cannot write the HTML part "
                                   f"({exc.strerror or exc}); pass --html FILE in a folder you "
                                   "may write") from None
    click.echo(f"Subject: {content.subject}\n")
    click.echo(content.text)
    click.echo(f"(HTML part written to {html_path}; nothing was sent or marked delivered)",
               err=True)


def _named_digest(config: Config, name: str | None) -> NamedDigest | None:
    """The `[digests.NAME]` asked for (None: the main digest)."""
    if name is None:
        return None
    named = config.named_digest(name)
    if named is not None:
        return named
    known = ", ".join(named.name for named in config.digests) or "none"
    raise click.UsageError(f"no digest {name!r} in the config: [digests.{name}] is not "
                           f"there (named digests: {known})")


def _check_digest(app: App) -> None:
    """Every digest's schedule and what it reports, the alerts' webhook, and
    the mail server (connect, TLS, log in) or the outbox folder."""
    from tracker.briefing import mailer_for
    from tracker.daemon import digest_trigger
    from tracker.mail import OutboxMailer, SmtpMailer

    settings = app.config.digest
    try:
        digest_trigger(app.config)
        for named in app.config.digests:
            digest_trigger(app.config, named)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_digest_line(settings, app.config.timezone))
    for named in app.config.digests:
        to = (_webhook_host(named.webhook_env, f"[digests.{named.name}]") if named.webhook_env
              else ", ".join(named.settings.to))
        alerts = ""
        if named.alerts:
            alerting = app.config.alert_topics_of(named)
            alerts = (f"; alerts of {', '.join(alerting)}" if alerting
                      else "; alerts = true, but none of its topics alerts")
        click.echo(f"{named.label}: {_digest_line(named.settings, app.config.timezone)}; to {to}"
                   + alerts)
    if app.config.alert_topics:
        every, quiet = app.config.alerts.at_most_every_seconds, app.config.alerts.quiet_hours
        limits = ([f"at most every {span(every)}"] if every else []) + (
            [f"none {quiet[0]:%H:%M}-{quiet[1]:%H:%M} {app.config.timezone}"] if quiet else [])
        click.echo("alerts: after each poll"
                   + (f" ({'; '.join(limits)})" if limits else "")
                   + f", the new matches of {', '.join(app.config.alert_topics)}")
    webhook = app.config.alerts.webhook_env
    if webhook:
        click.echo(f"alerts go to {_webhook_host(webhook, '[alerts]')}")
    if settings.smtp is None:
        folder = mailer_for(app.config, app.db_path)
        assert isinstance(folder, OutboxMailer)
        click.echo(f"no [digest.smtp]: digests are written as .eml files to {folder.folder}")
        return
    if not settings.to:
        raise click.ClickException("[digest] has SMTP but no recipients: set to = [...]")
    try:
        click.echo(SmtpMailer(settings.smtp).check())
    except DeliveryError as exc:
        raise click.ClickException(f"digest configuration problem: {exc}") from None
    click.echo(f"recipients: {', '.join(settings.to)}")


def _webhook_host(variable: str, table: str) -> str:
    """"the webhook in VARIABLE (host ...)", or a ClickException when the
    variable the config names is not set."""
    address = os.environ.get(variable, "").strip()
    if not address:
        raise click.ClickException(f"{table} webhook_env: environment variable {variable} "
                                   "is not set (it holds the webhook's address)")
    return f"the webhook in {variable} (host {urlsplit(address).hostname})"


def _digest_line(settings: DigestSettings, timezone: str) -> str:
    chosen = f" of {', '.join(settings.topics)}" if settings.topics is not None else ""
    grouped = "; by storyline" if settings.group == "storyline" else ""
    return (f"schedule: {settings.schedule} ({timezone}); include: {settings.include}{chosen}"
            f"{grouped}; at most {settings.max_items} items")


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
