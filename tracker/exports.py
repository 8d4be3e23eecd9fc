"""Exports of stored items for other tools. Pure: records in, text out.

Atom 1.0 (RFC 4287) and JSON Feed 1.1 let people subscribe to "tracker: air
defence" in any reader: each matched topic becomes a category. CSV is for
spreadsheets; JSON lines for scripts.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from typing import Any

ATOM = "http://www.w3.org/2005/Atom"
CSV_COLUMNS = ("id", "feed", "feed_kind", "title", "url", "published", "first_seen", "topics",
               "seen_in", "storyline", "related", "summary", "starred", "note")


def _entry_id(record: dict[str, Any]) -> str:
    return f"tag:tracker,2026:item/{record['id']}"


def _when(record: dict[str, Any]) -> str:
    return str(record.get("updated") or record.get("published") or record["first_seen"])


def latest_time(records: Iterable[dict[str, Any]]) -> datetime | None:
    """When the newest of the records was published or updated."""
    return max((datetime.fromisoformat(_when(record)) for record in records), default=None)


def atom(records: Iterable[dict[str, Any]], title: str, feed_id: str, now: datetime) -> str:
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(root, f"{{{ATOM}}}title").text = title
    ET.SubElement(root, f"{{{ATOM}}}id").text = feed_id
    ET.SubElement(root, f"{{{ATOM}}}updated").text = now.isoformat(timespec="seconds")
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "tracker"
    ET.SubElement(root, f"{{{ATOM}}}generator").text = "tracker"
    for record in records:
        entry = ET.SubElement(root, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = record["title"]
        ET.SubElement(entry, f"{{{ATOM}}}id").text = _entry_id(record)
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _when(record)
        if record.get("published"):
            ET.SubElement(entry, f"{{{ATOM}}}published").text = record["published"]
        if record.get("url"):
            ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=record["url"])
        source = ET.SubElement(entry, f"{{{ATOM}}}author")
        ET.SubElement(source, f"{{{ATOM}}}name").text = record["feed"]
        for topic in record.get("topics", []):
            ET.SubElement(entry, f"{{{ATOM}}}category", term=topic["name"],
                          label=topic["name"].replace("_", " "))
        for related in record.get("related", []):
            if related.get("url"):
                ET.SubElement(entry, f"{{{ATOM}}}link", rel="related", href=related["url"],
                              title=related.get("title", ""))
        # RFC 4287 4.1.1: an entry with no alternate link must carry content.
        summary = record.get("summary") or ""
        if record.get("url"):
            ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = summary
        thread = f"Continues: {record['continues']}" if record.get("continues") else ""
        if thread or not record.get("url"):
            # What readers show: the summary, and the earlier story it continues.
            ET.SubElement(entry, f"{{{ATOM}}}content", type="text").text = "\n\n".join(
                part for part in (summary, thread) if part)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def json_feed(records: Iterable[dict[str, Any]], title: str) -> str:
    items = []
    for record in records:
        item: dict[str, Any] = {
            "id": _entry_id(record), "title": record["title"],
            "content_text": record.get("summary") or "",
            "date_published": record.get("published") or record["first_seen"],
            "authors": [{"name": record["feed"]}],
            "tags": [topic["name"] for topic in record.get("topics", [])],
            "_tracker": {"feed_kind": record.get("feed_kind"), "seen_in": record.get("seen_in"),
                         "topics": record.get("topics", []),
                         "storyline": record.get("storyline"),
                         "related": [{k: r[k] for k in ("id", "kind", "score", "url")}
                                     for r in record.get("related", [])]},
        }
        if record.get("url"):
            item["url"] = record["url"]
        if record.get("updated"):
            item["date_modified"] = record["updated"]
        items.append(item)
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": title,
                       "items": items}, indent=2, ensure_ascii=False)


def csv_text(records: Iterable[dict[str, Any]]) -> str:
    """The records for a spreadsheet, starting with a byte-order mark: without
    one, Excel reads UTF-8 as the machine's code page ("€555m" as "â‚¬555m"),
    and feed text is full of curly quotes, currency signs and Cyrillic names.
    Scripts read the BOM away with `encoding="utf-8-sig"`, or use JSON lines."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = dict(record)
        row["topics"] = "; ".join(topic["name"] for topic in record.get("topics", []))
        row["seen_in"] = "; ".join(record.get("seen_in", []))
        row["related"] = "; ".join(f"{r['id']} {r['kind']} {r['score']:.2f}"
                                   for r in record.get("related", []))
        writer.writerow([_spreadsheet_safe(row.get(column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


def _spreadsheet_safe(value: object) -> str:
    """Feed text must not become a formula in a spreadsheet (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
