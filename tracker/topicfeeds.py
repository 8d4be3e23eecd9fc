"""Each watch topic as an Atom feed on disk, rewritten after every poll.

Alerting tools let people take an alert as a feed as well as by email; here a
feed reader subscribes to "tracker: air defence" (the file, or a web server
serving the folder) and sees each new match with its source, topics, related
stories and, under its summary, the earlier story it continues, as the digest
says it (`tracker.exports.atom`). A file is replaced only
when what it says changed, atomically (`tracker.atomicfile`), so a reader never
sees half a feed and a web server's Last-Modified and ETag stay put between
polls that brought nothing: readers' conditional requests get 304.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tracker.archive import export_records
from tracker.atomicfile import replace_text
from tracker.config import Config, beside_database
from tracker.exports import atom, latest_time
from tracker.models import StoredItem
from tracker.report import continues_text
from tracker.store import Store

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def folder_of(config: Config, db_path: Path) -> Path | None:
    """Where the topic feeds go (a relative folder is taken from the database's
    folder, as the digest outbox is); None when they are off."""
    folder = config.topic_feeds.folder
    return None if folder is None else beside_database(folder, db_path)


def not_written(config: Config, db_path: Path, exc: OSError) -> str:
    """What to tell a person whose topic feeds could not be written."""
    return (f"topic feeds not written to {folder_of(config, db_path)}: {exc.strerror or exc}; "
            "check [topic_feeds] folder in the config")


def file_name(topic: str) -> str:
    """`air_defence.atom`. A character a file name may not hold becomes `_`, and
    the name then gets a short hash of the topic's own, so that "air defence"
    and "air_defence" do not take turns overwriting one file."""
    safe = _UNSAFE.sub("_", topic)
    if safe != topic:
        safe += "-" + hashlib.sha256(topic.encode()).hexdigest()[:6]
    return safe + ".atom"


FOLLOWING_FILE = "tracker-following.atom"  # not a topic's: see file_name


def write_topic_feeds(store: Store, config: Config, db_path: Path) -> list[Path]:
    """Write each topic's feed where it changed, and the followed storylines'
    (`FOLLOWING_FILE`) once anything is followed; returns the files written.
    OSError (a folder that cannot be made or written) is the caller's to report."""
    folder = folder_of(config, db_path)
    if folder is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    timezone = ZoneInfo(config.timezone)
    written = []
    for topic in config.topics:
        path = folder / file_name(topic.name)
        if _write_feed(store, store.newest_matches(topic.name, config.topic_feeds.items),
                       f"tracker: {topic.name.replace('_', ' ')}",
                       f"tag:tracker,2026:topic/{topic.name}", path, timezone):
            written.append(path)
    path = folder / FOLLOWING_FILE
    if (store.marks.followed_titles() or path.exists()) and _write_feed(
            store, store.newest_followed(config.topic_feeds.items),
            "tracker: followed storylines", "tag:tracker,2026:following", path, timezone):
        written.append(path)
    return written


def _write_feed(store: Store, items: list[StoredItem], title: str, tag: str, path: Path,
                timezone: ZoneInfo) -> bool:
    """One Atom file of `items`, replaced if what it says changed."""
    records = export_records(store, items)
    threads = store.links.continues(record["id"] for record in records)
    for record in records:
        record["continues"] = continues_text(threads.get(record["id"]), timezone)
    # Dated by its newest entry, not by now: a poll that brought nothing leaves
    # the file as it was (an empty feed by the epoch, for the same reason).
    return _replace_if_changed(path, atom(records, title, tag, latest_time(records) or _NEVER))


def _replace_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    replace_text(path, text)
    return True
