"""`tracker star`, `unstar` and `starred`: items a person keeps to come back to
(for a brief, a report), each with an optional note."""

from __future__ import annotations

import json

import click

from tracker.cliapp import App, pass_app
from tracker.report import ago
from tracker.timefmt import from_text, utc_now


@click.command()
@click.argument("item_id", type=int)
@click.option("--note", help="What it is kept for; replaces the item's earlier note.")
@pass_app
def star(app: App, item_id: int, note: str | None) -> None:
    """Star an item to come back to, with an optional note. Starring it again
    keeps the first star's time and changes its note.

    Starred items are listed by tracker starred, exported with tracker export
    --starred, and marked in tracker show.

    Example: tracker star 5000 --note "Tuesday brief: air policing"
    """
    if not app.store.marks.star(item_id, utc_now(), note.strip() if note else None):
        raise click.ClickException(f"no item {item_id} (ids are in search, export and digests)")
    kept = app.store.marks.stars([item_id])[item_id]
    click.echo(f"starred #{item_id}" + (f": {kept['note']}" if kept["note"] else ""))


@click.command()
@click.argument("item_id", type=int)
@pass_app
def unstar(app: App, item_id: int) -> None:
    """Remove an item's star (and its note)."""
    if not app.store.marks.unstar(item_id):
        raise click.ClickException(f"item {item_id} is not starred (tracker starred lists them)")
    click.echo(f"unstarred #{item_id}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Markdown, to paste into a brief or a report.")
@pass_app
def starred(app: App, as_json: bool, as_markdown: bool) -> None:
    """The starred items, most recently starred first, with their notes."""
    stars = app.store.marks.stars()
    items = {item.id: item for item in app.store.items(ids=list(stars))}
    rows = [{"id": item_id, "title": items[item_id].title, "url": items[item_id].url,
             "feed": items[item_id].feed_name, "published": items[item_id].published,
             **star} for item_id, star in stars.items() if item_id in items]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    if as_markdown:
        from tracker.markdown import starred_markdown

        click.echo(starred_markdown(rows, app.config.timezone), nl=False)
        return
    if not rows:
        click.echo("no starred items: tracker star ITEM [--note TEXT] keeps one")
        return
    now = utc_now()
    for row in rows:
        click.echo(f"#{row['id']} {row['title']}")
        when = ago(from_text(row["starred_at"]), now)
        click.echo(f"  {row['feed']}; starred {when}" + (f": {row['note']}" if row["note"]
                                                            else ""))
        if row["url"]:
            click.echo(f"  {row['url']}")
