"""Turn the bytes of a feed document into entries. Pure: no I/O, no clock.

feedparser is handed a stream, never bytes or a URL: given bytes that look
like a path or a URL it would open them itself.
"""

from __future__ import annotations

import calendar
import io
import re
import time
import xml.sax
from datetime import UTC, datetime
from typing import Any

import feedparser

from tracker.errors import ParseError
from tracker.jsonfeed import read_json_feed
from tracker.models import ParsedEntry, ParsedFeed, text_or_none

MAX_TTL_SECONDS = 7 * 24 * 3600
MAX_ENTITY_EXPANSION = 4 * 1024 * 1024
MAX_AUTHOR_BYTES = 1024

_ENTITY_DECL = re.compile(rb"""<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(?:"([^"]*)"|'([^']*)')""")
_ENTITY_REF = re.compile(rb"&([A-Za-z_][\w.-]*);")
# Author-like elements whose text feedparser runs through a quadratic e-mail regex.
_LONG_AUTHOR = re.compile(
    rb"(<(?:[\w-]+:)?(?:author|creator|managingEditor|webMaster|name|contributor)\b[^>]{0,200}>)"
    rb"([^<]{%d,})" % MAX_AUTHOR_BYTES
)


def _entity_expansion(content: bytes) -> int:
    """Bytes the document's internal entities would expand to, nested ones included.

    feedparser's lenient parser expands internal entities itself; a 40 KB
    document repeating one large entity can become a 100 MB field.
    """
    declared = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) or b""
                for m in _ENTITY_DECL.finditer(content)}
    if not declared:
        return 0
    sizes: dict[bytes, int] = {}

    def size(name: bytes, depth: int = 0) -> int:
        if name not in sizes:
            if depth > 8:
                return MAX_ENTITY_EXPANSION + 1
            value = declared[name]
            sizes[name] = len(value) + sum(
                size(ref, depth + 1) for ref in _ENTITY_REF.findall(value) if ref in declared)
        return sizes[name]

    return sum(size(ref) for ref in _ENTITY_REF.findall(content) if ref in declared)


def _defuse(content: bytes) -> bytes:
    """Refuse entity bombs; shorten absurdly long author fields (kept, just trimmed)."""
    if b"<!ENTITY" in content:
        expanded = _entity_expansion(content)
        if expanded > max(MAX_ENTITY_EXPANSION, 10 * len(content)):
            raise ParseError(f"refused: the document's entities would expand to about "
                             f"{expanded / 1e6:.0f} MB (an entity-expansion attack?)")
    return _LONG_AUTHOR.sub(lambda m: m.group(1) + m.group(2)[:MAX_AUTHOR_BYTES // 4], content)


def utc_datetime(parsed: Any) -> datetime | None:
    """feedparser's UTC struct_time to an aware datetime; None when absent or absurd."""
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def ttl_seconds(raw: Any) -> int | None:
    """The RSS `<ttl>` text (minutes) as seconds, when it is a sane number."""
    if isinstance(raw, str) and raw.strip().isdigit():
        minutes = int(raw.strip())
        if 0 < minutes * 60 <= MAX_TTL_SECONDS:
            return minutes * 60
    return None


def _entry(raw: Any) -> ParsedEntry:
    title = text_or_none(raw.get("title"))
    title_type = (raw.get("title_detail") or {}).get("type", "text/plain")
    summary = text_or_none(raw.get("summary"))
    if summary is None:
        contents = raw.get("content") or []
        summary = next(filter(None, (text_or_none(c.get("value")) for c in contents)), None)
    return ParsedEntry(
        guid=text_or_none(raw.get("id")),
        link=text_or_none(raw.get("link")),
        title=title,
        title_is_html=title_type in ("text/html", "application/xhtml+xml"),
        summary=summary,
        author=text_or_none(raw.get("author")),
        # dict.get: feedparser's own get() maps a missing updated_parsed to
        # published_parsed (with a deprecation warning); we want them apart.
        published=utc_datetime(dict.get(raw, "published_parsed")),
        updated=utc_datetime(dict.get(raw, "updated_parsed")),
    )


def _describe(exc: BaseException, content: bytes = b"") -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        # str() gives "<unknown>:7:3: mismatched tag". The position is shown only
        # for a document that declares itself XML: feedparser adds a declaration
        # line to one that does not, so its line numbers would be off.
        text = exc.getMessage()
        if content.removeprefix(_UTF8_BOM).startswith(b"<?xml"):
            text += f": line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
    else:
        text = str(exc).strip() or type(exc).__name__
    return _printable(text)[:200]


_UTF8_BOM = b"\xef\xbb\xbf"
_PROLOGUE = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE\b[^>]*>)*", re.S | re.I)
_HTML_DOCTYPE = re.compile(rb"\s*<!DOCTYPE\s+html\b", re.I)
_START_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_HTML_ROOTS = {b"html", b"head", b"body"}
_PAGE_TITLE = re.compile(rb"<title[^>]*>([^<]{1,200})<", re.I)
_SNIFFED = 4096  # bytes of the document's start looked at to say what it is


def _not_a_feed(content: bytes, headers: dict[str, str], exc: BaseException | None) -> ParseError:
    """Why a document with no entries and no feed version is not a feed, named
    as precisely as its start allows: a web page (with its title), something
    that is not XML (with its first characters), broken XML (where), or
    another kind of XML document (its root element)."""
    head = content[:_SNIFFED].removeprefix(_UTF8_BOM)
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    body = _PROLOGUE.match(head).end()  # type: ignore[union-attr]
    root = _START_TAG.match(head, body)
    name = root.group(1) if root else None
    if kind == "text/html" or _HTML_DOCTYPE.match(head) or (name or b"").lower() in _HTML_ROOTS:
        title = _PAGE_TITLE.search(head)
        titled = f' titled "{_plain(title.group(1))}"' if title else ""
        return ParseError(f"not a feed: the server sent a web page{titled}, not RSS or Atom "
                          "(if the feed moved, `tracker feeds add` with the site's address "
                          "finds the feed its pages advertise)")
    if not head.strip():
        return ParseError("not a feed: the document is empty")
    if not head[body:].startswith(b"<"):
        sent = (f"the server sent {kind}, not RSS or Atom" if kind and "xml" not in kind
                else "the document is not XML")
        return ParseError(f"not a feed: {sent}; {_opening(head)}")
    if isinstance(exc, feedparser.NonXMLContentType):
        return ParseError(f"not a feed: the server sent {kind}, not RSS or Atom")
    if exc is not None:
        return ParseError(f"not a readable feed: {_describe(exc, content)}")
    if name is not None:
        return ParseError(f"not a feed: an XML document whose root element is "
                          f"<{_plain(name)}>, not RSS, Atom or RDF")
    return ParseError("not a feed: no RSS, Atom or RDF document found")


def _plain(raw: bytes) -> str:
    """Bytes from a document's start as one short line for a message."""
    return _printable(raw.decode("utf-8", "replace"))[:80]


def _printable(text: str) -> str:
    """`text` as one line without the control characters (a terminal's escape
    sequences) a hostile server could put in what a message quotes of its
    document, for `tracker status` to print."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _opening(head: bytes) -> str:
    """What a document that is not XML begins with, for a message."""
    start = " ".join(head[:60].decode("utf-8", "replace").split())
    if sum(not c.isprintable() or c == "\ufffd" for c in start) > len(start) // 10:
        return "it is binary data"
    return f'it begins "{_plain(head[:60])}"'


def parse_feed(content: bytes, headers: dict[str, str] | None = None) -> ParsedFeed:
    """Parse a feed document (RSS, Atom or RDF with feedparser; a JSON Feed with
    `tracker.jsonfeed`); raise ParseError when it holds no readable feed.

    A document whose XML is broken but from which feedparser's lenient parser
    still recovers entries is accepted, with a warning naming the XML problem.
    """
    json_feed = read_json_feed(content)
    if json_feed is not None:
        return json_feed
    content = _defuse(content)
    try:
        result = feedparser.parse(io.BytesIO(content), response_headers=headers or {},
                                  sanitize_html=True, resolve_relative_uris=True)
    except MemoryError:
        raise  # the caller's memory bound, not a property of the document
    except Exception as exc:  # feedparser raises odd errors on odd encodings
        raise ParseError(f"the feed parser failed on this document: {_describe(exc)}") from None
    entries = tuple(_entry(raw) for raw in result.get("entries", []))
    problem = _describe(result["bozo_exception"], content) if result.get("bozo") else None
    if not entries and not result.get("version"):
        raise _not_a_feed(content, headers or {}, result.get("bozo_exception"))
    feed = result.get("feed", {})
    warning = f"read leniently: {problem}" if problem else None
    return ParsedFeed(title=text_or_none(feed.get("title")), entries=entries, warning=warning,
                      ttl_seconds=ttl_seconds(feed.get("ttl")))
