"""Items and storylines: `show` (one item and its edits), `related` (why
it was linked), `story` (a storyline's timeline) and `stories` (the storylines
that moved), each as text, JSON or, for a brief, Markdown."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import click

from tracker.cliapp import SINCE_HELP, App, check_topics, parse_since, pass_app
from tracker.diffing import render_diff, word_diff
from tracker.report import continues_text
from tracker.timefmt import local_day, local_time, to_text
from tracker.wording import counted


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
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

