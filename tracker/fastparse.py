"""A fast parser for the common case: well-formed RSS 2.0, RSS 1.0 and Atom 1.0.

feedparser reads about 3 MB/s; most of a cold poll went into it. expat, through
the standard library's ElementTree, builds the tree of a well-formed document
two orders of magnitude faster (as fast as libxml2 via lxml, measured on the
benchmark corpus, for ~9 MB less memory in every process). This module reads
exactly the fields tracker keeps, the way feedparser would read them, from
documents it fully understands, and answers None for anything else, which then
goes to feedparser as before: malformed XML, a DOCTYPE (entities), encodings
other than UTF-8, ISO-8859-1 and Windows-1252 or that the headers contradict, a
byte-order mark, a response without a Content-Type, a base (`xml:base`, a
Content-Location header) that could change a link or an id, XHTML text, markup
inside an RSS element, a summary with script code the two would read apart
or with a tag left open, an item's field given twice in different words,
Atom 0.3, and any element feedparser would map onto a
title, summary, author, date, link or id that is not read here. It does read
what news feeds put beside an item's own fields where feedparser leaves those
fields alone: a related `atom:link` (rel other than alternate), a picture's
media:title and media:description once the item's title and description come
first (after a blank description, the one caption is the summary), a video's
media:description as an Atom entry's only summary (YouTube), co-authors (the
last one), and iTunes author, title, subtitle and (after the description)
summary. Agreement with feedparser on the real and conformance corpora is
checked by `tests/test_fastparse.py`.

Pure: no I/O. A document with a DOCTYPE or an entity declaration never reaches
expat (feedparser reads it), so no entity is expanded and nothing outside the
document is loaded; comments and processing instructions are left out of the
tree.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlparse, urlunparse, uses_relative

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin

from tracker.models import ParsedEntry, ParsedFeed
from tracker.parse import ttl_seconds, utc_datetime

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
# feedparser matches namespaces case-insensitively; iTunes podcast tags are
# common in news publishers' feeds too.
ITUNES = frozenset({"http://www.itunes.com/dtds/podcast-1.0.dtd",
                    "http://example.com/dtds/podcast-1.0.dtd"})

_XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml",
              "application/rdf+xml", "application/x-rss+xml", "application/x-atom+xml")
# The encoding named in the XML declaration; UTF-8 when there is none.
_DECLARED_ENCODING = re.compile(
    rb"""<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
# Local names feedparser maps onto the fields tracker keeps, whatever their
# namespace; met anywhere other than where this module reads them, the
# document goes to feedparser.
_FIELD_NAMES = frozenset({
    "title", "link", "guid", "id", "description", "summary", "content", "encoded", "body",
    "fullitem", "abstract", "info", "author", "creator", "name", "email", "managingeditor",
    "webmaster", "pubdate", "published", "issued", "updated", "modified", "date",
    "lastbuilddate", "created", "subtitle", "tagline", "contributor",
    "entry", "item", "feed", "channel",
})
# Media RSS: attachments (media_content, thumbnails) to feedparser, except an
# item's own media:title and media:description, which it reads as the item's.
_MEDIA = ("{http://search.yahoo.com/mrss/}", "{http://www.rssboard.org/media-rss}")
_HTML_TYPES = {"html": "text/html", "xhtml": "application/xhtml+xml",
               "text/html": "text/html", "application/xhtml+xml": "application/xhtml+xml"}
_MEDIA_TEXT = "media text"  # see `_children`
_C1 = re.compile("[" + "".join(map(chr, _cp1252)) + "]")  # what feedparser maps to cp1252
_SCRIPT = re.compile(r"<\s*/?\s*script", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# A plain embed (`<script async src="...widgets.js"></script>`, or code without
# a "<" in it): both readings drop it whole.
_PLAIN_SCRIPT = re.compile(r"<script\b[^<>]*>[^<]*</script>", re.IGNORECASE)
# A tag, declaration or processing instruction left open by the next "<"
# ("<A<", "a <b< c", "<!<p>"): feedparser's sanitiser ends it there, tracker's
# text reading keeps it as text.
_UNCLOSED_TAG = re.compile(r"<(?:[!?]|/?[A-Za-z])[^<>]*<")
# An empty tag ("a <> b"), a declaration other than a comment, a DOCTYPE or a
# CDATA section ("<!x>", "<! >"), and a comment never closed ("<!-->"): feedparser's
# sanitiser and tracker's text reading disagree on each (one drops what the
# other keeps).
_ODD_MARKUP = re.compile(r"<>|<!(?!--|\[CDATA\[|doctype)|<!--(?!.*?-->)", re.IGNORECASE | re.DOTALL)
_ENCODING_ALIASES = {"utf8": "utf-8", "latin1": "iso-8859-1", "latin-1": "iso-8859-1"}
# Declared single-byte encodings read here. feedparser decodes the document
# with the one declared and maps C1 controls to Windows-1252's characters (a
# text with one goes to it, see `_check_unrepaired`); expat decodes it alike,
# and refuses a byte Windows-1252 leaves undefined, where feedparser would try
# other encodings.
_SINGLE_BYTE = frozenset({"iso-8859-1", "windows-1252"})
# At most this many "<" in a document read here: the tree of a hostile one
# (2 MB of empty or nested elements, `IN_PROCESS_MAX_BYTES`) would take 50-80 MB
# in-process, while this many costs ~15 MB at most. The largest real feed of the shared
# corpora has 19,771 (a 1.6 MB podcast feed). More goes to feedparser's worker,
# whose memory is bounded.
MAX_MARKUP = 100_000


class _Unsure(Exception):
    """The document needs feedparser's judgement."""


def parse_fast(content: bytes, headers: dict[str, str]) -> ParsedFeed | None:
    """The feed, read by expat; None when feedparser should read it instead."""
    head = content[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in content or content.count(b"<") > MAX_MARKUP:
        return None
    try:
        _check_content_type(headers, head)
        _check_encoding(head, headers)
        root = ET.fromstring(content)
        # A Content-Location header is feedparser's base for the whole document.
        return _read(root, based=b"xml:base" in content or "content-location" in headers)
    except (_Unsure, ET.ParseError, ValueError):
        return None


def _check_base_proof(uri: str | None) -> None:
    """Under `xml:base` feedparser joins links and permalink ids to the base in effect.
    Only a URI that the join leaves as it is, whatever the base, is read here:
    one with a scheme that takes no base (tag:, urn:), or an absolute one with a
    host that `urljoin` gives back unchanged (its scheme in lower case, no
    empty `?` or `#`). Text is not affected: the base only rewrites attributes
    of the HTML in summaries, which tracker reads as text."""
    if uri is None:
        return
    parts = urlparse(uri)
    if not parts.scheme or (parts.scheme in uses_relative
                            and (not parts.netloc or urlunparse(parts) != uri)):
        raise _Unsure


def _check_content_type(headers: dict[str, str], head: bytes) -> None:
    value = headers.get("content-type")
    if value is None:
        if headers:
            raise _Unsure  # a response without Content-Type: feedparser reads it leniently
        return
    kind = value.split(";")[0].strip().lower()
    if kind not in _XML_TYPES and not kind.endswith("+xml"):
        raise _Unsure  # feedparser warns about the type (and may still read it)
    if kind.startswith("text/") and _charset(value) is None and not head.isascii():
        raise _Unsure  # text/xml without a charset means us-ascii to feedparser


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    return _normal_encoding(match.group(1)) if match else None


def _normal_encoding(name: str) -> str:
    name = name.strip().lower().replace("_", "-")
    return _ENCODING_ALIASES.get(name, name)


def _check_encoding(head: bytes, headers: dict[str, str]) -> None:
    """UTF-8 without a byte-order mark, and the single-byte encodings older
    sites still declare (`_SINGLE_BYTE`), are read here, when the headers do
    not name another: other encodings, and headers that contradict the
    document, follow feedparser's rules. Checked before parsing: an XML
    declaration must open the document, so the start of it is enough."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"\xef\xbb\xbf")):
        raise _Unsure
    match = _DECLARED_ENCODING.match(head)
    used = _normal_encoding(match.group(1).decode("ascii")) if match else "utf-8"
    declared = _charset(headers.get("content-type", ""))
    if used != "utf-8" and used not in _SINGLE_BYTE:
        raise _Unsure
    if declared is not None and declared != used:
        raise _Unsure


def _read(root: Any, based: bool) -> ParsedFeed:
    tag = root.tag
    if tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise _Unsure
        _refuse_nested_fields(channel, allowed={"item"})
        leaks = _sets_content(channel)
        entries = tuple(_rss_entry(item, "", based, content_before=leaks and n == 0)
                        for n, item in enumerate(channel.iterfind("item")))
        ttls = channel.findall("ttl")  # feedparser keeps the last
        return ParsedFeed(title=_feed_title(channel.find("title")), entries=entries,
                          warning=None, ttl_seconds=ttl_seconds(ttls[-1].text if ttls else None))
    if tag == f"{{{RDF}}}RDF":
        channel = root.find(f"{{{RSS1}}}channel")
        if channel is None:
            raise _Unsure
        _refuse_nested_fields(root, allowed={f"{{{RSS1}}}item"})
        leaks = _sets_content(channel)
        entries = tuple(_rss_entry(item, RSS1, based, content_before=leaks and n == 0)
                        for n, item in enumerate(root.iterfind(f"{{{RSS1}}}item")))
        return ParsedFeed(title=_feed_title(channel.find(f"{{{RSS1}}}title")), entries=entries,
                          warning=None, ttl_seconds=None)
    if tag == f"{{{ATOM}}}feed":
        _refuse_nested_fields(root, allowed={f"{{{ATOM}}}entry"})
        entries = tuple(_atom_entry(entry, based) for entry in root.iterfind(f"{{{ATOM}}}entry"))
        title = root.find(f"{{{ATOM}}}title")
        kind = "text" if title is None else (title.get("type") or "text").lower()
        if kind != "text" and (kind not in ("html", "text/html")
                               or any(mark in (title.text or "") for mark in "<>&")):
            raise _Unsure  # an HTML title with no markup or entity in it reads the same
        return ParsedFeed(title=_feed_title(title), entries=entries, warning=None,
                          ttl_seconds=None)
    raise _Unsure


def _sets_content(channel: Any) -> bool:
    """Whether the channel leaves feedparser's "has content" flag set for the
    first item: a content element before it, or a second summary-like element
    (a description or summary once the channel has a summary, as after an
    itunes:summary). The flag is cleared only at the end of an item, and while
    it is set an item's second summary replaces its first instead of being
    filed as content. Namespaces are not told apart, to be safe."""
    has_summary = False
    for child in channel:
        if _local(child.tag) == "item":
            break
        for part in child.iter():
            local = _local(part.tag)  # "" for a comment or processing instruction
            if local in ("encoded", "fullitem", "content"):
                return True
            if local in ("summary", "description") and has_summary:
                return True
            has_summary = has_summary or local == "summary"
    return False


def _refuse_nested_fields(container: Any, allowed: set[str]) -> None:
    """Field-like elements nested below the feed level (a channel's image title
    is fine: feedparser reads it into the image) must not reach entries."""
    for child in container:
        if child.tag in allowed:
            continue
        for element in child.iter():
            if _local(element.tag) in ("item", "entry"):
                raise _Unsure


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _itunes(tag: Any) -> str | None:
    """The local name of an iTunes podcast element, else None."""
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    namespace, _, local = tag[1:].partition("}")
    return local if namespace.lower() in ITUNES else None


def _feed_title(element: Any) -> str | None:
    """The feed's own title; a missing one may be spelled in a way feedparser
    also reads (dc:title, TITLE), and markup in it is feedparser's to clean."""
    if element is None:
        raise _Unsure
    text = _text_only(element).strip()
    if _looks_like_html(text):
        raise _Unsure
    _check_unrepaired(text)
    return text or None


def _text_only(element: Any) -> str:
    """An element's text; markup inside it is feedparser's to interpret."""
    if len(element):
        raise _Unsure
    return str(element.text or "")


def _when(text: str | None) -> datetime | None:
    """A date as feedparser's own date parser reads it."""
    return utc_datetime(_parse_date(text.strip())) if text and text.strip() else None


def _children(entry: Any) -> Iterator[tuple[str, Any]]:
    """(namespace-qualified tag, element) of each child; a field-like element
    nested deeper than the entry's own children is refused. A Media RSS element
    holding a title or description comes as `_MEDIA_TEXT`; others are skipped."""
    for child in entry:
        if isinstance(child.tag, str) and child.tag.startswith(_MEDIA):
            if any(_local(element.tag) in ("title", "description") for element in child.iter()):
                yield _MEDIA_TEXT, child
            continue
        person = child.tag == f"{{{ATOM}}}author"
        for element in child:
            if _local(element.tag) in _FIELD_NAMES and not (person and element.tag in _PERSON):
                raise _Unsure
            for below in element.iter():
                if below is not element and _local(below.tag) in _FIELD_NAMES:
                    raise _Unsure
        yield child.tag, child


_PERSON = frozenset({f"{{{ATOM}}}name", f"{{{ATOM}}}email", f"{{{ATOM}}}uri"})


def _absolute(link: str | None) -> str | None:
    if link is None:
        return None
    link = link.strip()
    if not link:
        return None
    if re.match(r"https?://[^/\s]", link, re.IGNORECASE):
        return link
    if _SCHEME.match(link) or link.startswith("//"):
        raise _Unsure  # feedparser's to judge
    return link  # relative: feedparser, given no URL, leaves it as written too


def _rss_entry(item: Any, ns: str, based: bool, content_before: bool = False) -> ParsedEntry:
    """`content_before`: feedparser's content flag may still be set from the
    channel (`_sets_content`), which changes where a second summary goes."""
    prefix = f"{{{ns}}}" if ns else ""
    fields: dict[str, Any] = {"guid": None, "link": None, "title": None, "summary": None,
                              "content": None, "author": None, "published": None,
                              "updated": None}
    guid_is_link = False
    if ns:
        about = item.get(f"{{{RDF}}}about")
        fields["guid"] = about.strip() if about and about.strip() else None
    media_text: list[tuple[bool, Any]] = []  # (after the item's description?, element)
    second_summaries: list[tuple[bool, Any]] = []  # itunes:summary: after the description?
    read: dict[str, Any] = {}
    has_source = False
    for tag, child in _children(item):
        itunes = _itunes(tag)
        _once(read, _RSS_SINGLE.get(tag.removeprefix(prefix) if ns else tag), child)
        if tag == f"{prefix}title":
            if fields["title"] is not None:
                raise _Unsure  # feedparser keeps the first with text, not the last
            fields["title"] = _text_only(child)
        elif tag == _MEDIA_TEXT:
            if has_source and _local(child.tag) == "title" \
                    and (child.text or "") != (fields["title"] or ""):
                raise _Unsure  # see "source" below
            media_text.append((fields["summary"] is not None, child))
        elif tag == f"{prefix}link":
            fields["link"] = _text_only(child)
        elif tag == f"{prefix}description":
            if fields["content"] is not None or fields["summary"] is not None:
                # feedparser files a description after content, or after
                # another description, as content
                raise _Unsure
            fields["summary"] = _text_only(child)
        elif tag == f"{{{CONTENT}}}encoded":
            if fields["content"] is not None:
                raise _Unsure
            fields["content"] = _text_only(child)
        elif tag == "guid" and not ns:
            fields["guid"] = _text_only(child).strip() or None
            guid_is_link = child.get("isPermaLink", "true") == "true"
        elif tag in ("author", f"{{{DC}}}creator") or itunes == "author":
            # feedparser reads each as <author> and keeps the last (co-authors:
            # the Telegraph gives each a dc:creator of its own)
            fields["author"] = _text_only(child)
        elif tag == "pubDate" or tag == f"{{{DCTERMS}}}issued":
            fields["published"] = _text_only(child)
        elif tag in (f"{{{DC}}}date", f"{{{DCTERMS}}}modified", "modified"):
            fields["updated"] = _text_only(child)
        elif tag == "source":
            _text_only(child)  # the publication it came from: not the item's own fields
            # feedparser forgets there which title it has kept: a media:title
            # after it, directly in the item, takes the item title's place (one
            # inside a media:content or media:group, as Engadget's, does not)
            has_source = True
        elif tag == f"{{{ATOM}}}link" and child.get("href") is not None \
                and (child.get("rel") or "alternate").lower() != "alternate":
            pass  # a related link (NYT's rel="standout"): feedparser lists it, not as the link
        elif itunes in ("title", "subtitle"):
            pass  # feedparser keeps them apart (itunes_title, subtitle), not as the title
        elif itunes == "summary":
            second_summaries.append((fields["summary"] is not None, child))
        elif _local(tag) in _FIELD_NAMES:
            raise _Unsure
    captions = [(after, part) for after, element in media_text for part in element.iter()
                if _local(part.tag) == "description"]
    if content_before and (captions or second_summaries):
        raise _Unsure
    # Of several second summaries, feedparser lets one at the item's own level
    # replace the description (a media:description, an itunes:summary); inside
    # a media:content or media:group they stay apart.
    item_level = len(second_summaries) + sum(
        _local(element.tag) == "description" for _, element in media_text)
    if item_level and len(captions) + len(second_summaries) > 1:
        raise _Unsure
    filed = _file_as_content(fields, captions + second_summaries)
    for after_description, element in media_text:
        _check_media_text(element, after_description, fields, filed)
    for after_description, element in second_summaries:
        if element is not filed:
            _check_second_summary(after_description, fields)
    # A permalink guid is joined to the base; rdf:about too, to be safe.
    return _entry(fields, guid_is_link, _looks_like_html(fields["title"]),
                  based=based, guid_joined=guid_is_link or bool(ns))


# An item's fields that feedparser reads from one element each; given twice
# and not alike (two links, two ids, a dc:date and a dcterms:modified), which
# one it keeps is its to say. Each maps to the field it fills.
_RSS_SINGLE = {"link": "link", "guid": "guid", "pubDate": "published",
               f"{{{DCTERMS}}}issued": "published", f"{{{DC}}}date": "updated",
               f"{{{DCTERMS}}}modified": "updated", "modified": "updated"}


_ATOM_SINGLE = {f"{{{ATOM}}}id": "guid", f"{{{ATOM}}}published": "published",
                f"{{{ATOM}}}issued": "published", f"{{{ATOM}}}updated": "updated",
                f"{{{ATOM}}}modified": "updated"}


def _once(read: dict[str, Any], field: str | None, element: Any) -> None:
    """Note that `element` fills `field`; another one that differs from it
    (its tag, text or attributes) is feedparser's. Feed publishers repeat an
    item's guid word for word."""
    if field is not None:
        seen = (element.tag, element.text, element.attrib, len(element))
        if read.setdefault(field, seen) != seen:
            raise _Unsure


def _file_as_content(fields: dict[str, Any], seconds: list[tuple[bool, Any]]) -> Any:
    """After a blank <description> (NYT's), feedparser files the one
    media:description or itunes:summary (`seconds`: each with whether it came
    after the description) as content, which tracker then reads for want of a
    summary: the element so filed (its text in `fields`), or None."""
    summary = fields["summary"]
    if (len(seconds) != 1 or not seconds[0][0] or fields["content"] is not None
            or summary is None or summary.strip()):
        return None
    fields["content"] = _text_only(seconds[0][1])
    return seconds[0][1]


def _check_media_text(element: Any, after_description: bool, fields: dict[str, Any],
                      filed: Any = None) -> None:
    """feedparser reads an RSS item's media:title and media:description (news
    feeds put them on each picture) as the item's own title and description,
    unless the item's come first: its (one) non-blank <title> wins wherever it is
    (the shallower element), and a media:description after a non-blank
    <description> is filed as content, which tracker does not read while
    there is a summary. Any other arrangement is feedparser's to sort out."""
    for part in element.iter():
        local = _local(part.tag)
        if local not in ("title", "description"):
            continue
        if not part.tag.startswith(_MEDIA):
            raise _Unsure
        if local == "title" and not _nonblank(fields["title"]):
            raise _Unsure
        if local == "description" and part is not filed:
            _check_second_summary(after_description, fields)


def _check_second_summary(after_description: bool, fields: dict[str, Any]) -> None:
    """A media:description or itunes:summary: after a <description> with words in
    it and no content:encoded, feedparser files it as content, which tracker does
    not read while there is a summary; before, it becomes the summary."""
    if not (after_description and fields["content"] is None and _has_words(fields["summary"])):
        raise _Unsure


def _has_words(html_text: str | None) -> bool:
    """Whether text is left once markup is taken out (else tracker reads content)."""
    return bool(html_text) and bool(
        re.search(r"\w", html.unescape(re.sub(r"<[^>]*>", " ", str(html_text)))))


def _atom_text(element: Any) -> tuple[str, bool]:
    """The text of an Atom text construct and whether it is HTML."""
    kind = (element.get("type") or "text").lower()
    if kind in ("text", "text/plain"):
        return _text_only(element), False
    if kind in ("html", "text/html"):
        return _text_only(element), True
    raise _Unsure  # xhtml, base64 and other media types


def _atom_entry(entry: Any, based: bool) -> ParsedEntry:
    atom = f"{{{ATOM}}}"
    fields: dict[str, Any] = {"guid": None, "link": None, "title": None, "summary": None,
                              "content": None, "author": None, "published": None,
                              "updated": None}
    title_is_html = guid_is_link = False
    media_text: list[Any] = []
    read: dict[str, Any] = {}
    for tag, child in _children(entry):
        _once(read, _ATOM_SINGLE.get(tag), child)
        if tag == _MEDIA_TEXT:
            media_text.append(child)
        elif tag == f"{atom}title":
            if fields["title"] is not None:
                raise _Unsure  # feedparser keeps the first with text, not the last
            fields["title"], title_is_html = _atom_text(child)
        elif tag == f"{atom}link":
            if child.get("href") is None:
                raise _Unsure  # feedparser takes a url= or uri= attribute, or the text
            rel = child.get("rel", "alternate")
            kind = (child.get("type") or ("application/atom+xml" if rel == "self"
                                          else "text/html")).strip().lower()
            if rel == "alternate" and _HTML_TYPES.get(kind, kind) in _HTML_TYPES.values():
                _once(read, "link", child)
                fields["link"] = child.get("href")
        elif tag == f"{atom}id":
            fields["guid"] = _text_only(child).strip() or None
            guid_is_link = True
        elif tag == f"{atom}summary":
            if fields["content"] is not None or fields["summary"] is not None:
                raise _Unsure  # as for an RSS item's second description
            fields["summary"] = _atom_text(child)[0]
        elif tag == f"{atom}content":
            if fields["content"] is not None or child.get("src") is not None:
                raise _Unsure
            fields["content"] = _atom_text(child)[0]
        elif tag == f"{atom}author":
            if fields["author"] is not None:
                raise _Unsure
            name = child.findtext(f"{atom}name")
            email = (child.findtext(f"{atom}email") or "").strip()
            if email:  # feedparser's "name (email)", or the email alone
                name = (name or "").strip()
                fields["author"] = f"{name} ({email})" if name else email
            else:
                fields["author"] = name
        elif tag == f"{atom}published" or tag == f"{atom}issued":
            fields["published"] = _text_only(child)
        elif tag in (f"{atom}updated", f"{atom}modified"):
            fields["updated"] = _text_only(child)
        elif _local(tag) in _FIELD_NAMES:
            raise _Unsure
    if media_text:
        _atom_media_text(media_text, fields)
    return _entry(fields, guid_is_link, title_is_html, based=based, guid_joined=guid_is_link)


def _atom_media_text(elements: list[Any], fields: dict[str, Any]) -> None:
    """YouTube's entries: a media:group with the video's media:title and, as the
    entry's only summary, its media:description. feedparser keeps the entry's own
    non-blank title and reads the one description as the summary; any other
    arrangement is left to it."""
    parts = [part for element in elements for part in element.iter()
             if _local(part.tag) in ("title", "description")]
    descriptions = [part for part in parts if _local(part.tag) == "description"]
    if any(not part.tag.startswith(_MEDIA) for part in parts) or len(descriptions) > 1:
        raise _Unsure
    if len(descriptions) < len(parts) and not _nonblank(fields["title"]):
        raise _Unsure  # a media:title would stand in for the missing title
    if descriptions:
        if fields["summary"] is not None or fields["content"] is not None:
            raise _Unsure
        fields["summary"] = _text_only(descriptions[0])


def _looks_like_html(text: str | None) -> bool:
    """feedparser's guess, for RSS, that a plain-text element holds HTML."""
    return bool(text) and bool(_FeedParserMixin.looks_like_html(text))


def _entry(fields: dict[str, Any], guid_is_link: bool, title_is_html: bool, *, based: bool,
           guid_joined: bool) -> ParsedEntry:
    """The entry from its fields, or _Unsure where feedparser would read it
    otherwise. Under `xml:base` (`based`), the link and, when feedparser joins
    it to the base (`guid_joined`), the id must be ones the join leaves alone."""
    link = fields["link"]
    if link is None and guid_is_link and fields["guid"]:
        link = fields["guid"]  # feedparser: a permalink id stands in for a missing link
    if based:
        _check_base_proof(link)
        if guid_joined:
            _check_base_proof(fields["guid"])
    summary = fields["summary"]
    if not (summary and summary.strip()):
        summary = fields["content"]
    _check_scripts(summary)
    for text in (fields["title"], summary):
        if text and (_UNCLOSED_TAG.search(text) or _ODD_MARKUP.search(text)):
            raise _Unsure
    for text in (fields["title"], summary, fields["author"], fields["guid"], link):
        _check_unrepaired(text)
    return ParsedEntry(
        guid=fields["guid"],
        link=_absolute(link),
        title=_nonblank(fields["title"]),
        title_is_html=title_is_html,
        summary=_nonblank(summary),
        author=_nonblank(fields["author"]),
        published=_when(fields["published"]),
        updated=_when(fields["updated"]),
    )


def _check_scripts(summary: str | None) -> None:
    """feedparser's sanitiser drops a script and everything in it, and so does
    tracker's text extraction, but they read what is inside differently:
    sgmllib sees tags in script code (`document.write("<p>")` breaks the line
    there) and a script tag inside a comment. Only plain scripts stay
    in-process (news feeds' embedded posts are such scripts)."""
    if summary and _SCRIPT.search(summary) and _SCRIPT.search(_PLAIN_SCRIPT.sub("", summary)):
        raise _Unsure


def _check_unrepaired(text: str | None) -> None:
    """feedparser "repairs" every text that reads as UTF-8 taken for Latin-1
    ("Ã©" becomes "é"; it re-encodes every document as UTF-8 first, whatever
    it declared) and maps C1 control characters to Windows-1252's; a text
    either would change goes to feedparser. It repairs a text once it has
    stripped it, so the stripped text is checked too (" Ã©" with a no-break
    space before it reads as UTF-8 only without it)."""
    if not text or text.isascii():
        return
    if _C1.search(text):
        raise _Unsure
    for form in {text, text.strip()}:
        if form.isascii():
            continue  # the repair leaves ASCII as it is
        try:
            form.encode("iso-8859-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        raise _Unsure


def _nonblank(text: str | None) -> str | None:
    return text if text and text.strip() else None
