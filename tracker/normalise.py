"""Clean parsed entries into `Item`s: plain text, canonical URLs, identity keys.

Pure functions. What is stored is plain text with no NULs or control
characters; escaping for HTML or email headers happens where text is rendered.

Identity. An item can be recognised by several keys, strongest first:

* `guid:<guid>` when the GUID is globally unique by construction (a URL, a
  `urn:` or `tag:` URI); a bare GUID such as `"1234"` is only unique inside its
  feed, so it becomes `guid:<feed id>:<guid>`;
* `url:<canonical link>`: scheme, `www.`-insensitive host, tracking parameters,
  fragments and trailing slashes removed, so one story seen in two feeds (or
  with `?utm_source=`) is one item. A link shared by several entries of the same
  document (a feed that links every entry to its home page) is not an identity;
* `hash:<feed id>:<sha256 of title and summary>` when nothing else exists.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from tracker.models import Item, ParsedEntry, ParsedFeed

MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 4000
MAX_URL_CHARS = 2000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|at_[a-z_]+|fbclid|gclid|dclid|mc_cid|mc_eid|ocid|cmpid|cmp|"
    r"ito|itm_[a-z_]+|ns_[a-z_]+|icid|_ga|spm|ref_src|sr_share)$",
    re.IGNORECASE,
)
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
               "tr", "table", "blockquote", "section", "article", "hr"}
_GLOBAL_GUID = re.compile(r"^(https?://[^/\s]+/|urn:|tag:)", re.IGNORECASE)


def clean_text(text: str | None, limit: int | None = None) -> str:
    """NFC, no control characters, single spaces, trimmed; cut at `limit` on a word."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(line for line in lines if line)
    if limit is not None and len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0]
        text = (cut if len(cut) > limit // 2 else text[:limit]).rstrip() + "…"
    return text


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment, breaking lines at blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(fragment: str | None, limit: int | None = None) -> str:
    """Plain text of an HTML fragment (feed summaries are HTML more often than not)."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_text(fragment, limit)
    parser = _TextExtractor()
    try:
        parser.feed(fragment)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # html.parser is lenient, but never let a summary stop a poll
        text = html.unescape(re.sub(r"<[^>]*>", " ", fragment))
    return clean_text(text, limit)


def canonical_url(url: str | None) -> str | None:
    """A comparable form of a link, or None when it is not an http(s) URL.

    Lower-case host without `www.`, no scheme, default port, fragment or
    trailing slash, tracking parameters dropped and the rest sorted.
    """
    if not url:
        return None
    url = clean_text(url).replace("\n", "")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/").rstrip("/") or ""
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING_PARAMS.match(k))) if parts.query else ""
    return urlunsplit(("", host, path, query, "")).lstrip("/")[:MAX_URL_CHARS]


def resolved_link(link: str | None, document_url: str | None) -> str | None:
    """A relative reference (no scheme) joined to the document's URL; anything
    else as it is. feedparser, given no URL, leaves relative links as written."""
    if not link or not document_url:
        return link
    link = link.strip()
    try:
        if urlsplit(link).scheme:
            return link
        return urljoin(document_url, link)
    except ValueError:
        return link


def safe_link(url: str | None) -> str | None:
    """The link as published, if it is an http(s) URL; never `javascript:` and friends."""
    if not url:
        return None
    url = clean_text(url).replace("\n", "")
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url[:MAX_URL_CHARS] if scheme in ("http", "https") else None


def _guid_key(guid: str, feed_scope: str, link: str | None, link_canonical: str | None) -> str:
    guid = clean_text(guid)[:MAX_URL_CHARS]
    if guid.lower().startswith(("http://", "https://")):
        # Most feeds' guid is the item's link, whose canonical form is known.
        canonical = link_canonical if guid == link else canonical_url(guid)
        if canonical:
            return f"url:{canonical}"
    if _GLOBAL_GUID.match(guid):
        return f"guid:{guid}"
    return f"guid:{feed_scope}:{guid}"


def content_hash(title: str, summary: str) -> str:
    return hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def normalise_entry(entry: ParsedEntry, feed_scope: str, link_is_unique: bool = True) -> Item:
    """One parsed entry to an `Item` with clean text and identity keys."""
    link = safe_link(entry.link)
    return _item(entry, feed_scope, link, canonical_url(link), link_is_unique)


def _item(entry: ParsedEntry, feed_scope: str, link: str | None, canonical: str | None,
          link_is_unique: bool) -> Item:
    title_source = html_to_text if entry.title_is_html else clean_text
    title = title_source(entry.title, MAX_TITLE_CHARS).replace("\n", " ")
    summary = html_to_text(entry.summary, MAX_SUMMARY_CHARS)
    digest = content_hash(title, summary)
    keys: list[str] = []
    if entry.guid:
        keys.append(_guid_key(entry.guid, feed_scope, link, canonical))
    if canonical and link_is_unique:
        keys.append(f"url:{canonical}")
    if not keys:
        keys.append(f"hash:{feed_scope}:{digest}")
    if not title:
        title = (summary.split("\n", 1)[0][:120] or link or "(untitled)")
    return Item(
        keys=tuple(dict.fromkeys(keys)),
        guid=clean_text(entry.guid)[:MAX_URL_CHARS] or None,
        url=link,
        canonical_url=canonical,
        title=title,
        summary=summary,
        author=clean_text(entry.author, 200) or None,
        published=entry.published,
        updated=entry.updated,
        content_hash=digest,
    )


def feed_title(parsed: ParsedFeed) -> str | None:
    """The feed's own title as its items' titles are kept: plain text, one line,
    no control characters (it becomes a feed's name in the config and in every
    table and message that names the feed)."""
    return clean_text(parsed.title, MAX_TITLE_CHARS).replace("\n", " ") or None


def normalise_feed(parsed: ParsedFeed, feed_scope: str,
                   document_url: str | None = None) -> list[Item]:
    """All entries of a document as items, one per identity, document order kept.
    Relative links (the FT writes `/content/<id>`) are resolved against
    `document_url`, where the document came from, as a browser would."""
    links = [safe_link(resolved_link(entry.link, document_url)) for entry in parsed.entries]
    canonicals = [canonical_url(link) for link in links]  # once each: the costliest step
    link_counts = Counter(canonicals)
    items: list[Item] = []
    seen: set[str] = set()
    for entry, link, canonical in zip(parsed.entries, links, canonicals, strict=True):
        item = _item(entry, feed_scope, link, canonical, link_counts[canonical] == 1)
        if seen.isdisjoint(item.keys):
            items.append(item)
        seen.update(item.keys)
    return items
