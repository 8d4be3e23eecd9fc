"""`tracker feeds`: list, add (with discovery), remove, pause, resume, and
OPML in and out, editing the config file in place (tracker.configfile)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import click

from tracker.cliapp import App, config_errors, edit_config, pass_app, save_config
from tracker.errors import FetchError, ParseError
from tracker.models import Item, ParsedFeed
from tracker.normalise import feed_title, normalise_feed
from tracker.timefmt import local_day, to_text, utc_now
from tracker.wording import counted

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.fetch import Fetcher


@click.group()
def feeds() -> None:
    """Manage feeds: list, test, add (with discovery), remove, pause, resume, OPML in and out.
    Edits keep the config file's comments and layout."""


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def feeds_list(app: App, as_json: bool) -> None:
    """The configured feeds: name, kind, interval, paused, URL."""
    rows = [{"name": f.name, "url": f.url, "kind": f.kind.value,
             "interval_seconds": f.interval_seconds, "paused": f.paused}
            for f in app.config.feeds]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        flag = " (paused)" if row["paused"] else ""
        click.echo(f"{row['name']} [{row['kind']}, every {row['interval_seconds']}s]{flag}\n"
                   f"  {row['url']}")


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="Display name (default: the feed's own title).")
@click.option("--kind", type=click.Choice(["official", "news"]), default="news",
              show_default=True, help="Who speaks: the government itself, or the press.")
@click.option("--interval", help="How often to poll, e.g. 15m, 1h (default: default_interval).")
@pass_app
def feeds_add(app: App, url: str, name: str | None, kind: str, interval: str | None) -> None:
    """Fetch URL once, check it is a feed (or find the feed a web page advertises),
    and add it to the config file."""
    edited = edit_config(app)
    config = app.config
    if edited.has_url(url):  # said before fetching: the answer does not depend on it
        raise click.ClickException(f"{url} is already in {app.config_path}")
    with _fetcher(config) as fetcher:
        try:
            feed_url, title = _resolve_feed(fetcher, url)
        except (FetchError, ParseError) as exc:
            raise click.ClickException(f"{url}: {exc}") from None
    if edited.has_url(feed_url):
        raise click.ClickException(f"{feed_url} is already in {app.config_path}")
    edited.add(feed_url, name or title or urlsplit(feed_url).hostname or feed_url, kind, interval)
    save_config(app, edited, f"added {name or title or feed_url} <{feed_url}> to {app.config_path}")


def _fetcher(config: Config) -> Fetcher:
    """The config's HTTP client, imported only by the commands that fetch (httpx
    and its TLS stack are a third of a command's start)."""
    from tracker.fetch import Fetcher

    return Fetcher(config.fetch, config.allow_private_networks, config.allow_addresses)


def _resolve_feed(fetcher: Fetcher, url: str) -> tuple[str, str | None]:
    """The feed URL and title behind `url`: itself, or the first feed its page links to."""
    feed_url, parsed, _ = _fetch_feed(fetcher, url)
    return feed_url, feed_title(parsed)


def _fetch_feed(fetcher: Fetcher, url: str) -> tuple[str, ParsedFeed, str | None]:
    """The feed behind `url` (itself, or the first feed its page links to),
    parsed, with the fetch's warning if it had one."""
    from tracker.opml import discover_feeds
    from tracker.parse import parse_feed

    fetched = fetcher.fetch(url)
    assert fetched.content is not None
    try:
        return fetched.final_url, parse_feed(fetched.content, fetched.headers), fetched.warning
    except ParseError:
        html = fetched.content.decode("utf-8", "replace")
        found = discover_feeds(html, fetched.final_url)
        if not found:
            raise
        fetched = fetcher.fetch(found[0][0])
        assert fetched.content is not None
        return (fetched.final_url, parse_feed(fetched.content, fetched.headers),
                fetched.warning)


SHOWN_ITEMS = 5


@feeds.command("test")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def feeds_test(app: App, url: str, as_json: bool) -> None:
    """Fetch URL once and say what tracker would read from it, without adding it
    or storing anything: the feed (or the one a page advertises), how many items,
    how often it publishes, its newest items, and which watch topics they match.

    Example: tracker feeds test https://www.gov.uk/government/organisations/ministry-of-defence.atom
    """
    from tracker.query import Document
    from tracker.topics import TopicSet

    config = app.config
    with _fetcher(config) as fetcher:
        try:
            feed_url, parsed, warning = _fetch_feed(fetcher, url)
        except (FetchError, ParseError) as exc:
            raise click.ClickException(f"{url}: {exc}") from None
    items = normalise_feed(parsed, feed_url, feed_url)
    topics = TopicSet(config.topics, config.aliases)
    title = feed_title(parsed)
    name = title or urlsplit(feed_url).hostname or feed_url
    hits = [[hit.topic for hit in topics.match(Document.of(item.title, item.summary, name))]
            for item in items]
    dates = sorted(date for item in items if (date := item.dated) is not None)
    report: dict[str, Any] = {
        "url": feed_url, "title": title, "items": len(items),
        "dated": len(dates), "newest": to_text(dates[-1]) if dates else None,
        "oldest": to_text(dates[0]) if dates else None,
        "warnings": [w for w in (warning, parsed.warning) if w],
        "configured": any(feed.url == feed_url for feed in config.feeds),
        "topics": dict(Counter(topic for found in hits for topic in found).most_common()),
        "newest_items": [{"title": item.title, "published": to_text(item.dated),
                          "url": item.url, "topics": found}
                         for item, found in sorted(zip(items, hits, strict=True),
                                                   key=_newest_first)[:SHOWN_ITEMS]],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"{title or '(no title)'} <{feed_url}>"
               + (" (already in the config)" if report["configured"] else ""))
    zone = ZoneInfo(config.timezone)
    span = (f"; newest {dates[-1].astimezone(zone):%Y-%m-%d %H:%M}, "
            f"oldest {dates[0].astimezone(zone):%Y-%m-%d}" if dates else "; none dated")
    click.echo(f"  {counted(len(items), 'item')}{span}")
    for text in report["warnings"]:
        click.echo(f"  warning: {text}")
    matched = report["topics"]
    click.echo("  topics: " + (", ".join(f"{topic} ({count})" for topic, count in matched.items())
                               if matched else "none of the watch topics match its items"))
    for entry in report["newest_items"]:
        when = local_day(entry["published"], config.timezone) or "undated"
        found = f"  [{', '.join(entry['topics'])}]" if entry["topics"] else ""
        click.echo(f"  {when}  {entry['title']}{found}")
    if not report["configured"]:
        click.echo(f"Add it with: tracker feeds add {feed_url}")


def _newest_first(pair: tuple[Item, list[str]]) -> tuple[bool, float]:
    dated = pair[0].dated
    return dated is None, -dated.timestamp() if dated else 0.0


@feeds.command("remove")
@click.argument("selector")
@pass_app
def feeds_remove(app: App, selector: str) -> None:
    """Remove the feed with this URL or name from the config (its items are kept)."""
    edited = edit_config(app)
    with config_errors():
        name = edited.remove(selector)
    save_config(app, edited, f"removed {name}")


@feeds.command("pause")
@click.argument("selector")
@pass_app
def feeds_pause(app: App, selector: str) -> None:
    """Stop polling the feed with this URL or name (kept in the config, paused = true)."""
    _set_paused(app, selector, True)


@feeds.command("resume")
@click.argument("selector")
@pass_app
def feeds_resume(app: App, selector: str) -> None:
    """Poll a paused feed again."""
    _set_paused(app, selector, False)


def _set_paused(app: App, selector: str, paused: bool) -> None:
    edited = edit_config(app)
    with config_errors():
        name = edited.set_paused(selector, paused)
    save_config(app, edited, f"{'paused' if paused else 'resumed'} {name}")


@feeds.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["official", "news"]), default="news",
              show_default=True, help="Kind for imported feeds.")
@pass_app
def feeds_import(app: App, opml_file: Path, kind: str) -> None:
    """Add the feeds of an OPML file (nested folders welcome). Duplicates, feeds
    already present and broken entries are reported one by one; the config is
    written once, and only if the result is valid."""
    from tracker.opml import OpmlProblem, read_opml

    found, problems = read_opml(opml_file.read_bytes())
    edited = edit_config(app)
    added = 0
    for feed in found:
        if edited.has_url(feed.url):
            problems.append(OpmlProblem(f"{feed.folder}/{feed.title}".strip("/"),
                                        f"{feed.url} is already configured; skipped"))
            continue
        edited.add(feed.url, feed.title, kind)
        added += 1
    for problem in problems:
        click.echo(f"  skipped {problem.where}: {problem.message}", err=True)
    done = f"imported {counted(added, 'feed')} from {opml_file}; {len(problems)} skipped"
    if added:
        save_config(app, edited, done)
    else:
        click.echo(done)


@feeds.command("export")
@pass_app
def feeds_export(app: App) -> None:
    """The configured feeds as OPML 2.0, for any feed reader."""
    from tracker.opml import write_opml

    click.echo(write_opml([(f.name, f.url, f.kind.value) for f in app.config.feeds],
                          utc_now()))
