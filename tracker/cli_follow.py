"""`tracker follow`, `unfollow` and `following`: storylines a person follows,
so that the next step of a story (the deal signed months after the partnership
was announced) is alerted when it comes, whatever topics it matches; and
`mute`, `unmute`, `muted`: storylines whose further reports stay out of
digests and alerts (a story that keeps matching a topic it is not about)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from tracker.cliapp import App, pass_app, refresh_topic_feeds
from tracker.report import ago
from tracker.timefmt import from_text, local_day, utc_now
from tracker.wording import counted


def _chosen_storyline(app: App, storyline_id: int | None, item_id: int | None) -> int:
    """The storyline given, or the one `item_id` is in; exactly one of them."""
    if (storyline_id is None) == (item_id is None):
        command = f"tracker {click.get_current_context().info_name}"  # follow or mute
        raise click.UsageError(f"give a storyline ({command} 1528) or an item whose storyline "
                               f"it is ({command} --item 5000)")
    if storyline_id is not None:
        return storyline_id
    assert item_id is not None
    item = app.store.item(item_id)
    if item is None:
        raise click.ClickException(f"no item {item_id} (ids are in search, export and digests)")
    if item["storyline_id"] is None:
        raise click.ClickException(f"item {item_id} is not in a storyline yet: it is linked to "
                                   "earlier stories by the next poll")
    return int(item["storyline_id"])


def _mark(app: App, storyline_id: int, note: str | None,
          mark: Callable[[int, datetime, str | None], bool],
          marked: Callable[[], list[dict[str, Any]]], done: str) -> None:
    """Follow or mute a storyline, say so with its title, size and note, and
    rewrite the followed storylines' feed (if topic feeds are on)."""
    if not mark(storyline_id, utc_now(), note.strip() if note else None):
        raise click.ClickException(f"no storyline {storyline_id} (tracker stories lists those "
                                   "that moved; tracker show ITEM names an item's)")
    story = next(row for row in marked() if row["id"] == storyline_id)
    click.echo(f"{done} storyline {storyline_id}: {story['title']} "
               f"({counted(story['size'], 'item')})" + (f": {story['note']}" if story["note"]
                                                         else ""))
    refresh_topic_feeds(app)


def _dates(row: dict[str, Any], timezone: str) -> str:
    """A storyline's size and days, as the listings show them."""
    return (f"  {counted(row['size'], 'item')}, {local_day(row['started'], timezone)} to "
            f"{local_day(row['updated'], timezone)}")


@click.command()
@click.argument("storyline_id", type=int, required=False)
@click.option("--item", "item_id", type=int, help="Follow the storyline this item is in.")
@click.option("--note", help="Why it is followed; replaces the storyline's earlier note.")
@pass_app
def follow(app: App, storyline_id: int | None, item_id: int | None, note: str | None) -> None:
    """Follow a storyline: each new item that joins it is alerted after the poll
    that linked it (as a topic with alert = true is, whatever topics the item
    matches) and leads the next digest. Storyline ids are in tracker stories,
    search and show.

    Example: tracker follow --item 5000 --note "interceptor drone deal: next step"
    """
    _mark(app, _chosen_storyline(app, storyline_id, item_id), note, app.store.marks.follow,
          app.store.marks.follows, "following")


@click.command()
@click.argument("storyline_id", type=int)
@pass_app
def unfollow(app: App, storyline_id: int) -> None:
    """Stop following a storyline (and drop its note)."""
    if not app.store.marks.unfollow(storyline_id):
        raise click.ClickException(f"storyline {storyline_id} is not followed "
                                   "(tracker following lists them)")
    click.echo(f"no longer following storyline {storyline_id}")
    refresh_topic_feeds(app)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="For a brief: each storyline with why it is followed and its latest item.")
@pass_app
def following(app: App, as_json: bool, as_markdown: bool) -> None:
    """The followed storylines, the one that moved last first: each with its size,
    how many items joined since it was followed, and its latest item."""
    rows = app.store.marks.follows()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if as_markdown:
        from tracker.markdown import following_markdown

        click.echo(following_markdown(rows, app.config.timezone), nl=False)
        return
    if not rows:
        click.echo("no storyline followed: tracker follow STORYLINE (or --item ITEM) follows one")
        return
    now, timezone = utc_now(), app.config.timezone
    for row in rows:
        click.echo(f"#{row['id']} {row['title']}")
        click.echo(f"{_dates(row, timezone)}; {row['new_since_followed']} new since followed "
                   f"{ago(from_text(row['followed_at']), now)}"
                   + (f": {row['note']}" if row["note"] else ""))
        latest = row["latest"]
        if latest and row["size"] > 1:
            click.echo(f"  latest: {local_day(latest['at'], timezone)} #{latest['id']} "
                       f"{latest['title']}")


@click.command()
@click.argument("storyline_id", type=int, required=False)
@click.option("--item", "item_id", type=int, help="Mute the storyline this item is in.")
@click.option("--note", help="Why it is muted; replaces the storyline's earlier note.")
@pass_app
def mute(app: App, storyline_id: int | None, item_id: int | None, note: str | None) -> None:
    """Mute a storyline: its new items are still stored, searched and linked,
    but left out of digests and alerts (and it is no longer followed). For a
    story that keeps matching a topic it is not about.

    Example: tracker mute --item 6912 --note "Eurovision, not the war"
    """
    _mark(app, _chosen_storyline(app, storyline_id, item_id), note, app.store.marks.mute,
          app.store.marks.mutes, "muted")


@click.command()
@click.argument("storyline_id", type=int)
@pass_app
def unmute(app: App, storyline_id: int) -> None:
    """Let a muted storyline's new items into digests and alerts again."""
    if not app.store.marks.unmute(storyline_id):
        raise click.ClickException(f"storyline {storyline_id} is not muted "
                                   "(tracker muted lists them)")
    click.echo(f"storyline {storyline_id} is no longer muted")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@pass_app
def muted(app: App, as_json: bool) -> None:
    """The muted storylines, the one that moved last first."""
    rows = app.store.marks.mutes()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no storyline muted: tracker mute STORYLINE (or --item ITEM) mutes one")
        return
    now, timezone = utc_now(), app.config.timezone
    for row in rows:
        click.echo(f"#{row['id']} {row['title']}")
        click.echo(f"{_dates(row, timezone)}; muted {ago(from_text(row['muted_at']), now)}"
                   + (f": {row['note']}" if row["note"] else ""))
