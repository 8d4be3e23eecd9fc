from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.feedserver import FeedServer
from tracker import store as store_module
from tracker.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real third-party data beside the repository (TRACKER_SHARED_DATA)."""
    path = Path(os.environ.get("TRACKER_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (path / "README.md").is_file():
        pytest.fail(f"shared data not found at {path}; set TRACKER_SHARED_DATA")
    return path


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, feeds: list[dict[str, str]], extra: str = "",
                 allow_private: bool = True) -> Path:
    """A config file for tests; local servers need allow_private_networks."""
    lines = [f"allow_private_networks = {'true' if allow_private else 'false'}", extra, ""]
    for feed in feeds:
        lines.append("[[feeds]]")
        lines.extend(f"{key} = {toml_string(value)}" for key, value in feed.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Cli:
    """Runs `tracker` commands in-process with a given config and database."""

    def __init__(self, config: Path, db: Path) -> None:
        self.config = config
        self.db = db

    def __call__(self, *args: str) -> Result:
        runner = CliRunner()
        return runner.invoke(main, ["--config", str(self.config), "--db", str(self.db), *args],
                             catch_exceptions=False)


@pytest.fixture
def cli_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(feeds: list[dict[str, str]], extra: str = "", allow_private: bool = True) -> Cli:
        config = write_config(tmp_path / "tracker.toml", feeds, extra, allow_private)
        return Cli(config, tmp_path / "tracker.db")
    return make


def read_only_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process may not write the database (as for an analyst beside the
    daemon's service account): what tracker checks, since a test run as root may
    write anything. SQLite then opens it read-only for real."""
    monkeypatch.setattr(store_module, "_may_write", lambda path: False)
