"""Plain data passed between the pipeline's stages.

Every stage takes and returns these frozen dataclasses, so the pure stages
(parse, normalise, schedule) can be tested without HTTP or SQLite, and the I/O
stages (fetch, store) can be swapped without touching the rest.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class FeedKind(enum.StrEnum):
    """Who speaks: a government or alliance itself, or the press reporting on it."""

    OFFICIAL = "official"
    NEWS = "news"


@dataclass(frozen=True)
class FeedConfig:
    """One `[[feeds]]` table of the config file, validated."""

    url: str
    name: str
    kind: FeedKind
    interval_seconds: int
    paused: bool = False


@dataclass(frozen=True)
class TopicConfig:
    """One `[topics.NAME]` table of the config file."""

    name: str
    query: str
    alert: bool = False  # its new matches emailed as soon as a poll stores them


@dataclass(frozen=True)
class FetchResult:
    """What one HTTP fetch of a feed produced; no parsing has happened yet.

    `content` is None for a 304 Not Modified. `final_url` is where the body
    actually came from; `permanent_redirect` is set only when every hop of the
    redirect chain was permanent (301/308), the signal to update the stored URL.
    `warning` names something odd the fetch worked around (kept with the feed).
    """

    url: str
    final_url: str
    status: int
    content: bytes | None
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    bytes_received: int
    elapsed_seconds: float
    permanent_redirect: str | None = None
    warning: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def text_or_none(value: Any) -> str | None:
    """A parsed field as text: None when the parser gave nothing, something other
    than a string, or only whitespace (feedparser's results and JSON Feed's
    fields are read through it)."""
    return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class ParsedEntry:
    """One entry as the parser saw it, before normalisation (text may hold HTML)."""

    guid: str | None
    link: str | None
    title: str | None
    summary: str | None
    author: str | None
    published: datetime | None
    updated: datetime | None
    title_is_html: bool = False


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed document: its entries and, when the XML was broken but still
    readable, a warning that says so (the entries are kept: losing news because a
    publisher's XML is sloppy helps nobody)."""

    title: str | None
    entries: tuple[ParsedEntry, ...]
    warning: str | None = None
    ttl_seconds: int | None = None


@dataclass(frozen=True)
class Item:
    """A normalised entry, ready to store.

    `keys` are the identities this item can be recognised by, strongest first:
    the GUID, the canonical link, a content hash. Two entries sharing any key
    are the same item, whichever feed they came from.
    """

    keys: tuple[str, ...]
    guid: str | None
    url: str | None
    canonical_url: str | None
    title: str
    summary: str
    author: str | None
    published: datetime | None
    updated: datetime | None
    content_hash: str

    @property
    def dated(self) -> datetime | None:
        """When the item says it appeared: its publication date, or its update
        time for an entry that gives only that (Atom requires `updated`, not
        `published`: GOV.UK's feeds give only `updated`). Without it, a first
        poll would date a month of backlog to the day it was fetched."""
        return self.published or self.updated


@dataclass(frozen=True)
class Period:
    """The dates an item's own date (its publication, else when it was first
    seen) must fall in: `start` inclusive, `end` exclusive, None leaving that
    side open. What research asks ("Patriot in September 2022"), where
    `--since` asks what arrived lately: a first poll stores months of backlog
    in one minute."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class StoredItem:
    """An item as read back from the database."""

    id: int
    feed_id: int
    feed_name: str
    feed_kind: str
    url: str | None
    title: str
    summary: str
    published: str | None
    updated: str | None
    first_seen: str
    seen_in: tuple[str, ...] = field(default_factory=tuple)
    storyline_id: int | None = None


@dataclass(frozen=True)
class FeedState:
    """A feed as the database knows it: its config and its health."""

    id: int
    config_url: str
    url: str
    name: str
    kind: str
    interval_seconds: int
    active: bool
    paused: bool = False
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    last_warning: str | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_not_modified: bool = False
    last_bytes: int | None = None
    last_duration_ms: int | None = None
    last_new_items: int | None = None
    next_due: datetime | None = None
    due_reason: str | None = None
    gone_at: datetime | None = None
    redirected_from: str | None = None
    redirect_target: str | None = None
    redirect_streak: int = 0
    item_count: int = 0
    newest_item: datetime | None = None
    oldest_item: datetime | None = None
