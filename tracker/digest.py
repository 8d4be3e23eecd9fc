"""Build the digest email from stored items. Pure: no SMTP, no database.

Feed text is hostile. It reaches the HTML part only through Jinja2's
autoescaping (it is stored as plain text, never as HTML), links only when they
are http(s), and headers only after `header_text` has flattened it: no CR/LF,
no NUL, no encoded-word that a mail client would decode into a new header
(CVE-2024-6923 on this Python). Behind the escaping, the rendered body passes
nh3 (the ammonia sanitiser) with an allowlist of the tags the template itself
writes, so a template mistake cannot open a hole either.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import nh3
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from tracker.config import DigestSettings
from tracker.diffing import changes_only, word_diff
from tracker.normalise import clean_text
from tracker.report import continues_text
from tracker.topics import highlight_spans, snippet
from tracker.wording import counted

_ENCODED_WORD = re.compile(r"=\?", re.IGNORECASE)
FEED_PROBLEMS_SHOWN = 10  # feeds listed as failing or quiet; `tracker status` has them all
_TEMPLATE_TAGS = {"a", "code", "div", "h1", "h2", "li", "p", "span", "strong", "ul"}
_environment = Environment(
    loader=PackageLoader("tracker", "templates"),
    # Escape the HTML part only; the plain-text part shows feed text as written.
    autoescape=lambda name: name is None or name.endswith(".html.j2"),
    trim_blocks=True, lstrip_blocks=True,
)


def sanitise_html(html: str) -> Markup:
    """Only the template's own tags, inline styles and http(s) links survive."""
    return Markup(nh3.clean(str(html), tags=_TEMPLATE_TAGS,
                            attributes={"*": {"style"}, "a": {"href"}},
                            url_schemes={"http", "https"}, link_rel=None))


_environment.filters["sanitise"] = sanitise_html
_environment.filters["counted"] = counted  # {{ total | counted("new item") }}


def header_text(text: str, limit: int = 200) -> str:
    """Untrusted text made safe for a header: one line, no controls, no encoded words."""
    flat = clean_text(text).replace("\n", " ")
    flat = _ENCODED_WORD.sub("= ?", flat)
    return flat[:limit]


def http_link(url: str | None) -> str | None:
    if not url:
        return None
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


@dataclass
class Entry:
    """One item as the digest shows it."""

    id: int
    title: str
    url: str | None
    feed: str
    kind: str
    when: str
    snippet: str
    highlights: list[tuple[int, int]]
    title_highlights: list[tuple[int, int]]
    also_reported_by: list[str]
    topics: list[str]
    changed: str | None = None  # for an edited announcement: what changed
    continues: str | None = None  # the earlier story of its storyline it follows up
    shown_under: str | None = None  # the first section that shows it in full


@dataclass
class Section:
    topic: str
    entries: list[Entry] = field(default_factory=list)


@dataclass
class DigestContent:
    subject: str
    text: str
    html: str
    items: list[tuple[int, str]]  # (id, content hash): the versions this digest carries
    shown: int
    total: int


def _entry(item: dict[str, Any], tz: ZoneInfo, now: datetime) -> Entry:
    terms = [t for topic in item["topics"] for t in topic["terms"]]
    text, spans = snippet(item["summary"], terms, width=280)
    when_text = item["published"] or item["first_seen"]
    when = datetime.fromisoformat(when_text).astimezone(tz)
    # Official source first: when a government feed carried the story, show it as
    # the source and the press as "also reported by".
    sources = sorted(item["seen_in"] or [{"name": item["feed"], "kind": item["kind"]}],
                     key=lambda feed: feed["kind"] != "official")
    source, others = sources[0], [feed["name"] for feed in sources[1:]]
    changed = None
    if item.get("revised_at") and item.get("previous_title") is not None:
        runs = word_diff(f"{item['previous_title']} — {item['previous_summary']}",
                         f"{item['title']} — {item['summary']}")
        changed = changes_only(runs) or "wording"
    continues = continues_text(item.get("continues"), tz)
    return Entry(item["id"], item["title"], http_link(item["url"]), source["name"],
                 source["kind"],
                 _when_text(when, now.astimezone(tz)), text, spans,
                 highlight_spans(item["title"], terms), others,
                 [topic["name"] for topic in item["topics"]], changed, continues)


def _when_text(when: datetime, now: datetime) -> str:
    """Day and time; the year too when it is not this one (a first poll's backlog
    reaches back months or years)."""
    return when.strftime("%d %b %H:%M %Z" if when.year == now.year else "%d %b %Y %H:%M %Z")


def _fold_same_stories(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Another outlet's report of a story already in this digest (a same_story link
    to it) is not a second entry: its source joins the first's "also reported by"."""
    kept: dict[int, dict[str, Any]] = {}
    # In the order a poll links them (LinkStore.link_pending: oldest first, ties
    # by title), so an item's link target is always seen before it.
    linked_order = sorted(items, key=lambda i: (i["published"] or i["first_seen"], i["title"],
                                                i["id"]))
    for item in linked_order:
        earlier = item.get("continues")
        target = kept.get(earlier["id"]) if earlier and earlier["kind"] == "same_story" else None
        if target is None or item["feed"] in {feed["name"] for feed in target["seen_in"]}:
            # Only another outlet's report folds: one feed's distinct entries stay.
            kept[item["id"]] = {**item, "seen_in": list(item["seen_in"])}
            continue
        names = {feed["name"] for feed in target["seen_in"]}
        target["seen_in"].extend(f for f in item["seen_in"] if f["name"] not in names)
        if item["kind"] == "official" and target["kind"] != "official":
            # Official source first: the government's words lead the entry.
            target.update({k: v for k, v in item.items() if k != "seen_in"})
        kept[item["id"]] = target  # a third report of the same story finds it too
    return [kept[item["id"]] for item in items if kept[item["id"]]["id"] == item["id"]]


def _by_topic(entries: list[tuple[dict[str, Any], Entry]]) -> list[Section]:
    """A section per topic, the followed storylines' first; an item of several
    topics in each of them."""
    followed: dict[str, Section] = {}
    sections: dict[str, Section] = {}
    for item, entry in entries:
        if item.get("following"):
            name = f"{FOLLOWING}: {item['following']}"
            followed.setdefault(name, Section(name)).entries.append(entry)
        for name in entry.topics or ([] if item.get("following") else [NO_TOPIC]):
            sections.setdefault(name, Section(name)).entries.append(entry)
    return [*followed.values(), *sections.values()]


def _storyline_key(item: dict[str, Any]) -> int:
    """An item's storyline; one not linked yet is a storyline of its own."""
    return int(item.get("storyline_id") or -item["id"])


def _by_storyline(entries: list[tuple[dict[str, Any], Entry]]) -> list[Section]:
    """A section per storyline that gained items, headed by how it began and
    how much it moved: followed ones first, then those that gained most (ties:
    the newest first); reports that are a storyline of their own together last."""
    groups: dict[int, list[tuple[dict[str, Any], Entry]]] = {}
    for item, entry in entries:
        groups.setdefault(_storyline_key(item), []).append((item, entry))
    threads: list[tuple[bool, int, Section]] = []
    singles = Section(SINGLE_REPORTS)
    for group in groups.values():
        first = group[0][0]
        size = first.get("storyline_size") or 1
        if size == 1 and not first.get("following"):
            singles.entries.extend(entry for _, entry in group)
            continue
        began = first.get("storyline_title") or first["title"]
        heading = ((f"{FOLLOWING}: " if first.get("following") else "")
                   + f"{began} ({counted(len(group), 'new item')}, {size} in all)")
        section = Section(heading, [entry for _, entry in group])
        threads.append((not first.get("following"), -len(group), section))
    threads.sort(key=lambda thread: thread[:2])  # stable: newest first within a rank
    return [section for *_, section in threads] + ([singles] if singles.entries else [])


DIGEST_TITLE = "Defence policy digest"
SINGLE_REPORTS = "single reports"
FOLLOWING = "following"  # the section of a followed storyline, and its count
NO_TOPIC = "(no topic)"


def _spread(items: list[dict[str, Any]], counts: Counter[str]) -> str:
    """Where a digest's items are, for its subject: " in 2 topics and 1 followed
    storyline", " in 1 topic, 3 matching no topic". The sections of followed
    storylines and of items no topic matched are not topics, so they are
    counted as what they are."""
    topics = sum(1 for name in counts if name not in (FOLLOWING, NO_TOPIC))
    followed = len({item["following"] for item in items if item.get("following")})
    parts = []
    if topics:
        parts.append(counted(topics, "topic"))
    if followed:
        parts.append(counted(followed, "followed storyline"))
    where = " in " + " and ".join(parts) if parts else ""
    if counts[NO_TOPIC]:
        where += f", {counts[NO_TOPIC]} matching no topic" if parts else ", none matching a topic"
    return where


def build_digest(items: list[dict[str, Any]], feed_problems: list[tuple[str, str]], now: datetime,
                 settings: DigestSettings, timezone: str, title: str = DIGEST_TITLE,
                 more_command: str = "tracker search",
                 headline_subject: bool = False) -> DigestContent | None:
    """Group items by topic (newest first), cap them, render both parts.
    `feed_problems` are (feed, what is wrong) for the feeds failing or gone
    quiet, whose news the digest may be missing. `headline_subject`: a message
    of one item (an alert) is subjected by its headline. An item whose
    `following` names a storyline someone follows (`tracker follow`) is
    carried whatever its topics, in a section of that storyline, first.

    Returns None when there is nothing to say and `send_empty` is off.
    """
    tz = ZoneInfo(timezone)
    if settings.topics is not None:  # the other topics' matches are not this digest's
        chosen = set(settings.topics)
        items = [{**item, "topics": [t for t in item["topics"] if t["name"] in chosen]}
                 for item in items]
    if settings.include == "topics":
        items = [item for item in items if item["topics"] or item.get("following")]
    carried = items
    items = _fold_same_stories(items)
    if not items and not settings.send_empty:
        return None
    shown_items = items[: settings.max_items]
    entries = [(item, _entry(item, tz, now)) for item in shown_items]
    ordered = (_by_storyline(entries) if settings.group == "storyline"
               else _by_topic(entries))
    # An item of several topics is shown in full once, under the first of them
    # the digest reaches; the later sections list it in a line pointing there.
    for section in ordered:
        for entry in section.entries:
            entry.shown_under = entry.shown_under or section.topic
    counts = Counter(name for item in items for name in
                     ([t["name"] for t in item["topics"]]
                      or [FOLLOWING if item.get("following") else NO_TOPIC]))
    date = now.astimezone(tz).strftime("%-d %b")
    if headline_subject and len(items) == 1:
        subject = header_text(f"{title}: {items[0]['title']} ({', '.join(counts)})")
    else:
        spread = (f" in {counted(len({_storyline_key(item) for item in items}), 'storyline')}"
                  if settings.group == "storyline" else _spread(items, counts))
        subject = header_text(f"{title}, {date}: {len(items)} new{spread}")
    context = {
        # Items come newest first, so sections are ordered by their newest item.
        "title": title, "date": now.astimezone(tz).strftime("%A %-d %B %Y"),
        "sections": ordered,
        "counts": sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
        "feed_problems": feed_problems[:FEED_PROBLEMS_SHOWN],
        "more_feed_problems": max(0, len(feed_problems) - FEED_PROBLEMS_SHOWN),
        "total": len(items), "shown": len(shown_items),
        "more": len(items) - len(shown_items), "more_command": more_command,
    }
    html = _environment.get_template("digest.html.j2").render(**context)
    text = _environment.get_template("digest.txt.j2").render(**context)
    return DigestContent(subject, text, html,
                         [(item["id"], item["content_hash"]) for item in carried],
                         len(shown_items), len(items))


def compose(content: DigestContent, *, sender: str, recipients: list[str], message_id: str,
            now: datetime, list_unsubscribe: str | None = None) -> EmailMessage:
    """The multipart/alternative message: plain text first, HTML preferred."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = content.subject
    message["From"] = header_text(sender)
    message["To"] = ", ".join(header_text(r) for r in recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    if list_unsubscribe:
        message["List-Unsubscribe"] = f"<{header_text(list_unsubscribe)}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message
