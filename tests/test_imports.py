"""What a `tracker poll` process loads: every run pays for its imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_config


def test_the_cli_loads_no_table_drawing_migrations_or_template_libraries() -> None:
    code = ("import json, sys, tracker.cli; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                           text=True, check=True).stdout))
    assert {"click", "sqlite3"} <= loaded
    # rich draws the status tables, sqlite_utils migrates, jinja2 renders digests,
    # apscheduler runs the daemon, pygments comes with httpx's own CLI: none is
    # needed by `poll`, and together they cost ~10 MB in each process. lxml
    # (tests only) would be 9 MB more: feeds are read with the standard
    # library's expat. httpx (with ssl) and the parsers are loaded by the
    # commands that fetch: the others only read the archive, and started in
    # 0.41 s and 34 MB with them against 0.25 s and 27 MB without.
    assert not loaded & {"rich", "pygments", "sqlite_utils", "jinja2", "apscheduler", "numpy",
                         "lxml", "httpx", "ssl", "feedparser"}


def test_a_parser_worker_loads_feedparser_and_little_else() -> None:
    code = ("import json, sys, tracker.parseworker; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                           text=True, check=True).stdout))
    assert "feedparser" in loaded
    # Each worker is a whole process: the fetcher's httpx and the store's
    # sqlite3 would be ~10 MB more in every one.
    assert not loaded & {"lxml", "httpx", "sqlite3", "click"}


def test_a_poll_without_alerting_topics_loads_no_digest_machinery(tmp_path: Path) -> None:
    config = write_config(tmp_path / "tracker.toml", [], extra="[topics.nato]\nquery = 'NATO'")
    code = ("import atexit, json, sys; from tracker.cli import main; "
            "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] "
            "for m in sys.modules})), file=sys.stderr)); "
            f"sys.argv = ['tracker', '--config', {str(config)!r}, '--db', "
            f"{str(tmp_path / 'tracker.db')!r}, 'poll']; main()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.startswith("polled 0 feeds"), run.stdout + run.stderr
    loaded = set(json.loads(run.stderr.strip().splitlines()[-1]))
    assert "httpx" in loaded
    # A topic with alert = true brings them in, after the poll; none here.
    assert not loaded & {"jinja2", "nh3", "markupsafe", "rich", "apscheduler"}
