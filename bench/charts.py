"""Charts of the results files: people would rather look than read.

matplotlib lives apart from the contenders' packages, in bench/.venv/chart
(see ./dev bench): installed beside them, it made sqlite-utils import numpy
into every measured tracker process. Each chart is drawn from its results
file, so `python -m bench.charts` redraws them all without measuring again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHART_LIBRARIES = ROOT / "bench" / ".venv" / "chart"
TRACKER_BLUE, PEER_GREYS = "#1a4b8c", ["#999999", "#cccccc"]


def _pyplot() -> Any:
    sys.path.append(str(CHART_LIBRARIES))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def poll(result: dict[str, Any], path: Path) -> None:
    """Cold and unchanged poll time and cold peak memory, per contender."""
    plt = _pyplot()
    names = list(result["contenders"])
    figure, axes = plt.subplots(1, 3, figsize=(12, 4))
    for axis, (key, label) in zip(axes, (("cold_seconds", "cold poll (s)"),
                                         ("unchanged_seconds", "unchanged poll (s)"),
                                         ("cold_peak_rss_mb", "cold poll peak RSS (MB)")),
                                  strict=True):
        figures = [result["contenders"][name][key] for name in names]
        medians = [f["median"] for f in figures]
        axis.bar(names, medians, capsize=4, color=[TRACKER_BLUE, *PEER_GREYS][: len(names)],
                 yerr=[[f["median"] - f["min"] for f in figures],
                       [f["max"] - f["median"] for f in figures]])
        axis.set_title(label)
    corpus = result["corpus"]
    feeds = (f"{corpus['generated_feeds']} generated feeds + {corpus['real_documents']} real "
             "documents" if corpus.get("real_documents") else f"{corpus['feeds']} feeds")
    figure.suptitle(f"{feeds}, {corpus['items']} items, "
                    f"{corpus['bytes'] / 1e6:.1f} MB from 127.0.0.1; medians of "
                    f"{result['repeat']} interleaved runs, bars min-max")
    _save(figure, path)


def daemon_memory(result: dict[str, Any], path: Path) -> None:
    """The daemon's resident memory over the run, beside its archive's size:
    memory that kept growing with the archive would show as a rising line."""
    plt = _pyplot()
    seconds, rss, _, items = zip(*result["samples"], strict=True)
    figure, memory = plt.subplots(figsize=(8, 4))
    memory.plot(seconds, rss, color=TRACKER_BLUE, label="daemon RSS (MB)")
    memory.set_ylim(0, max(rss) * 1.2)
    memory.set_xlabel("seconds")
    memory.set_ylabel("resident memory (MB)")
    archive = memory.twinx()
    archive.plot(seconds, [n / 1000 for n in items], color=PEER_GREYS[0], linestyle="--",
                 label="items stored (thousands)")
    archive.set_ylim(0, max(items) / 1000 * 1.2)
    archive.set_ylabel("items stored (thousands)")
    figure.legend(loc="lower right", bbox_to_anchor=(0.88, 0.15))
    figure.suptitle(f"tracker run, {result['feeds']} feeds each polled every "
                    f"{result['interval_seconds']} s for {result['seconds']} s")
    _save(figure, path)


def link_scale(result: dict[str, Any], path: Path) -> None:
    """Link time per new item, database size, and an unchanged poll's and
    `tracker status`'s time, against the archive's size."""
    plt = _pyplot()
    rows = result["results"]
    sizes = [row["stored_items"] for row in rows]
    figure, (time_axis, size_axis, poll_axis) = plt.subplots(1, 3, figsize=(14, 4))
    time_axis.plot(sizes, [row["median_ms"] for row in rows], "o-", color=TRACKER_BLUE,
                   label="median")
    time_axis.plot(sizes, [row["p90_ms"] for row in rows], "o--", color=PEER_GREYS[0],
                   label="p90")
    time_axis.set_ylim(0, max(row["p90_ms"] for row in rows) * 1.2)
    time_axis.set_title("link time per new item (ms)")
    time_axis.legend()
    size_axis.plot(sizes, [row["database_mb"] for row in rows], "o-", color=TRACKER_BLUE)
    size_axis.set_yscale("log")  # both axes: growth in proportion is a straight line
    size_axis.set_title("database size (MB)")
    poll_axis.plot(sizes, [row["unchanged_poll_seconds"] for row in rows], "o-",
                   color=TRACKER_BLUE, label="unchanged poll")
    poll_axis.plot(sizes, [row["status_seconds"] for row in rows], "o--", color=PEER_GREYS[0],
                   label="tracker status")
    if all("search_seconds" in row for row in rows):
        poll_axis.plot(sizes, [row["search_seconds"] for row in rows], "o:",
                       color=PEER_GREYS[1], label="tracker search (best first)")
        poll_axis.plot(sizes, [row["search_newest_seconds"] for row in rows], "s-.",
                       color=PEER_GREYS[1], label="tracker search --newest")
    poll_axis.legend()
    poll_axis.set_ylim(0, max(value for row in rows for key, value in row.items()
                              if key.endswith("_seconds")) * 1.5)
    poll_axis.set_title("whole process (s)")
    for axis in (time_axis, size_axis, poll_axis):
        axis.set_xscale("log")
        axis.set_xlabel("items stored")
    figure.suptitle(f"{result['probe_items']} new items linked one at a time into archives "
                    f"of each size; then a poll of a feed that has not changed, tracker status "
                    f"and a search")
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)


CHARTS = {"poll": poll, "poll_generated": poll, "daemon_memory": daemon_memory,
          "link_scale": link_scale}


def draw(name: str) -> None:
    """Draw results/NAME.png from results/NAME.json (nothing if matplotlib is
    not installed, as outside ./dev bench)."""
    result = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    try:
        CHARTS[name](result, RESULTS / f"{name}.png")
    except ImportError:
        print(f"matplotlib is not installed: no {name} chart", file=sys.stderr)


if __name__ == "__main__":
    for chart_name in CHARTS:
        draw(chart_name)
