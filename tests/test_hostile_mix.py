"""The fetching issue's acceptance test: a fault-injecting server with slow, huge,
bomb, looping, redirecting-to-private, 429, 410, 301 and entity-expanding feeds
mixed with healthy ones, polled by a real `tracker poll` process."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_config
from tests.feedserver import Document, FeedServer
from tests.procmem import run_with_peak_memory
from tests.test_cli import rss
from tests.test_fetch import drip, endless, gzip_bomb, redirect_to
from tests.test_parse import entity_bomb


def tracker(config: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", "--config", str(config), "--db", str(db), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": "."},
    )


def test_healthy_feeds_survive_a_hostile_mix(tmp_path: Path) -> None:
    server = FeedServer().start()
    port = server.httpd.server_address[1]
    healthy = {f"/ok{n}": Document(rss(f"Healthy story {n}", base=f"https://ok{n}.example/"))
               for n in range(6)}
    hostile = {
        "/slow": drip,
        "/bomb": gzip_bomb,
        "/endless": endless,
        "/huge": Document(b"<rss>" + b" " * 3_000_000 + b"</rss>"),
        "/loop": redirect_to("/loop"),
        "/to-private": redirect_to(f"http://127.0.0.2:{port}/ok0"),
        "/busy": Document(b"", status=429, etag=False, headers={"Retry-After": "3600"}),
        "/gone": Document(b"", status=410, etag=False),
        "/entities": Document(entity_bomb()),
        "/html": Document(b"<html><body>Not a feed</body></html>", content_type="text/html"),
        "/garbage": Document(gzip.compress(b"\x00" * 1000)),
    }
    moved_target = Document(rss("Moved story", base="https://moved.example/"))
    routes: dict[str, object] = {**healthy, **hostile, "/moved-here": moved_target,
                                 "/moved": redirect_to("/moved-here", 301)}
    feeds = []
    for path, route in routes.items():
        server.add(path, route)  # type: ignore[arg-type]
        # Hostile feeds get their own host name where the 429 must not hold back the others.
        host = "localhost" if path == "/busy" else "127.0.0.1"
        feeds.append({"name": path.strip("/"), "url": f"http://{host}:{port}{path}"})
    # Private networks stay refused; only the test server's own address is allowed,
    # so the redirect hop to 127.0.0.2 must be refused before connecting.
    config = write_config(tmp_path / "tracker.toml", feeds, allow_private=False, extra=(
        'allow_addresses = ["127.0.0.1", "::1"]\n'
        "[fetch]\ntimeout = 3\nmax_bytes = 2000000\nper_host = 8\nparse_timeout = 5"))
    db = tmp_path / "tracker.db"
    try:
        first, memory = run_with_peak_memory(
            [sys.executable, "-m", "tracker.cli", "--config", str(config), "--db", str(db),
             "poll"], env={**os.environ, "PYTHONPATH": "."}, )
        report = json.loads(tracker(config, db, "status", "--json").stdout)
        seen_before = len(server.requests)
        second = tracker(config, db, "poll", "--all")
        second_requests = server.requests[seen_before:]
    finally:
        server.stop()

    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr + second.stderr
    by_name = {feed["name"]: feed for feed in report["feeds"]}
    for path in healthy:
        feed = by_name[path.strip("/")]
        assert feed["last_error"] is None and feed["item_count"] == 1, feed
    expectations = {
        "slow": "gave up after 3s",
        "bomb": "after decompression",
        "endless": "2,000,000-byte limit",
        "huge": "declares 3,000,",
        "loop": "more than 5 redirects",
        "busy": "429 Too Many Requests",
        "gone": "410 Gone",
        "entities": "entity-expansion",
        "html": "not a feed: the server sent a web page",
        "garbage": "not a",
    }
    for name, fragment in expectations.items():
        assert fragment in (by_name[name]["last_error"] or ""), (name, by_name[name])
    assert "refused to connect to 127.0.0.2" in by_name["to-private"]["last_error"]
    assert by_name["gone"]["gone"] is True
    assert "Retry-After" in by_name["busy"]["due_reason"]
    assert by_name["moved"]["item_count"] == 1

    # Peak memory of the poll process: bombs and endless bodies stay within the caps.
    print(f"peak memory of the poll process tree: {memory.upper:.0f} MB")
    assert memory.upper < 300, f"peak memory {memory.upper:.0f} MB"

    # Second poll: gone and Retry-After feeds are not asked; every healthy feed is
    # asked conditionally.
    asked = {r.path for r in second_requests}
    assert "/gone" not in asked and "/busy" not in asked
    for request in second_requests:
        if request.path in healthy or request.path == "/moved-here":
            assert "If-None-Match" in request.headers, request.path
    assert "0 new items" in second.stdout


def test_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    """With private networks off and only the test server's address exempt."""
    from tracker.config import FetchSettings
    from tracker.errors import BlockedAddressError
    from tracker.fetch import Fetcher

    server = FeedServer().start()
    port = server.httpd.server_address[1]
    url = server.add("/to-private", redirect_to(f"http://10.0.0.1:{port}/"))
    try:
        with Fetcher(FetchSettings(timeout=2), allow_private=False,
                     exempt_addresses=frozenset({"127.0.0.1"})) as fetcher:
            try:
                fetcher.fetch(url)
            except BlockedAddressError as exc:
                assert "10.0.0.1" in str(exc) and "private" in str(exc)
            else:
                raise AssertionError("redirect to 10.0.0.1 was followed")
    finally:
        server.stop()
