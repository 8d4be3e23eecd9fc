"""A reproducible feed corpus built from real items of the 2022 replay stream.

Items are taken in capture order and cut into feeds of 20-50 items, rendered
alternately as RSS 2.0 and Atom 1.0, the way news sites publish them: each item
carries its description as summary and, like many real feeds, a longer HTML
body. The replay stream keeps only short descriptions, so the body is made of
real text too: the item's own description followed by those of the next few
items in the stream (3-25 paragraphs), which brings the documents to the
30-250 KB that real news feeds weigh.

Beside them, `real_documents` serves the real feed documents of
../shared/data/feeds as they were captured: news and government feeds, and the
awkward ones (malformed XML, UTF-16, gzip bytes without a Content-Encoding, an
HTML page), which real polling meets too.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape


def default_shared_data() -> Path:
    """TRACKER_SHARED_DATA, else ../shared/data beside the repository."""
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("TRACKER_SHARED_DATA", root.parent / "shared" / "data"))


def replay_items(shared_data: Path) -> Iterator[dict[str, str]]:
    folder = shared_data / "replay" / "rss_link_database_2022"
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("title") and record.get("link"):
                    yield record


def _when(record: dict[str, str]) -> datetime:
    return datetime.fromisoformat(record["date_published"])


def render_rss(name: str, items: list[dict[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(r['title'])}</title><link>{escape(r['link'])}</link>"
        f"<guid isPermaLink=\"false\">{escape(r['link'])}</guid>"
        f"<pubDate>{format_datetime(_when(r))}</pubDate>"
        f"<description>{escape(r.get('description') or '')}</description>"
        f"<content:encoded><![CDATA[{r['body']}]]></content:encoded></item>\n"
        for r in items)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>{escape(name)}</title><link>https://example.org/</link>"
            f"<description>{escape(name)}</description>\n{body}</channel></rss>").encode()


def render_atom(name: str, items: list[dict[str, str]]) -> bytes:
    body = "".join(
        f"<entry><title>{escape(r['title'])}</title><link href=\"{escape(r['link'])}\"/>"
        f"<id>{escape(r['link'])}</id><updated>{_when(r).isoformat()}</updated>"
        f"<summary>{escape(r.get('description') or '')}</summary>"
        f"<content type=\"html\">{escape(r['body'])}</content></entry>\n"
        for r in items)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(name)}</title><id>urn:bench:{escape(name)}</id>"
            f"<updated>2022-08-31T00:00:00Z</updated>\n{body}</feed>").encode()


def build_corpus(shared_data: Path, feeds: int = 200, seed: int = 2022) -> dict[str, bytes]:
    """`feeds` documents keyed by URL path, the same on every run."""
    rng = random.Random(seed)
    stream = list(replay_items(shared_data))
    position = 0
    corpus: dict[str, bytes] = {}
    for number in range(feeds):
        size = rng.randint(20, 50)
        items = []
        for offset in range(size):
            record = dict(stream[(position + offset) % len(stream)])
            paragraphs = [stream[(position + offset + k) % len(stream)].get("description") or ""
                          for k in range(rng.randint(3, 25))]
            record["body"] = "".join(f"<p>{escape(text)}</p>" for text in paragraphs if text)
            items.append(record)
        position += size
        name = f"Bench feed {number}"
        render = render_rss if number % 2 == 0 else render_atom
        corpus[f"/bench/{number}.xml"] = render(name, items)
    return corpus


REAL_PREFIX = "/real/"


def real_documents(shared_data: Path) -> dict[str, bytes]:
    """Every document listed in feeds/INDEX.csv, keyed by URL path, as captured."""
    folder = shared_data / "feeds"
    with open(folder / "INDEX.csv", newline="", encoding="utf-8") as index:
        paths = sorted(row["path"] for row in csv.DictReader(index))
    return {REAL_PREFIX + path: (folder / path).read_bytes() for path in paths}
