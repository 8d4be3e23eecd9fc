"""Run the benchmarks: `./dev bench` (or `python -m bench`). See bench/README.md.

Each contender runs as a whole process, several times, interleaved (cold, warm,
cold, warm ...), against a corpus served from 127.0.0.1; medians and min-max are
reported and written to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.corpus import build_corpus
from bench.topics import corpus_documents, measure, tokenise_seconds
from tests.feedserver import Document, FeedServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run_measured(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the process tree's largest member, stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{args} failed: {err.read()[-2000:]}")
        return elapsed, usage.ru_maxrss, out.read()


def tracker_poll(config: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "tracker.cli", "--config", str(config), "--db", str(db),
            "poll", "--all"]


def write_config(path: Path, urls: list[str]) -> Path:
    lines = ['allow_private_networks = true',
             # one host serves every feed here; real feeds are spread over many hosts
             "[fetch]", "concurrency = 8", "per_host = 8", ""]
    for n, url in enumerate(urls):
        lines += ["[[feeds]]", f'name = "Bench {n}"', f'url = "{url}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get(
        "TRACKER_SHARED_DATA", ROOT.parent / "shared" / "data")))
    options = parser.parse_args()

    corpus = build_corpus(options.shared, options.feeds)
    corpus_bytes = sum(len(body) for body in corpus.values())
    server = FeedServer().start()
    urls = [server.add(path, Document(body)) for path, body in corpus.items()]
    cold, warm, cold_rss, warm_rss, items = [], [], [], [], 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp) / "bench.toml", urls)
            for round_number in range(options.repeat):
                db = Path(tmp) / f"round{round_number}.db"
                seconds, peak, out = run_measured(tracker_poll(config, db))
                cold.append(seconds)
                cold_rss.append(peak / 1024)
                items = int(out.split(";")[1].split()[0])
                seconds, peak, out = run_measured(tracker_poll(config, db))
                assert " 0 new items" in out, out
                warm.append(seconds)
                warm_rss.append(peak / 1024)
                print(f"round {round_number + 1}: cold {cold[-1]:.2f}s, unchanged {warm[-1]:.2f}s",
                      file=sys.stderr)
    finally:
        server.stop()

    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "versions": {name: metadata.version(name) for name in
                     ("tracker", "feedparser", "httpx", "sqlite-utils")},
        "corpus": {"feeds": len(corpus), "items": items, "bytes": corpus_bytes},
        "repeat": options.repeat,
        "tracker_cold_poll_seconds": summary(cold),
        "tracker_cold_items_per_second": items / statistics.median(cold),
        "tracker_unchanged_poll_seconds": summary(warm),
        "tracker_cold_peak_rss_mb": summary(cold_rss),
        "tracker_unchanged_peak_rss_mb": summary(warm_rss),
    }
    documents = corpus_documents(corpus)
    result["topic_matching"] = measure(documents, repeat=options.repeat)
    result["topic_tokenise_seconds"] = tokenise_seconds(documents)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "poll.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
