"""The commands that take a query in the topic language: `tracker search`
and the `tracker topics` group (list, test, rematch)."""

from __future__ import annotations

import json
import re
import shlex
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import click

from tracker.cliapp import (
    SINCE_HELP,
    App,
    check_topics,
    checked_query,
    config_errors,
    edit_config,
    escape,
    output_console,
    parse_period,
    parse_since,
    pass_app,
    period_options,
    plain_table,
    refresh_topic_feeds,
    save_config,
)
from tracker.config import Config
from tracker.timefmt import local_day, utc_now
from tracker.topics import TopicSet, highlight_spans, mark, snippet
from tracker.wording import counted

if TYPE_CHECKING:
    from tracker.archive import Hit


@dataclass(frozen=True)
class _Around:
    """What is shown beside the hits: each one's storyline and size, and the
    watch topics it matched."""

    stories: dict[int, tuple[int, int]]
    topics: dict[int, list[str]]

    @classmethod
    def of(cls, app: App, hits: list[Hit]) -> _Around:
        ids = [hit.id for hit in hits]
        return cls(app.store.links.storylines_of(ids),
                   {item_id: [topic["name"] for topic in topics]
                    for item_id, topics in app.store.item_topics(ids).items()})


def _print_hits(hits: list[Hit], total: int | None, around: _Around, timezone: str) -> None:
    from rich.text import Text

    console = output_console(100)

    def indented(markup: str) -> None:
        """Wrapped lines keep the indent, so each hit reads as one block."""
        for line in Text.from_markup(markup).wrap(console, console.width - 2):
            console.print(Text("  ") + line)

    if total is not None:
        console.print(counted(total, "matching item")
                      + (f"; the best {len(hits)}:" if total > len(hits) else ":"))
    for n, hit in enumerate(hits):
        title = mark(hit.title, highlight_spans(hit.title, hit.terms), "[bold yellow]", "[/]",
                     escape)
        text, spans = snippet(hit.summary, hit.terms)
        when = local_day(hit.published or hit.first_seen, timezone)
        if n or total is not None:
            console.print()
        console.print(f"[bold]#{hit.id}[/] {title}")
        story, size = around.stories.get(hit.id, (None, 1))
        topics = around.topics.get(hit.id)
        under = f"; topics: {', '.join(topics)}" if topics else ""
        indented(f"[dim]{escape(hit.feed)} ({hit.kind}), {when}{escape(under)}[/]")
        if hit.url:  # on a line of its own, never broken: to click or copy
            console.print(f"  [dim]{escape(hit.url)}[/]", soft_wrap=True)
        if text:
            indented(mark(text, spans, "[bold yellow]", "[/]", escape))
        if size > 1:  # a thread to follow
            indented(f"[dim]storyline {story} ({counted(size, 'item')}): "
                     f"tracker story {story}[/]")


def _hit_record(hit: Hit, around: _Around) -> dict[str, Any]:
    text, spans = snippet(hit.summary, hit.terms)
    story, size = around.stories.get(hit.id, (None, None))
    return {"id": hit.id, "title": hit.title, "url": hit.url, "feed": hit.feed,
            "kind": hit.kind, "published": hit.published, "first_seen": hit.first_seen,
            "matched_terms": list(hit.terms), "snippet": text,
            "snippet_highlights": [list(span) for span in spans],
            "storyline": story, "storyline_size": size,
            "topics": around.topics.get(hit.id, [])}


class QueryCommand(click.Command):
    """A command whose argument is a query, which may start with a '-' (NOT):
    click would take that for an option it does not know, so say how to pass it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click consumes `args` as it parses
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            word = next((arg for arg in given if arg.startswith(exc.option_name)),
                        exc.option_name)
            if word.startswith("--"):  # a mistyped option, not a query
                raise
            raise click.UsageError(
                f"{word!r} is not an option: a query that starts with '-' goes after the "
                f"options and a '--', as in {ctx.command_path} --limit 5 -- "
                f"'-exercise Patriot'", ctx) from exc


@click.command(cls=QueryCommand)
@click.argument("query")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="At most this many results.")
@click.option("--since", help=f"Only items first seen since then: {SINCE_HELP}.")
@period_options
@click.option("--topic", help="Only items that matched this watch topic.")
@click.option("--newest", is_flag=True,
              help="Newest first (by publication date) instead of best first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of results.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="A Markdown list, to paste into a brief or a report.")
@pass_app
def search(app: App, query: str, limit: int, since: str | None, dated_from: str | None,
           dated_to: str | None, topic: str | None, newest: bool, as_json: bool,
           as_markdown: bool) -> None:
    """Full-text search of the archive in the topic query language, best first
    (or --newest first).

    \b
    Example:
      tracker search '"air defence" (Patriot OR IRIS-T) -exercise'
      tracker search Patriot --from 2022-09-01 --to 2022-09-30 --newest
    """
    from tracker.archive import find

    checked_query(query, app.config.aliases)
    since_time = parse_since(since, app.config.timezone)
    period = parse_period(dated_from, dated_to, app.config.timezone)
    check_topics(app.config, [] if topic is None else [topic])
    only = None if topic is None else app.store.matched_ids(topic)
    # Closed here, with the database still open, not whenever it is collected.
    with closing(find(app.store, query, app.config.aliases, since_time, newest=newest,
                      period=period, only=only)) as found:
        hits = list(islice(found, limit + 1))  # one more: are there others?
    more, hits = len(hits) > limit, hits[:limit]
    around = _Around.of(app, hits)
    if as_json:
        click.echo(json.dumps([_hit_record(hit, around) for hit in hits], indent=2,
                              ensure_ascii=False))
    elif as_markdown:
        from tracker.markdown import hits_markdown

        click.echo(hits_markdown(query, [_hit_record(hit, around) for hit in hits],
                                 app.config.timezone), nl=False)
    else:
        _print_hits(hits, None, around, app.config.timezone)
        if not hits:
            click.echo("no matching items")
        elif more:
            click.echo(f"\nMore items match than these {len(hits)}: --limit shows more, and "
                       f"tracker export --query {shlex.quote(query)} writes them all.")


@click.group()
def topics() -> None:
    """Watch topics: list them, try a query on the archive, re-match after a change."""


@topics.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def topics_list(app: App, as_json: bool) -> None:
    """Each topic with its query and matches in the last day, week and in all."""
    if not app.store.read_only:  # else the topics as the database last knew them
        app.store.sync_topics(app.config.topics)
    rows = app.store.topic_summary(utc_now())
    alerting = set(app.config.alert_topics)
    for row in rows:
        row["alert"] = row["name"] in alerting
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    console, table = output_console(80), plain_table()
    for column, justify in (("Topic", "left"), ("Day", "right"), ("Week", "right"),
                            ("All", "right"), ("Query", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        # A long query is written over several lines in the config; its line
        # breaks and indents, wrapped again by the table, read as noise.
        query = escape(" ".join(row["query"].split()))
        if row["query"] != row["matched_query"]:
            query += " [yellow](changed: run tracker topics rematch)[/]"
        name = escape(row["name"]) + (" [bold](alert)[/]" if row["alert"] else "")
        table.add_row(name, str(row["last_day"]), str(row["last_week"]), str(row["total"]),
                      query)
    console.print(table)


@topics.command("test", cls=QueryCommand)
@click.argument("query")
@click.option("--since", help=f"Only items first seen since then: {SINCE_HELP}.")
@period_options
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="How many of the best hits to show.")
@pass_app
def topics_test(app: App, query: str, since: str | None, dated_from: str | None,
                dated_to: str | None, limit: int) -> None:
    """Run a query over the archive without saving anything: the count and the best
    hits, matched words highlighted. This is how topics are written."""
    from tracker.archive import find

    checked_query(query, app.config.aliases)
    since_time = parse_since(since, app.config.timezone)
    period = parse_period(dated_from, dated_to, app.config.timezone)
    hits = list(find(app.store, query, app.config.aliases, since_time, period=period))
    shown = hits[:limit]
    _print_hits(shown, len(hits), _Around.of(app, shown), app.config.timezone)


TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]+")


@topics.command("add", cls=QueryCommand)
@click.argument("name")
@click.argument("query")
@click.option("--alert", is_flag=True,
              help="Alert its new matches after each poll (alert = true), not only in the digest.")
@click.option("--no-rematch", is_flag=True,
              help="Leave the archive unmatched: only items stored from now on are.")
@pass_app
def topics_add(app: App, name: str, query: str, alert: bool, no_rematch: bool) -> None:
    """Add a watch topic to the config file (keeping its comments and layout) and
    match the archive against it, so that search, stories and the next digest
    know its recent matches. `tracker topics test QUERY` tries a query first; a
    running daemon is told to reload the config.

    Example: tracker topics add air_defence '"air defence" OR Patriot OR IRIS-T'
    """

    if not TOPIC_NAME.fullmatch(name):
        raise click.UsageError(f"{name!r} cannot name a topic: use letters, digits, '_' and '-' "
                               "(such as air_defence)")
    checked_query(query, app.config.aliases)
    edited = edit_config(app)
    if edited.has_topic(name):
        raise click.ClickException(f"topic {name} is already in {app.config_path} (edit its "
                                   "query there, then tracker topics rematch)")
    edited.add_topic(name, query.strip(), alert)
    config = save_config(app, edited, f"added topic {name} to {app.config_path}"
                                      + (" (alert = true)" if alert else ""))
    if no_rematch:
        return
    if app.store.read_only:  # an analyst beside the daemon's service account
        click.echo(f"the archive was not matched against {name}: you may only read "
                   f"{app.db_path}; new items are matched from the daemon's next poll, and "
                   f"`tracker topics rematch {name}` run as its user matches the archive")
        return
    app.store.sync_topics(config.topics)
    count = _rematched(app, config, [name])[name]
    click.echo(f"{name}: {counted(count, 'matching item')} in the archive")
    refresh_topic_feeds(app, config)


@topics.command("remove")
@click.argument("name")
@pass_app
def topics_remove(app: App, name: str) -> None:
    """Remove a watch topic from the config file. Its stored matches stay in the
    archive (exports made before keep their meaning); a digest that names the
    topic must drop it first. A running daemon is told to reload the config."""
    edited = edit_config(app)
    with config_errors():
        edited.remove_topic(name)
    save_config(app, edited, f"removed topic {name} from {app.config_path}")


@topics.command("rematch")
@click.argument("names", nargs=-1)
@pass_app
def topics_rematch(app: App, names: tuple[str, ...]) -> None:
    """Re-evaluate topics over the whole archive: the named ones, else every topic
    whose query changed since its matches were made."""

    changed = app.store.sync_topics(app.config.topics)
    check_topics(app.config, list(names))
    selected = list(names) or changed
    if not selected:
        click.echo("every topic is up to date; name topics to re-match them anyway")
        return
    for name, count in _rematched(app, app.config, selected).items():
        click.echo(f"{name}: {count} matching items")
    refresh_topic_feeds(app)


def _rematched(app: App, config: Config, names: list[str]) -> dict[str, int]:
    """Re-evaluate the topics `names` of `config` over the whole archive (the
    store's topics synced to `config` first); their match counts."""
    from tracker.archive import rematch

    return rematch(app.store, TopicSet(config.topics, config.aliases),
                   {topic.name: topic.query for topic in config.topics}, names, utc_now())
