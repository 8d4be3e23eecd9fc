"""Run every benchmark: `./dev bench` (or `python -m bench` inside bench/.venv).

Parts, all by default (`--only PART` to pick; see bench/README.md):

* poll: each contender (tracker, lemon24/reader, rss2email) runs as a whole
  process against the same corpus served from 127.0.0.1 (the generated feeds
  and the real documents of ../shared/data/feeds), several rounds,
  interleaved (tracker, reader, rss2email, then their unchanged re-polls,
  round after round); medians, min-max and ratios go to bench/results/ with a
  chart; then topic matching against 10, 100 and 1,000 topics;
* poll-generated: the same on the generated feeds alone;
* scale: link time per new item at 10k, 100k and 1M stored items, database size,
  an unchanged poll and `tracker status` at each size;
* daemon: a real daemon's memory over a day-equivalent of polls of 500 feeds;
* links: linking quality on the labelled same-story data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import charts, daemon_memory, link_scale, links_eval
from bench.corpus import build_corpus, default_shared_data, real_documents
from bench.peers import CONTENDERS, check_installed, compile_tracker
from bench.provenance import provenance
from bench.topics import corpus_documents, measure, tokenise_seconds
from tests.feedserver import Document, FeedServer
from tests.procmem import TreeMemory, run_with_peak_memory

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run_measured(args: list[str]) -> tuple[float, TreeMemory, str]:
    """Wall seconds, the process tree's peak memory (see tests/procmem.py) and
    what the process printed."""
    started = time.perf_counter()
    completed, memory = run_with_peak_memory(args, env={**os.environ, "PYTHONPATH": str(ROOT)})
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{args[:4]} failed: {completed.stderr[-2000:]}")
    return elapsed, memory, completed.stdout


def linking_seconds(output: str) -> float:
    """How long a cold poll spent linking, as its summary line says."""
    linking = daemon_memory.LINKING.search(output)
    if linking is None:
        raise RuntimeError(f"the poll's summary no longer says how long linking took: {output!r}")
    return float(linking.group(2))


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


PARTS = ("poll", "poll-generated", "scale", "daemon", "links")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable; default: every part)")
    parser.add_argument("--feeds", type=int, default=200, help="poll: generated corpus feeds")
    parser.add_argument("--repeat", type=int, default=5, help="poll: interleaved rounds")
    parser.add_argument("--shared", type=Path, default=default_shared_data())
    options = parser.parse_args()
    compile_tracker()
    for part in options.only or PARTS:
        started = time.monotonic()
        print(f"== {part}", file=sys.stderr, flush=True)
        if part == "poll":
            poll_benchmark(options, with_real=True, results_name="poll")
        elif part == "poll-generated":
            poll_benchmark(options, with_real=False, results_name="poll_generated")
        elif part == "scale":
            link_scale.main([])
            charts.draw("link_scale")
        elif part == "daemon":
            daemon_memory.main(["--shared", str(options.shared)])
            charts.draw("daemon_memory")
        else:
            links_eval.main(["--json", str(RESULTS / "links_eval.json")])
        print(f"== {part} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def poll_benchmark(options: argparse.Namespace, with_real: bool, results_name: str) -> None:
    """Every contender's cold and unchanged polls, to results/RESULTS_NAME.json and .png;
    topic matching too on the corpus with the real documents."""
    generated = build_corpus(options.shared, options.feeds)
    real = real_documents(options.shared) if with_real else {}
    corpus = generated | real
    names = list(CONTENDERS)
    check_installed(names)
    server = FeedServer().start()
    # Real documents are served as captured, their encoding left to the XML
    # declaration (or BOM) the way most servers send feeds.
    urls = ([server.add(path, Document(body)) for path, body in generated.items()]
            + [server.add(path, Document(body, content_type="application/xml"))
               for path, body in real.items()])
    timings: dict[str, dict[str, list[float]]] = {
        name: {f"{phase}_{measure}": [] for phase in ("cold", "unchanged")
               for measure in ("seconds", "peak_rss_mb", "simultaneous_rss_mb",
                               "own_peak_rss_mb")}
        for name in names}
    link_seconds: list[float] = []  # tracker's cold polls: the part spent linking
    # What each contender said of its first round (tracker: its poll summary;
    # reader: entries stored), to show every run did the whole job.
    said: dict[str, dict[str, str]] = {name: {} for name in names}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_number in range(options.repeat):
                states = {name: Path(tmp) / f"{name}-{round_number}" for name in names}
                commands = {}
                for name in names:
                    states[name].mkdir()
                    commands[name] = CONTENDERS[name](states[name], urls)
                for phase in ("cold", "unchanged"):
                    for name in names:
                        seconds, memory, output = run_measured(commands[name])
                        timings[name][f"{phase}_seconds"].append(seconds)
                        timings[name][f"{phase}_peak_rss_mb"].append(memory.upper)
                        timings[name][f"{phase}_simultaneous_rss_mb"].append(
                            memory.simultaneous)
                        # tracker's poll process alone, without its parser processes
                        timings[name][f"{phase}_own_peak_rss_mb"].append(memory.own)
                        said[name].setdefault(phase, output.strip().split("\n")[0])
                        if name == "tracker" and phase == "cold":
                            link_seconds.append(linking_seconds(output))
                print(f"round {round_number + 1}: " + ", ".join(
                    f"{n} {timings[n]['cold_seconds'][-1]:.2f}s/"
                    f"{timings[n]['unchanged_seconds'][-1]:.2f}s" for n in names),
                    file=sys.stderr)
    finally:
        server.stop()

    documents = corpus_documents(corpus)
    contenders = {name: {key: summary(values) for key, values in result.items()}
                  for name, result in timings.items()}
    ratios = {}
    for name in names:
        if name == "tracker":
            continue
        ratios[f"{name}/tracker"] = {
            key: contenders[name][key]["median"] / contenders["tracker"][key]["median"]
            for key in ("cold_seconds", "unchanged_seconds", "cold_peak_rss_mb",
                        "cold_simultaneous_rss_mb")}
    result: dict[str, Any] = {
        **provenance(),
        "corpus": {"feeds": len(corpus), "generated_feeds": len(generated),
                   "real_documents": len(real), "items": len(documents),
                   "bytes": sum(len(body) for body in corpus.values())},
        "repeat": options.repeat,
        "contenders": contenders,
        "first_round_output": said,
        "ratios": ratios,
        "tracker_cold_items_per_second": len(documents)
        / contenders["tracker"]["cold_seconds"]["median"],
        # The first poll's linking pass (as the poll reports it), and the cold poll without it.
        "tracker_cold_link_seconds": summary(link_seconds),
        "tracker_cold_without_link_seconds": summary(
            [total - link for total, link in zip(timings["tracker"]["cold_seconds"],
                                                 link_seconds, strict=True)]),
    }
    if with_real:
        result["topic_matching"] = measure(documents, repeat=options.repeat)
        result["topic_tokenise_seconds"] = tokenise_seconds(documents)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{results_name}.json").write_text(json.dumps(result, indent=2) + "\n",
                                                  encoding="utf-8")
    charts.draw(results_name)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
