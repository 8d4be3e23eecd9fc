"""The candidate finder: what each queued item may find is fixed when the pass starts."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker.link import LinkSettings
from tracker.linkpass import (
    QUEUED_READ,
    CandidateFinder,
    Finder,
    Found,
    PassIndexFinder,
    ThreadedCandidateFinder,
    WordStatistics,
)
from tracker.store import Store
from tracker.timefmt import to_text

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "tracker.db")
    with store.write():
        store.conn.execute("INSERT INTO feeds (config_url, url, name, kind, interval_seconds, "
                           "added_at) VALUES ('f', 'f', 'Feed', 'news', 1800, ?)", (to_text(NOW),))
    return store


def _add(store: Store, title: str, at: datetime, queued: bool = True,
         summary: str = "Patriot interceptors for Kyiv.") -> int:
    with store.write():
        item_id = int(store.conn.execute(
            "INSERT INTO items (feed_id, title, summary, published, first_seen, content_hash) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            (title, summary, to_text(at), to_text(NOW), title)).lastrowid or 0)
        if queued:
            store.links.enqueue(item_id, at)
    return item_id


def _finder(store: Store, threaded: bool) -> Finder:
    with store.write():
        state = store.links.start_pass()
    if threaded:
        return ThreadedCandidateFinder(store.path, NOW, LinkSettings(), state.documents)
    return CandidateFinder(store.conn, NOW, LinkSettings(), state)


def _linked(store: Store, found: Found | None) -> Found | None:
    """What the linking loop does once it has linked an item: unqueue it."""
    if found is not None:
        with store.write():
            store.conn.execute("DELETE FROM link_queue WHERE item_id = ?", (found.item_id,))
    return found


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "threaded"])
def test_items_later_in_the_pass_or_stored_after_it_began_are_not_candidates(
        tmp_path: Path, threaded: bool) -> None:
    store = _store(tmp_path)
    archived = _add(store, "Germany sends Patriot battery to Ukraine", NOW - timedelta(days=3),
                    queued=False)
    first = _add(store, "Second Patriot battery for Ukraine", NOW - timedelta(days=2))
    second = _add(store, "Patriot battery arrives in Ukraine", NOW - timedelta(days=1))
    finder = _finder(store, threaded)
    try:
        found_first = _linked(store, finder.next())
        late = _add(store, "Patriot battery for Ukraine, third", NOW - timedelta(days=5))
        found_second = _linked(store, finder.next())
        assert finder.next() is None  # the late item waits for the next pass
    finally:
        finder.close()
    assert found_first is not None and found_second is not None
    assert (found_first.item_id, found_second.item_id) == (first, second)
    assert found_first.candidate_ids == [archived]      # `second` comes after it
    assert set(found_second.candidate_ids) == {archived, first}
    assert late not in found_second.candidate_ids
    store.close()


def test_a_finder_closed_early_stops_its_thread(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for n in range(80):  # more than the thread may be ahead
        _add(store, f"Patriot battery {n} for Ukraine", NOW - timedelta(hours=n))
    finder = _finder(store, threaded=True)
    assert finder.next() is not None
    assert any(t.name == "link-candidates" for t in threading.enumerate())
    finder.close()
    assert not any(t.name == "link-candidates" for t in threading.enumerate())
    store.close()


def _finder_for_the_queue(store: Store) -> Finder:
    with store.write():
        state = store.links.start_pass()
    return store.links.finder(NOW, LinkSettings(), state)


def test_each_pass_gets_the_finder_its_size_and_window_call_for(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for n in range(70):
        _add(store, f"Patriot battery {n} for Ukraine", NOW - timedelta(hours=n))
    finder = _finder_for_the_queue(store)  # a first poll: the pass is all there is
    assert isinstance(finder, PassIndexFinder)
    finder.close()
    assert store.link_pending(NOW, LinkSettings()) == 70
    for n in range(70):
        _add(store, f"Patriot battery {n} for Ukraine, again", NOW)
    finder = _finder_for_the_queue(store)  # a large pass with earlier items to find
    assert isinstance(finder, ThreadedCandidateFinder)
    finder.close()
    assert store.link_pending(NOW, LinkSettings()) == 70
    _add(store, "Patriot battery for Ukraine, once more", NOW)
    finder = _finder_for_the_queue(store)
    assert isinstance(finder, CandidateFinder)
    finder.close()
    store.close()


_VOCABULARY = ("patriot", "battery", "batteries", "drone", "drones", "interceptor",
               "interceptors", "kyiv", "warsaw", "rzeszow", "nato", "air", "defence", "missile",
               "missiles", "jets", "scrambled", "airspace", "production", "partnership", "deal",
               "contract", "ministry", "budget", "spending", "frigate", "frigates", "navy",
               "army", "exercise", "exercises", "shells", "ammunition", "factory", "factories",
               "sanctions", "export", "licence", "licences", "treaty", "summit", "talks",
               "ceasefire", "border", "brigade")


def test_the_pass_index_finds_what_the_word_index_finds_on_a_first_poll(
        tmp_path: Path) -> None:
    # Plain words, plurals among them, so that the two differ only where the
    # word index would split a word or fold it otherwise (see PassIndex).
    words = random.Random(8).choices
    store = _store(tmp_path)
    for n in range(300):  # most words in more than PER_WORD items
        _add(store, " ".join(words(_VOCABULARY, k=5)), NOW - timedelta(hours=n % 40, minutes=n),
             summary=" ".join(words(_VOCABULARY, k=12)))
    by_word_index = _handed_over(store, CandidateFinder(store.conn, NOW, LinkSettings(),
                                                        WordStatistics(0)))
    by_pass_index = _handed_over(store, PassIndexFinder(store.conn, WordStatistics(0)))
    assert by_pass_index == by_word_index and len(by_word_index) == 300
    assert sum(len(ids) for _, ids, _ in by_word_index) > 300 * 20  # many found
    store.close()


def _handed_over(store: Store, finder: Finder) -> list[tuple[int, list[int], dict[str, float]]]:
    """Every item of the pass as `finder` hands it over, linked; then queued again."""
    found = []
    while (item := _linked(store, finder.next())) is not None:
        found.append((item.item_id, item.candidate_ids, item.weights))
    finder.close()
    with store.write():
        store.conn.execute("INSERT INTO link_queue (item_id, at) SELECT id, published FROM items")
    return found


def test_inline_and_threaded_finders_find_the_same(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for n in range(30):
        _add(store, f"Patriot battery {n % 7} for Ukraine", NOW - timedelta(hours=n))
    inline = _handed_over(store, _finder(store, threaded=False))
    threaded = _handed_over(store, _finder(store, threaded=True))
    assert inline == threaded and len(threaded) == 30
    store.close()


def test_an_item_unqueued_after_the_pass_began_is_left_out(tmp_path: Path) -> None:
    """The pass reads its items a few at a time; one that another process has
    linked (or that was deleted) by the time its turn comes is not handed over."""
    store = _store(tmp_path)
    ids = [_add(store, f"Patriot battery {n} for Ukraine", NOW - timedelta(hours=100 - n))
           for n in range(QUEUED_READ + 6)]  # queued oldest first: pass order is id order
    finder = _finder(store, threaded=False)
    try:
        first = _linked(store, finder.next())  # the order and the first items are read
        taken = ids[QUEUED_READ + 2]
        with store.write():
            store.conn.execute("DELETE FROM link_queue WHERE item_id = ?", (taken,))
        handed = [first.item_id] if first else []
        while (item := _linked(store, finder.next())) is not None:
            handed.append(item.item_id)
    finally:
        finder.close()
    assert handed == [item_id for item_id in ids if item_id != taken]
    store.close()


def test_a_database_path_with_uri_characters_is_opened_as_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "odd ?#% name"
    folder.mkdir()
    store = Store.open(folder / "tracker.db")
    with store.write():
        store.conn.execute("INSERT INTO feeds (config_url, url, name, kind, interval_seconds, "
                           "added_at) VALUES ('f', 'f', 'Feed', 'news', 1800, ?)", (to_text(NOW),))
    _add(store, "Patriot battery for Ukraine", NOW)
    assert store.link_pending(NOW, LinkSettings()) == 1
    store.close()


def test_an_item_from_before_storylines_is_started_once_and_joined_after(
        tmp_path: Path) -> None:
    """The pass remembers candidates with their storylines: when it starts a
    storyline for an archived item, later items of the pass that find that
    item must see it, not start another."""
    store = _store(tmp_path)
    archived = _add(store, "Germany sends Patriot battery to Ukraine", NOW - timedelta(days=3),
                    queued=False)  # stored before linking existed: no storyline
    first = _add(store, "Second Patriot battery for Ukraine", NOW - timedelta(days=2))
    copy = _add(store, "Germany sends Patriot battery to Ukraine", NOW - timedelta(days=1))
    assert store.link_pending(NOW, LinkSettings()) == 2
    storylines = dict(store.conn.execute("SELECT id, storyline_id FROM items").fetchall())
    assert storylines[archived] is not None
    assert storylines[first] == storylines[archived] == storylines[copy]
    assert tuple(store.conn.execute("SELECT count(*), max(first_item_id), max(size) "
                              "FROM storylines").fetchone()) == (1, archived, 3)
    store.close()
