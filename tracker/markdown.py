"""Storylines, search results and starred items as Markdown, to paste into a brief or a report.

Feed text is hostile here too: every character Markdown would read as markup
(emphasis, links, raw HTML, tables) is escaped, and only http(s) links become
links, so a title can neither inject HTML into a rendered document nor turn a
`javascript:` URL into a link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tracker.timefmt import local_day

_MARKUP = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def escape(text: str) -> str:
    """Text that Markdown shows as it is (one line)."""
    return _MARKUP.sub(r"\\\1", " ".join(text.split()))


def link(title: str, url: str | None) -> str:
    """The title as a link to `url` when it is http(s), else as text."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return f"[{escape(title)}](<{url.replace('>', '%3E').replace(' ', '%20')}>)"
    return escape(title)


def story_markdown(story: dict[str, Any], timezone: str) -> str:
    """A storyline (`LinkStore.storyline`) as a heading, a line on what it is
    about, and its items oldest first, each dated, linked and attributed."""
    lines = [f"## {escape(story['title'])}", "", _summary(story, timezone), ""]
    lines += [_timeline_line(entry, timezone) for entry in story["items"]]
    return "\n".join(lines) + "\n"


def stories_markdown(stories: list[dict[str, Any]], since: str, min_size: int,
                     timezone: str) -> str:
    """The storylines that moved since the day `since` (`tracker stories`, each
    with its timeline from `LinkStore.storyline`), for a weekly brief: each
    under how it began, with its dates and what it is about, and the items it
    gained since then (earlier ones are a `tracker story` away)."""
    lines = [f"## Storylines that moved since {since}", ""]
    if not stories:
        lines.append(f"No storyline of {min_size} items or more gained items.")
    for story in stories:
        lines += [f"### {escape(story['title'])}", "",
                  _summary(story, timezone, f" ({story['new_items']} new)"), ""]
        lines += [_timeline_line(entry, timezone) for entry in story["new"]]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def following_markdown(rows: list[dict[str, Any]], timezone: str) -> str:
    """The followed storylines (`tracker following`), for a brief's "what we
    are watching": each under how it began, with its dates, why it is
    followed, and its latest item, dated and linked."""
    lines = ["## Followed storylines", ""]
    if not rows:
        lines.append("No storyline followed.")
    for row in rows:
        why = f" Followed: {escape(row['note'])}." if row["note"] else ""
        lines += [f"### {escape(row['title'])}", "",
                  f"{row['size']} items, {local_day(row['started'], timezone)} to "
                  f"{local_day(row['updated'], timezone)}; {row['new_since_followed']} new since "
                  f"followed on {local_day(row['followed_at'], timezone)}.{why}"]
        if (latest := row["latest"]) and row["size"] > 1:
            lines.append(f"Latest: **{local_day(latest['at'], timezone)}** "
                         f"{link(latest['title'], latest['url'])}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _summary(story: dict[str, Any], timezone: str, new: str = "") -> str:
    """A storyline's size (and `new`, what it gained), days, whether it was
    officially announced and what it is about, as one sentence."""
    official = "; officially announced" if story["officially_announced"] else ""
    about = f" About: {escape(', '.join(story['about']))}." if story["about"] else ""
    return (f"{story['size']} items{new}, {local_day(story['started'], timezone)} to "
            f"{local_day(story['updated'], timezone)}{official}.{about}")


def _timeline_line(entry: dict[str, Any], timezone: str) -> str:
    """A storyline's item: dated, how it joined, linked, attributed."""
    how = {"same_story": " (same story)", "follow_up": " (follow-up)"}.get(
        entry["joined_as"] or "", "")
    also = [name for name in entry["seen_in"] if name != entry["feed"]]
    source = escape(entry["feed"]) + (f", also {escape(', '.join(also))}" if also else "")
    return (f"- **{local_day(entry['at'], timezone)}**{how}: "
            f"{link(entry['title'], entry['url'])} ({source})")


def starred_markdown(rows: list[dict[str, Any]], timezone: str) -> str:
    """Starred items (`tracker starred`) as a list, each with its note."""
    return _listed("Starred", rows, timezone, lambda row: row["note"], "No starred items.")


def hits_markdown(query: str, rows: list[dict[str, Any]], timezone: str) -> str:
    """Search results (`tracker search`) as a list under the query."""
    return _listed(f"Search: {query}", rows, timezone, lambda row: None, "No matching items.")


def _listed(heading: str, rows: list[dict[str, Any]], timezone: str,
            note_of: Callable[[dict[str, Any]], str | None], empty: str) -> str:
    """A heading and a dated, linked, attributed line per row (`empty` for none:
    a brief says so rather than showing a heading over nothing)."""
    lines = [f"## {escape(heading)}", ""]
    if not rows:
        lines.append(empty)
    for row in rows:
        when = local_day(row["published"] or row.get("first_seen"), timezone)
        note = f" — {escape(text)}" if (text := note_of(row)) else ""
        dated = f"**{when}** " if when else ""
        lines.append(f"- {dated}{link(row['title'], row['url'])} ({escape(row['feed'])}){note}")
    return "\n".join(lines) + "\n"
