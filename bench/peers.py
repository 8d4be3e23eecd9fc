"""The contenders, each a whole process: tracker, lemon24/reader and rss2email.

Each contender gets a fresh state directory for a cold run and reuses it for
the unchanged run that follows.
"""

from __future__ import annotations

import compileall
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Command = list[str]


DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "tracker.toml"


def default_topics() -> str:
    """The default config's aliases and watch topics (TOML), which every bench
    poll matches, as a real one would."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    return text[text.index("\n[aliases]") + 1:]


def tracker_command(state: Path, urls: list[str]) -> Command:
    config = state / "tracker.toml"
    if not config.exists():
        lines = ["allow_private_networks = true",
                 # one host serves every feed here; real feeds are spread over many hosts
                 "[fetch]", "concurrency = 8", "per_host = 8", ""]
        for n, url in enumerate(urls):
            lines += ["[[feeds]]", f'name = "Bench {n}"', f'url = "{url}"', ""]
        config.write_text("\n".join(lines) + "\n" + default_topics(), encoding="utf-8")
    return [sys.executable, "-m", "tracker.cli", "--config", str(config), "--db",
            str(state / "tracker.db"), "poll", "--all"]


def reader_command(state: Path, urls: list[str]) -> Command:
    listing = state / "urls.txt"
    listing.write_text("\n".join(urls), encoding="utf-8")
    return [sys.executable, "-m", "bench.run_reader", str(state / "reader.sqlite"), str(listing)]


def rss2email_command(state: Path, urls: list[str]) -> Command:
    config, data = state / "r2e.cfg", state / "r2e.json"
    r2e = [sys.executable, "-c", "import sys; from rss2email.main import run; sys.exit(run())",
           "-c", str(config), "-d", str(data)]
    if not config.exists():  # setup, not timed: one `r2e add` per feed
        subprocess.run([*r2e, "new", "bench@example.org"], check=True, capture_output=True)
        for n, url in enumerate(urls):
            subprocess.run([*r2e, "add", f"bench{n}", url], check=True, capture_output=True)
    return [*r2e, "run", "--no-send"]


CONTENDERS: dict[str, Callable[[Path, list[str]], Command]] = {
    "tracker": tracker_command,
    "reader": reader_command,
    "rss2email": rss2email_command,
}


def compile_tracker() -> None:
    """Write tracker's bytecode as pip writes every package it installs. The
    peers load theirs precompiled; tracker, installed editable from its
    checkout, would compile every module it imports in every process wherever
    PYTHONDONTWRITEBYTECODE is set (as on the machines the results come from):
    60-100 ms a process on 2 cores, a tenth of an unchanged poll."""
    package = Path(__file__).resolve().parent.parent / "tracker"
    if not compileall.compile_dir(package, quiet=1):
        raise SystemExit(f"tracker's modules in {package} do not compile")


def check_installed(names: list[str]) -> None:
    """Every contender must import in this environment: a figure without its
    peers beside it is not the comparison the results claim, so a missing one
    stops the run rather than dropping out of the results unnoticed."""
    for name in names:
        module = {"tracker": "tracker", "reader": "reader", "rss2email": "rss2email"}[name]
        tried = subprocess.run([sys.executable, "-c", f"import {module}"],
                               capture_output=True, text=True)
        if tried.returncode != 0:
            raise SystemExit(
                f"{name} does not import in {sys.prefix} ({tried.stderr.strip()[-300:]}); "
                "run the benchmarks with ./dev bench, which installs bench/requirements.txt")
