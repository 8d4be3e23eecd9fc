"""Starred items: kept with a note, listed, shown and exported (a real
database, through the CLI)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.conftest import Cli, write_config
from tests.feedserver import Document, FeedServer
from tests.test_cli import rss
from tracker import store as store_module


@pytest.fixture
def cli(tmp_path: Path, feed_server: FeedServer) -> Cli:
    url = feed_server.add("/feed", Document(rss("Drone deal signed", "NATO jets scrambled",
                                                "Budget rises")))
    config = write_config(tmp_path / "tracker.toml", [{"name": "Defence News", "url": url}],
                          extra="[topics.drones]\nquery = 'drone'")
    cli = Cli(config, tmp_path / "tracker.db")
    assert cli("poll", "--all").exit_code == 0
    return cli


def test_starred_items_are_kept_with_notes_listed_newest_first_and_shown(cli: Cli) -> None:
    assert cli("starred").output.startswith("no starred items")
    result = cli("star", "1", "--note", "Tuesday brief")
    assert result.exit_code == 0 and result.output == "starred #1: Tuesday brief\n"
    assert cli("star", "3").exit_code == 0
    assert cli("star", "1").output == "starred #1: Tuesday brief\n"  # the note stays
    listed = json.loads(cli("starred", "--json").output)
    assert [(row["id"], row["note"]) for row in listed] == [(3, None), (1, "Tuesday brief")]
    assert listed[1]["title"] == "Drone deal signed" and listed[1]["feed"] == "Defence News"
    text = cli("starred").output
    assert "#1 Drone deal signed\n  Defence News; starred " in text
    assert re.search(r"starred \d+s ago: Tuesday brief\n  https://example.org/0\n", text)
    assert "starred " in cli("show", "1").output and "Tuesday brief" in cli("show", "1").output
    assert json.loads(cli("show", "2", "--json").output)["starred"] is None

    assert cli("star", "1", "--note", "Friday instead").output.endswith("Friday instead\n")
    assert cli("unstar", "3").output == "unstarred #3\n"
    assert [row["id"] for row in json.loads(cli("starred", "--json").output)] == [1]
    result = cli("unstar", "3")
    assert result.exit_code == 1 and "item 3 is not starred" in result.output
    result = cli("star", "99")
    assert result.exit_code == 1 and "no item 99" in result.output


def test_export_starred_keeps_the_notes_and_combines_with_a_topic(cli: Cli) -> None:
    cli("star", "1", "--note", "for the brief")
    cli("star", "2")
    records = [json.loads(line) for line in cli("export", "--starred").output.splitlines()]
    assert [(r["id"], r["note"]) for r in records] == [(1, "for the brief"), (2, None)]
    assert all(r["starred"] for r in records)
    drones = cli("export", "--starred", "--topic", "drones").output.splitlines()
    assert [json.loads(line)["id"] for line in drones] == [1]
    everything = [json.loads(line) for line in cli("export").output.splitlines()]
    assert [r["starred"] is not None for r in everything] == [True, True, False]
    atom = cli("export", "--starred", "--topic", "drones", "--format", "atom").output
    assert "<title>tracker: starred drones</title>" in atom
    assert "tag:tracker,2026:export/starred/drones" in atom
    table = list(csv.DictReader(io.StringIO(cli("export", "--format", "csv", "--starred")
                                            .output.lstrip("\ufeff"))))
    assert [(row["id"], row["note"]) for row in table] == [("1", "for the brief"), ("2", "")]


def test_starring_needs_a_database_this_user_may_write(
        cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_may_write", lambda path: False)
    result = cli("star", "1")
    assert result.exit_code == 1 and "tracker may only read this database here" in result.output
    assert cli("starred").exit_code == 0
