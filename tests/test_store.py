"""Opening a database (migrations run when, and only when, the schema is behind),
and writing through one from several threads."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from tests.conftest import Cli, read_only_here, write_config
from tests.feedserver import Document, FeedServer
from tests.test_cli import rss
from tracker.errors import StoreError
from tracker.migrations import migrations
from tracker.store import NEWEST_MIGRATION, Store
from tracker.timefmt import from_text, to_text

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_newest_migration_names_the_last_registered_one() -> None:
    everything = migrations.pending(Database(sqlite3.connect(":memory:")))
    assert everything[-1].name == NEWEST_MIGRATION


def test_a_database_from_before_dating_by_update_is_brought_up_to_date(tmp_path: Path) -> None:
    # The step behind 0011: items of entries with only an update time were dated by
    # first_seen; brought up to date, they are dated by that time where it is
    # still the one they came with, and their storyline follows.
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(Database(conn), stop_before="0011_dated_by_update")
    seen, earlier = "2026-11-25T09:00:00+00:00", "2026-10-01T12:00:00+00:00"
    conn.execute("INSERT INTO feeds (id, config_url, url, name, kind, interval_seconds, "
                 "added_at) VALUES (1, 'u', 'u', 'GOV.UK', 'official', 900, ?)", (seen,))
    conn.execute("INSERT INTO storylines (id, title, first_item_id, started, updated) "
                 "VALUES (1, 'a', 1, ?, ?)", (seen, seen))
    rows = [(1, None, earlier, None),                         # only updated: dated by it
            (2, None, earlier, seen),                         # edited since: left alone
            (3, "2026-09-01T00:00:00+00:00", earlier, None),  # has a date: left alone
            (4, None, "2027-01-01T00:00:00+00:00", None)]     # updated after: not believed
    conn.executemany("INSERT INTO items (id, feed_id, title, summary, published, updated, "
                     "first_seen, revised_at, content_hash, storyline_id) "
                     "VALUES (?, 1, 't', '', ?, ?, ?, ?, '', 1)",
                     [(n, published, updated, seen, revised)
                      for n, published, updated, revised in rows])
    conn.close()

    with Store.open(path) as store:
        assert store._has_migration("0011_dated_by_update")
        dated = dict(store.conn.execute("SELECT id, published FROM items").fetchall())
        story = store.conn.execute("SELECT started, updated FROM storylines").fetchone()
    assert dated == {1: earlier, 2: None, 3: "2026-09-01T00:00:00+00:00", 4: None}
    assert tuple(story) == ("2026-09-01T00:00:00+00:00", seen)


def test_storylines_from_before_centroids_are_kept_and_get_one_when_needed(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(Database(conn), stop_before="0012_storyline_centroids")
    conn.execute("INSERT INTO storylines (id, title, first_item_id, started, updated, size) "
                 "VALUES (1, 't', 1, '2026-11-01', '2026-11-01', 12)")
    conn.close()
    with Store.open(path) as store:
        assert store._has_migration("0012_storyline_centroids")
        row = store.conn.execute("SELECT size, centroid FROM storylines").fetchone()
    # Worked out from its items when a follow-up comes (tests/test_links.py).
    assert tuple(row) == (12, None)


def test_a_database_from_before_feed_counts_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(Database(conn), stop_before="0013_feed_counts")
    for feed in (1, 2, 3):
        conn.execute("INSERT INTO feeds (id, config_url, url, name, kind, interval_seconds, "
                     "added_at) VALUES (?, ?, ?, ?, 'news', 900, '2026-01-01')",
                     (feed, f"u{feed}", f"u{feed}", f"F{feed}"))
    dates = {1: ("2026-11-01T00:00:00+00:00", None), 2: (None, "2026-11-03T00:00:00+00:00"),
             3: ("2026-10-01T00:00:00+00:00", None)}
    for item, (published, seen) in dates.items():
        conn.execute("INSERT INTO items (id, feed_id, title, summary, published, first_seen, "
                     "content_hash) VALUES (?, 1, 't', '', ?, ?, '')",
                     (item, published, seen or "2026-11-25T00:00:00+00:00"))
    conn.executemany("INSERT INTO item_feeds (item_id, feed_id, first_seen) VALUES (?, ?, '')",
                     [(1, 1), (2, 1), (3, 1), (2, 2)])  # item 2 also in feed 2; none in 3
    conn.close()
    with Store.open(path) as store:
        store.conn.execute("UPDATE feeds SET active = 1")
        counted = {feed.name: (feed.item_count, to_text(feed.newest_item),
                               to_text(feed.oldest_item)) for feed in store.feeds()}
        viewed = dict(store.conn.execute("SELECT name, items FROM feed_health").fetchall())
    assert counted == {"F1": (3, "2026-11-03T00:00:00+00:00", "2026-10-01T00:00:00+00:00"),
                       "F2": (1, "2026-11-03T00:00:00+00:00", "2026-11-03T00:00:00+00:00"),
                       "F3": (0, None, None)}
    assert viewed == {"F1": 3, "F2": 1, "F3": 0}


@pytest.mark.parametrize(("step", "counted", "centroid", "merged", "respelt"), [
    ("0014_plain_apostrophes", [("o’brien", 3), ("o'brien", 2), ("d‘ivoire", 1), ("drone", 5)],
     "o’brien 0.5 drone 0.3", {"o'brien": 5, "d'ivoire": 1, "drone": 5}, "o'brien 0.5 drone 0.3"),
    ("0015_words_as_typed", [("rzeszów", 3), ("rzeszow", 2), ("rzésźow", 1), ("łask", 4)],
     "rzeszów 0.5 łask 0.3", {"rzeszow": 6, "łask": 4}, "rzeszow 0.5 łask 0.3"),
], ids=["apostrophes", "accents"])
def test_word_counts_from_before_words_as_typed_are_merged(
        tmp_path: Path, step: str, counted: list[tuple[str, int]], centroid: str,
        merged: dict[str, int], respelt: str) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(Database(conn), stop_before=step)
    conn.executemany("INSERT INTO term_df (term, df) VALUES (?, ?)", counted)
    conn.execute("INSERT INTO storylines (id, title, first_item_id, started, updated, size, "
                 "centroid) VALUES (1, 't', 1, '2026-11-01', '2026-11-01', 12, ?)", (centroid,))
    conn.close()
    with Store.open(path) as store:
        counts = dict(store.conn.execute("SELECT term, df FROM term_df").fetchall())
        stored = store.conn.execute("SELECT centroid FROM storylines").fetchone()[0]
    assert (counts, stored) == (merged, respelt)


_DAYS = st.integers(min_value=1, max_value=28)
_CHANGES = st.lists(st.one_of(
    st.tuples(st.just("store"), st.integers(1, 2), _DAYS, st.booleans()),  # feed, date, dated
    st.tuples(st.just("seen_in"), st.integers(0, 30), st.integers(1, 2)),  # item, another feed
    st.tuples(st.just("redate"), st.integers(0, 30), _DAYS),
    st.tuples(st.just("undate"), st.integers(0, 30)),
    st.tuples(st.just("forget"), st.integers(0, 30), st.integers(1, 2)),  # item, feed
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(_CHANGES)
# A feed's newest item dated earlier, its oldest dated later: its dates are read again.
@example([("store", 1, 10, True), ("store", 1, 20, True), ("redate", 1, 5)])
@example([("store", 1, 10, True), ("store", 1, 20, True), ("redate", 0, 25)])
def test_feed_counts_agree_with_counting_the_archive_after_any_changes(
        tmp_path_factory: pytest.TempPathFactory, changes: list[tuple[object, ...]]) -> None:
    # Items stored, seen in more feeds, dated again (an official feed's date
    # for a press item), left undated, taken out of a feed: the counts kept
    # per feed are what counting every item would give.
    store = _archive(tmp_path_factory.mktemp("counts") / "tracker.db", 0)
    conn = store.conn
    for change in changes:
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        kind, *values = change
        if kind == "store":
            feed, day, dated = values
            when = f"2026-11-{day:02d}T00:00:00+00:00"
            cursor = conn.execute(
                "INSERT INTO items (feed_id, title, summary, published, first_seen, "
                "content_hash) VALUES (?, 't', '', ?, ?, '')",
                (feed, when if dated else None, when if not dated else "2026-11-29"))
            conn.execute("INSERT INTO item_feeds (item_id, feed_id, first_seen) "
                         "VALUES (?, ?, '')", (cursor.lastrowid, feed))
        elif items and kind == "seen_in":
            conn.execute("INSERT OR IGNORE INTO item_feeds (item_id, feed_id, first_seen) "
                         "VALUES (?, ?, '')", (values[0] % items + 1, values[1]))
        elif items and kind == "redate":
            conn.execute("UPDATE items SET published = ? WHERE id = ?",
                         (f"2026-11-{values[1]:02d}T00:00:00+00:00", values[0] % items + 1))
        elif items and kind == "undate":
            conn.execute("UPDATE items SET published = NULL WHERE id = ?",
                         (values[0] % items + 1,))
        elif items and kind == "forget":
            conn.execute("DELETE FROM item_feeds WHERE item_id = ? AND feed_id = ?",
                         (values[0] % items + 1, values[1]))
    kept = {feed.id: (feed.item_count, feed.newest_item, feed.oldest_item)
            for feed in store.feeds()}
    counted = {feed: (0, None, None) for feed in (1, 2)}
    for feed, count, newest, oldest in conn.execute(
            "SELECT x.feed_id, count(*), max(coalesce(i.published, i.first_seen)), "
            "min(coalesce(i.published, i.first_seen)) FROM item_feeds x "
            "JOIN items i ON i.id = x.item_id GROUP BY x.feed_id"):
        counted[feed] = (count, from_text(newest), from_text(oldest))
    store.close()
    assert kept == {feed: counted[feed] for feed in kept}


def _opens_importing_sqlite_utils(path: Path) -> bool:
    code = ("import sys; from pathlib import Path; from tracker.store import Store; "
            f"Store.open(Path({str(path)!r})).close(); print('sqlite_utils' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return result.stdout.strip() == "True"


def test_migration_machinery_is_loaded_only_for_a_database_that_needs_it(
        tmp_path: Path) -> None:
    path = tmp_path / "tracker.db"
    assert _opens_importing_sqlite_utils(path)       # new: created through migrations
    assert not _opens_importing_sqlite_utils(path)   # current: nothing to do


def test_a_store_that_migrated_its_database_keeps_sqlites_defaults(tmp_path: Path) -> None:
    """The process that creates a database goes on polling on the same
    connection: migrating must not leave it behaving otherwise than one opened
    on a current database (sqlite-utils turns recursive triggers on by default,
    which makes REPLACE fire delete triggers)."""
    path = tmp_path / "tracker.db"
    created = Store.open(path)
    reopened = Store.open(path)
    for store in (created, reopened):
        assert store.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
    created.close()
    reopened.close()


def test_a_file_that_is_not_a_tracker_database_is_refused_and_left_alone(
        tmp_path: Path) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_bytes(b"not a database, a text file " * 200)
    foreign = tmp_path / "reader.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE entries (id TEXT)")
        conn.execute("INSERT INTO entries VALUES ('x')")
    conn.close()
    cases = {garbage: "not an SQLite database (file is not a database)",
             foreign: "another application's database (tables: entries)"}
    for path, message in cases.items():
        before = path.read_bytes()
        with pytest.raises(StoreError, match=re.escape(message)):
            Store.open(path)
        assert path.read_bytes() == before
        assert not path.with_name(path.name + "-wal").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(StoreError, match="cannot create or open the database"):
        Store.open(blocked / "tracker.db")


def test_a_tracker_database_and_an_empty_file_open(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")  # what `touch` leaves: SQLite's empty database
    Store.open(empty).close()
    Store.open(empty).close()  # now tracker's own


def test_two_threads_writing_through_one_store_take_turns(tmp_path: Path) -> None:
    """The daemon's heartbeat job and its poll both write through one Store:
    the second transaction must wait for the first, not fail inside it."""
    store = Store.open(tmp_path / "tracker.db")
    store.beat(1, NOW, started=NOW)
    inside, errors = threading.Event(), []

    def first() -> None:
        with store.write():
            inside.set()
            time.sleep(0.3)  # the other thread asks for its transaction meanwhile
            store.conn.execute("UPDATE daemon SET last_poll = 'first' WHERE id = 1")

    def second() -> None:
        inside.wait()
        try:
            store.beat(1, NOW + timedelta(seconds=1), last_poll="second")
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.conn.execute("SELECT last_poll FROM daemon").fetchone()[0] == "second"
    store.close()


def _archive(path: Path, items: int) -> Store:
    """A store of two feeds and `items` items seen in them."""
    store = Store.open(path)
    with store.write():
        for feed in (1, 2):
            store.conn.execute(
                "INSERT INTO feeds (id, config_url, url, name, kind, interval_seconds, added_at) "
                "VALUES (?, ?, ?, ?, 'news', 1800, ?)",
                (feed, f"https://example.org/{feed}", f"https://example.org/{feed}", f"F{feed}",
                 NOW.isoformat()))
        store.conn.executemany(
            "INSERT INTO items (id, feed_id, title, summary, published, first_seen, content_hash) "
            "VALUES (?, ?, ?, '', ?, ?, '')",
            ((n, n % 2 + 1, f"item {n}", (NOW - timedelta(hours=n)).isoformat(),
              NOW.isoformat()) for n in range(1, items + 1)))
        store.conn.execute("INSERT INTO item_feeds (item_id, feed_id, first_seen) "
                           "SELECT id, feed_id, first_seen FROM items")
    return store


def _steps(store: Store) -> int:
    """SQLite virtual-machine steps (in thousands) to read the feeds."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0
    store.conn.set_progress_handler(count, 1000)
    store.feeds()
    store.conn.set_progress_handler(None, 0)
    return steps


def test_feeds_and_their_counts_are_read_without_reading_the_archive(tmp_path: Path) -> None:
    # A poll asks which feeds are due before every cycle; status and the digest
    # show each feed's item count and newest item, kept as items are stored.
    small, large = _archive(tmp_path / "small.db", 10), _archive(tmp_path / "large.db", 20_000)
    assert _steps(large) == _steps(small) == 0
    (first, second) = large.feeds()
    assert (first.item_count, second.item_count) == (10_000, 10_000)
    assert first.newest_item == NOW - timedelta(hours=2)


def test_topic_counts_over_the_last_day_week_and_all_time(tmp_path: Path) -> None:
    store = _archive(tmp_path / "tracker.db", 0)
    ages = {1: timedelta(hours=2), 2: timedelta(days=3), 3: timedelta(days=30)}
    with store.write():
        for item, age in ages.items():
            store.conn.execute(
                "INSERT INTO items (id, feed_id, title, summary, first_seen, content_hash) "
                "VALUES (?, 1, 't', '', ?, '')", (item, to_text(NOW - age)))
        store.conn.executemany(
            "INSERT INTO topics (name, query, matched_query, active) VALUES (?, 'q', 'q', ?)",
            [("drones", 1), ("quiet", 1), ("dropped", 0)])
        store.conn.executemany(
            "INSERT INTO topic_matches (item_id, topic, terms, matched_at) VALUES (?, ?, '[]', '')",
            [(1, "drones"), (2, "drones"), (3, "drones"), (1, "dropped")])
    counts = {row["name"]: (row["last_day"], row["last_week"], row["total"])
              for row in store.topic_summary(NOW)}
    store.close()
    assert counts == {"drones": (1, 2, 3), "quiet": (0, 0, 0)}


def test_a_database_this_user_may_only_read_serves_every_reading_command(
        tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = feed_server.add("/feed", Document(rss("Drone deal signed", "NATO jets scrambled")))
    config = write_config(tmp_path / "tracker.toml", [{"name": "F", "url": url}],
                          extra="[topics.drones]\nquery = 'drone'")
    cli = Cli(config, tmp_path / "tracker.db")
    assert cli("poll", "--all").exit_code == 0
    before = cli.db.read_bytes()
    read_only_here(monkeypatch)
    write_config(config, [{"name": "F", "url": url}, {"name": "G", "url": url + "?g"}],
                 extra="[topics.drones]\nquery = 'drone'\n[topics.nato]\nquery = 'NATO'")
    for args in (("search", "drone"), ("show", "1"), ("related", "1"), ("stories",),
                 ("export",), ("topics", "list"), ("topics", "test", "NATO"), ("status",),
                 ("digest", "--preview", "--html", str(tmp_path / "d.html")),
                 ("backup", str(tmp_path / "copy.db"))):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    status = cli("status", "--json")
    assert [feed["name"] for feed in json.loads(status.output)["feeds"]] == ["F"]  # as stored
    result = cli("poll", "--all")
    assert result.exit_code == 1
    assert "tracker may only read this database here (no write permission)" in result.output
    assert "run it as a user who may write the database" in result.output
    assert cli.db.read_bytes() == before
    with Store.open(tmp_path / "copy.db") as copy:  # read-only too, as a copy of one
        assert copy.read_only and copy.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2


def test_a_read_only_database_from_an_earlier_tracker_says_it_needs_upgrading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.apply(Database(conn), stop_before=NEWEST_MIGRATION)
    conn.close()
    read_only_here(monkeypatch)
    with pytest.raises(StoreError, match="written by an earlier tracker, and upgrading it needs "
                                         "write access"):
        Store.open(path)
