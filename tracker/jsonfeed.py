"""Read JSON Feed documents (https://jsonfeed.org, versions 1 and 1.1). Pure.

feedparser 6 reads XML only, and some publishers offer JSON Feed alone (the
feed discovery of `tracker feeds add` already finds `application/feed+json`
links). The format is small: a JSON object with `version`, `title` and an
`items` array whose members carry `id`, `url`, `title`, `content_html` or
`content_text`, `summary`, RFC 3339 dates and authors. Everything here is
read defensively: a value of the wrong type is ignored, not trusted.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from tracker.errors import ParseError
from tracker.models import ParsedEntry, ParsedFeed, text_or_none

VERSION_PREFIX = "https://jsonfeed.org/version/"
_JSON_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*\{")


def read_json_feed(content: bytes) -> ParsedFeed | None:
    """The JSON Feed in `content`; None when it is not JSON at all (for the XML
    parsers); ParseError when it is JSON but not a readable JSON Feed."""
    if not _JSON_START.match(content[:1024]):
        return None
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ParseError(f"not a readable feed: broken JSON ({str(exc)[:120]})") from None
    version = document.get("version") if isinstance(document, dict) else None
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIX) or \
            not isinstance(items, list):
        raise ParseError("not a feed: JSON, but not a JSON Feed (no jsonfeed.org version "
                         "and items list)")
    return ParsedFeed(title=text_or_none(document.get("title")),
                      entries=tuple(_entry(item) for item in items if isinstance(item, dict)),
                      warning=None, ttl_seconds=None)


def _entry(item: dict[str, Any]) -> ParsedEntry:
    guid = item.get("id")
    return ParsedEntry(
        # The spec says a string; numbers are common in the wild.
        guid=str(guid) if isinstance(guid, (str, int)) and str(guid).strip() else None,
        link=text_or_none(item.get("url")) or text_or_none(item.get("external_url")),
        title=text_or_none(item.get("title")),
        title_is_html=False,
        summary=_summary(item),
        author=_author(item),
        published=_when(item.get("date_published")),
        updated=_when(item.get("date_modified")),
    )


def _summary(item: dict[str, Any]) -> str | None:
    """As HTML, which is what an entry's summary is everywhere else: the
    plain-text `summary`, else `content_html`, else `content_text`."""
    for key, is_html in (("summary", False), ("content_html", True), ("content_text", False)):
        value = text_or_none(item.get(key))
        if value is not None:
            return value if is_html else html.escape(value)
    return None


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")  # 1.1
    candidates = authors if isinstance(authors, list) else [item.get("author")]  # 1.0
    for author in candidates:
        if isinstance(author, dict) and text_or_none(author.get("name")):
            return text_or_none(author.get("name"))
    return None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
