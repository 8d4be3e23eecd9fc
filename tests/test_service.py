"""The poll's fetch window: results in completion order, a bounded number held."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tracker.service import bounded_map


def test_bounded_map_never_holds_more_than_its_window() -> None:
    lock = threading.Lock()
    started = consumed = most_ahead = 0

    def work(n: int) -> int:
        nonlocal started, most_ahead
        with lock:
            started += 1
            most_ahead = max(most_ahead, started - consumed)
        time.sleep(0.001 * (n % 3))  # finish out of order
        return n

    results = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for result in bounded_map(pool, work, range(200), window=6):
            time.sleep(0.002)  # a consumer slower than the workers, as storing is
            with lock:
                consumed += 1
            results.append(result)
    assert sorted(results) == list(range(200))
    assert results != list(range(200))  # completion order, not input order
    assert most_ahead <= 6
    assert most_ahead >= 4  # the workers did run ahead of the consumer


def test_bounded_map_with_fewer_inputs_than_its_window() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sorted(bounded_map(pool, lambda n: n * 2, [1, 2, 3], window=10)) == [2, 4, 6]
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(bounded_map(pool, lambda n: n, [], window=4)) == []
