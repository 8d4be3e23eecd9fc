"""Daemon memory over a day-equivalent of polls: `python -m bench.daemon_memory`.

500 feeds built from the replay stream are served from 127.0.0.1 and polled by
a real `tracker run` every second; every few seconds a tenth of the feeds gain
new items (so fetching, parsing, storing and matching keep happening). The
daemon's and its parser processes' resident memory is sampled from /proc.
At the default 30-minute interval a day is 48 polls of each feed; the default
run of 240 s makes well over that. Results go to bench/results/daemon_memory.json,
with a summary of the daemon's own log (polls, their times, warnings and errors):
a memory figure from a daemon that had stopped polling would mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import build_corpus, default_shared_data, render_rss, replay_items
from bench.peers import compile_tracker
from bench.provenance import provenance
from tests.feedserver import Document, FeedServer
from tests.procmem import children, status_kib

ROOT = Path(__file__).resolve().parent.parent


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(daemon alone, daemon + children) resident memory in MB."""
    own = status_kib(pid, "VmRSS")
    return own / 1024, (own + sum(status_kib(c, "VmRSS") for c in children(pid))) / 1024


# A poll's summary line (tracker.service.PollSummary.line) in the daemon's log,
# and the part saying how long linking its new items took.
POLL_LINE = re.compile(r"^\S+ \S+ INFO poll: .* in ([\d.]+)s")
LINKING = re.compile(r"\(linking (\d+) to earlier stories: ([\d.]+)s\)")


def read_log(text: str) -> dict[str, Any]:
    """What the daemon's log says of its polls: how many, how long, how long
    linking took, and every warning or error (a memory figure from a daemon
    that stopped polling would say nothing)."""
    polls = [match for line in text.splitlines() if (match := POLL_LINE.match(line))]
    seconds = [float(poll[1]) for poll in polls]
    linking = [(int(match[1]), float(match[2])) for poll in polls
               if (match := LINKING.search(poll.string))]
    return {
        "count": len(polls),
        "seconds": {"median": statistics.median(seconds), "max": max(seconds)} if seconds
        else None,
        "link_ms_per_item_median": round(statistics.median(1000 * s / n for n, s in linking
                                                           if n), 2) if linking else None,
        "warnings_and_errors": [line for line in text.splitlines()
                                if " WARNING " in line or " ERROR " in line][:20],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=240)
    parser.add_argument("--shared", type=Path, default=default_shared_data())
    options = parser.parse_args(argv)
    compile_tracker()

    corpus = build_corpus(options.shared, options.feeds)
    stream = list(replay_items(options.shared))
    counter = iter(range(10**9))

    def fresh() -> dict[str, str]:
        """A real item under a new link, so the daemon sees it as new."""
        n = next(counter)
        record = dict(stream[n % len(stream)])
        record["link"] = f"{record['link']}{'&' if '?' in record['link'] else '?'}bench={n}"
        return {**record, "body": "<p>new</p>"}

    server = FeedServer().start()
    paths = list(corpus)
    urls = [server.add(path, Document(body)) for path, body in corpus.items()]
    samples: list[tuple[float, float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tracker.toml"
        lines = ["allow_private_networks = true", "[fetch]", "concurrency = 8", "per_host = 8", ""]
        for n, url in enumerate(urls):
            lines += ["[[feeds]]", f'name = "Feed {n}"', f'url = "{url}"', 'interval = "1s"', ""]
        config.write_text("\n".join(lines), encoding="utf-8")
        db = Path(tmp) / "tracker.db"
        log = Path(tmp) / "daemon.log"
        with log.open("w") as daemon_log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "tracker.cli", "--config", str(config), "--db", str(db),
                 "run"], stdout=subprocess.DEVNULL, stderr=daemon_log,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
        started = time.monotonic()
        rotation = 0
        try:
            while time.monotonic() - started < options.seconds:
                time.sleep(4)
                for path in paths[rotation::10][: max(1, len(paths) // 10)]:
                    server.add(path, Document(render_rss(path, [fresh() for _ in range(20)])))
                rotation = (rotation + 1) % 10
                own, tree = tree_rss_mb(daemon.pid)
                items = 0
                if db.exists():
                    import sqlite3
                    with sqlite3.connect(db, timeout=30) as conn:
                        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
                samples.append((time.monotonic() - started, own, tree, items))
                print(f"{samples[-1][0]:6.0f}s daemon {own:6.1f} MB, with parsers {tree:6.1f} MB,"
                      f" {items} items", file=sys.stderr)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            server.stop()
        polls = read_log(log.read_text(encoding="utf-8", errors="replace"))
    if not polls["count"]:
        raise RuntimeError("the daemon's log shows no poll (stopped polling, or its summary "
                           "line changed: see POLL_LINE); its memory would say nothing")
    half = len(samples) // 2
    result = {
        **provenance(),
        "feeds": options.feeds, "seconds": options.seconds, "interval_seconds": 1,
        "items_stored": samples[-1][3],
        "daemon_rss_mb": {"first": samples[0][1], "median_first_half":
                          statistics.median(s[1] for s in samples[:half]),
                          "median_second_half": statistics.median(s[1] for s in samples[half:]),
                          "max": max(s[1] for s in samples), "last": samples[-1][1]},
        "with_parsers_rss_mb": {"max": max(s[2] for s in samples), "last": samples[-1][2]},
        "polls": polls,
        "samples": [[round(t), round(own, 1), round(tree, 1), items]
                    for t, own, tree, items in samples],
    }
    out = ROOT / "bench" / "results" / "daemon_memory.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
