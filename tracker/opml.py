"""OPML in and out, and feed discovery in HTML pages. Pure.

Readers export OPML with nested folders (`<outline text="Defence">` holding
`<outline type="rss" xmlUrl=...>`), sometimes with duplicates and entries that
have no feed URL; every problem is reported with where it is, and nothing is
dropped silently.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from tracker.normalise import clean_text

FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "application/json"}


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str
    folder: str  # "Defence/UK" for nested outlines, "" at the top


@dataclass(frozen=True)
class OpmlProblem:
    where: str
    message: str


def read_opml(data: bytes) -> tuple[list[OpmlFeed], list[OpmlProblem]]:
    """Every feed outline (nested folders flattened into `folder`) and every problem."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return [], [OpmlProblem("file", f"not valid XML: {exc}")]
    body = root.find("body")
    if root.tag != "opml" or body is None:
        return [], [OpmlProblem("file", "not an OPML document (no <opml><body>)")]
    feeds: list[OpmlFeed] = []
    problems: list[OpmlProblem] = []
    seen: set[str] = set()

    def walk(element: ET.Element, folder: list[str]) -> None:
        for number, outline in enumerate(element.findall("outline"), start=1):
            # It becomes a feed's name: plain text, one line, as feeds' own titles.
            title = clean_text(outline.get("title") or outline.get("text")).replace("\n", " ")
            where = "/".join([*folder, title or f"outline {number}"])
            url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            if url:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    problems.append(OpmlProblem(where, f"xmlUrl {url!r} is not an http(s) URL"))
                elif url in seen:
                    problems.append(OpmlProblem(where, f"{url} appears more than once; kept "
                                                       "the first"))
                else:
                    seen.add(url)
                    feeds.append(OpmlFeed(url, title or parts.hostname or url, "/".join(folder)))
            elif len(outline):
                walk(outline, [*folder, title or f"folder {number}"])
            else:
                problems.append(OpmlProblem(where, "no xmlUrl: not a feed"))

    walk(body, [])
    return feeds, problems


def write_opml(feeds: list[tuple[str, str, str]], now: datetime,
               title: str = "tracker feeds") -> str:
    """OPML 2.0 of (name, url, kind) feeds, grouped by kind."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(root, "body")
    for kind in ("official", "news"):
        group = [f for f in feeds if f[2] == kind]
        if not group:
            continue
        folder = ET.SubElement(body, "outline", text=kind, title=kind)
        for name, url, _ in group:
            ET.SubElement(folder, "outline", type="rss", text=name, title=name, xmlUrl=url)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


class _AlternateLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        if "alternate" in rels and values.get("type", "").lower() in FEED_TYPES and \
                values.get("href"):
            self.links.append((values["href"], values.get("title", "")))


def discover_feeds(html: str, base_url: str) -> list[tuple[str, str]]:
    """(absolute URL, title) of the feeds an HTML page advertises with
    <link rel="alternate" type="application/rss+xml" ...>, in page order."""
    parser = _AlternateLinks()
    try:
        parser.feed(html)
    except Exception:  # html.parser is lenient; a page that breaks it advertises nothing
        return []
    return [(urljoin(base_url, href), title) for href, title in parser.links]
