"""Topics and search through the CLI, against a local feed server."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Cli, read_only_here, write_config
from tests.feedserver import Document, FeedServer
from tracker.cli import main
from tracker.timefmt import to_text

STORIES = [
    ("UK to mass-produce interceptor drones", "Ukrainian-designed drones to be built in the UK."),
    ("Russian drones violate Polish airspace", "NATO jets scrambled as drones crossed the border."),
    ("Defence budget rises", "Spending to reach 2.5 per cent of GDP, the Treasury said."),
    ("Football results", "Donato scored twice for the UK under-21 side."),
]


def rss(stories: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<item><title>{t}</title><link>https://e.org/{n}</link>"
                    f"<description>{d}</description>"
                    f"<pubDate>Mon, 17 Nov 2025 09:{n:02d}:00 GMT</pubDate></item>"
                    for n, (t, d) in enumerate(stories))
    return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def make_cli(tmp_path: Path, server: FeedServer, topics: dict[str, str]) -> Cli:
    url = server.url("/feed")
    extra = "\n".join(f"[topics.{name}]\nquery = '{query}'" for name, query in topics.items())
    config = write_config(tmp_path / "tracker.toml", [{"name": "MoD", "url": url,
                                                       "kind": "official"}], extra=extra)
    return Cli(config, tmp_path / "tracker.db")


def test_new_items_are_tagged_and_exported_with_their_topics(tmp_path: Path,
                                                             feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {"drones": "drone", "nato": "NATO airspace",
                                           "budgets": '"defence budget" OR GDP'})
    assert "4 new items" in cli("poll").output
    exported = {e["title"]: e for e in map(json.loads, cli("export").output.splitlines())}
    assert exported["UK to mass-produce interceptor drones"]["topics"] == [
        {"name": "drones", "terms": ["drones"]}]
    assert [t["name"] for t in exported["Russian drones violate Polish airspace"]["topics"]] == [
        "drones", "nato"]
    assert exported["Football results"]["topics"] == []  # Donato is not NATO, UK no drone

    listing = json.loads(cli("topics", "list", "--json").output)
    counts = {row["name"]: (row["last_day"], row["total"]) for row in listing}
    assert counts == {"budgets": (1, 1), "drones": (2, 2), "nato": (1, 1)}
    table = cli("topics", "list").output
    assert "drones" in table and '"defence budget" OR GDP' in table
    # Search hits say which watch topics they fall under.
    hits = {hit["title"]: hit["topics"]
            for hit in json.loads(cli("search", "drones OR Football", "--json").output)}
    assert hits["Russian drones violate Polish airspace"] == ["drones", "nato"]
    assert hits["Football results"] == []
    assert "; topics: drones, nato\n" in cli("search", "Polish").output
    within = json.loads(cli("search", "drones OR Football", "--topic", "nato", "--json").output)
    assert [hit["title"] for hit in within] == ["Russian drones violate Polish airspace"]
    assert "no such topic: natto" in cli("search", "drones", "--topic", "natto").output


def test_search_ranks_filters_and_highlights(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {})
    cli("poll")
    results = json.loads(cli("search", "drones -NATO", "--json").output)
    assert [r["title"] for r in results] == ["UK to mass-produce interceptor drones"]
    first = results[0]
    assert first["matched_terms"] == ["drones"]
    start, end = first["snippet_highlights"][0]
    assert first["snippet"][start:end] == "drones"
    # BM25: the item that says UK twice ranks above the one that says it once.
    assert [r["title"] for r in json.loads(cli("search", "kind:official UK", "--json").output)
            ] == ["UK to mass-produce interceptor drones", "Football results"]
    text = cli("search", "airspace").output
    assert "Russian drones violate Polish airspace" in text and "MoD (official)" in text
    assert cli("search", "submarine").output.strip() == "no matching items"
    # A page that is not all of them says so, and how to have the rest.
    first_of_two = cli("search", "kind:official UK", "--limit", "1").output
    assert first_of_two.endswith("\nMore items match than these 1: --limit shows more, and "
                                 "tracker export --query 'kind:official UK' writes them all.\n")
    assert "More items" not in cli("search", "kind:official UK", "--limit", "2").output


def test_search_output_piped_keeps_each_hit_one_indented_block(tmp_path: Path,
                                                               feed_server: FeedServer) -> None:
    """Read in a pipe or cron mail (100 columns): wrapped text keeps its indent,
    and a long link stays whole on its line, to click or copy."""
    link = "https://www.gov.example/government/news/" + "interceptor-drone-partnership-" * 4
    summary = ("The partnership covers interceptor drones designed in Ukraine and built in "
               "Britain, with the first deliveries due before the winter and more to follow.")
    feed_server.add("/feed", Document(
        f'<rss version="2.0"><channel><title>F</title><item><title>Drone partnership</title>'
        f"<link>{link}</link><description>{summary}</description></item>"
        f"<item><title>Drone budget</title><link>https://e.org/2</link>"
        f"<description>Drones cost less.</description></item></channel></rss>".encode()))
    cli = make_cli(tmp_path, feed_server, {})
    cli("poll")
    lines = cli("search", "drone*").output.splitlines()
    assert lines[0].startswith("#") and "" in lines  # no blank line first; one between hits
    assert all(line == "" or line.startswith(("#", "  ")) for line in lines), lines
    assert all(line == line.rstrip() and len(line) <= 100 for line in lines if line != "  " + link)
    assert "  " + link in lines
    assert sum(line.startswith("  ") and line.strip() in summary for line in lines) == 2


def test_words_are_matched_as_typed(tmp_path: Path, feed_server: FeedServer) -> None:
    # GOV.UK and the press print O’Brien and Côte d’Ivoire; people type O'Brien
    # and Cote.
    stories = [("O’Brien visits Côte d’Ivoire", "The minister’s trip was brief.")]
    feed_server.add("/feed", Document(rss(stories)))
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "MoD", "url": feed_server.url("/feed"), "kind": "official"}],
                          extra='[topics.visits]\nquery = "\\"O\'Brien\\" OR \\"cote d\'ivoire\\""')
    cli = Cli(config, tmp_path / "tracker.db")
    cli("poll")
    exported = json.loads(cli("export").output)
    assert exported["topics"] == [{"name": "visits", "terms": ["cote d'ivoire", "o'brien"]}]
    assert json.loads(cli("search", "cote", "--json").output)[0]["id"] == 1
    found = json.loads(cli("search", "o'brien minister", "--json").output)
    assert [r["title"] for r in found] == ["O’Brien visits Côte d’Ivoire"]
    assert found[0]["matched_terms"] == ["minister's", "o'brien"]
    start, end = found[0]["snippet_highlights"][0]
    assert found[0]["snippet"][start:end] == "minister’s"


def test_search_newest_first(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss([
        ("Drones, drones, drones", "Interceptor drones and more drones."),  # 09:00
        ("Budget rises", "Some of it for drones."),                          # 09:01
    ])))
    cli = make_cli(tmp_path, feed_server, {})
    cli("poll")

    def titles(*args: str) -> list[str]:
        return [hit["title"] for hit in json.loads(cli("search", "drones", "--json", *args).output)]

    assert titles() == ["Drones, drones, drones", "Budget rises"]  # best first
    assert titles("--newest") == ["Budget rises", "Drones, drones, drones"]
    assert titles("--newest", "--limit", "1") == ["Budget rises"]


def test_topics_test_counts_and_shows_best_hits(tmp_path: Path,
                                                feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {})
    cli("poll")
    result = cli("topics", "test", "drone*", "--limit", "1")
    assert result.exit_code == 0
    assert result.output.startswith("2 matching items; the best 1:")
    assert cli("search", "drone", "--since", "2999-01-01").output.strip() == "no matching items"


def test_invalid_queries_are_refused_with_position(tmp_path: Path,
                                                   feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {})
    result = cli("search", "(drone OR")
    assert result.exit_code == 2
    assert "invalid query '(drone OR'" in result.output and "position 10" in result.output
    bad = make_cli(tmp_path, feed_server, {"drones": "drone OR (uav", "ok": "x"})
    result = bad("poll")
    assert result.exit_code != 0
    assert "topics.drones" in result.output and "expected ')'" in result.output
    assert "tracker.toml, line 3: topics.drones" in result.output  # the query line


def test_a_query_that_starts_with_a_minus_says_how_to_pass_it(tmp_path: Path,
                                                              feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {})
    cli("poll")
    for command in (["search"], ["topics", "test"]):
        refused = cli(*command, "-NATO drones")
        assert refused.exit_code == 2
        assert "'-NATO drones' is not an option" in refused.output
        assert "-- '-exercise Patriot'" in refused.output
    passed = json.loads(cli("search", "--json", "--", "-NATO drones").output)
    assert [r["title"] for r in passed] == ["UK to mass-produce interceptor drones"]
    mistyped = cli("search", "--limt", "3", "drone").output
    assert "Did you mean" in mistyped and "'--limit'" in mistyped


def test_a_changed_query_is_rematched_only_on_request(tmp_path: Path,
                                                     feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {"watch": "drone"})
    cli("poll")
    cli = make_cli(tmp_path, feed_server, {"watch": "GDP"})
    polled = cli("poll")
    assert "the query of watch changed" in polled.output
    (row,) = json.loads(cli("topics", "list", "--json").output)
    assert row["total"] == 2 and row["matched_query"] == "drone"  # not silently re-evaluated
    assert "changed: run tracker topics rematch" in cli("topics", "list").output
    assert cli("topics", "rematch").output.strip() == "watch: 1 matching items"
    (row,) = json.loads(cli("topics", "list", "--json").output)
    assert row["total"] == 1 and row["matched_query"] == "GDP"
    assert "up to date" in cli("topics", "rematch").output
    assert cli("topics", "rematch", "nope").exit_code == 2


def test_since_takes_a_local_date_or_a_span_back_from_now(tmp_path: Path,
                                                          feed_server: FeedServer) -> None:
    """`--since 2026-11-02` is that day in the config's timezone (New York here,
    five hours behind UTC), and `--since 2d` the last two days."""
    feed_server.add("/feed", Document(rss(STORIES)))
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "MoD", "url": feed_server.url("/feed")}],
                          extra='timezone = "America/New_York"')
    cli = Cli(config, tmp_path / "tracker.db")
    cli("poll")
    now = datetime.now(UTC)
    seen = {"UK to mass-produce interceptor drones": "2026-11-02T02:00:00+00:00",  # 1 Nov, 21:00
            "Russian drones violate Polish airspace": "2026-11-02T06:00:00+00:00",  # 2 Nov, 01:00
            "Defence budget rises": to_text(now - timedelta(days=3)),
            "Football results": to_text(now - timedelta(hours=1))}
    with sqlite3.connect(tmp_path / "tracker.db") as conn:
        for title, first_seen in seen.items():
            conn.execute("UPDATE items SET first_seen = ? WHERE title = ?", (first_seen, title))

    def found(since: str) -> set[str]:
        result = cli("search", "kind:news", "--json", "--since", since)
        assert result.exit_code == 0, result.output
        return {hit["title"] for hit in json.loads(result.output)}

    assert found("2026-11-02") == set(seen) - {"UK to mass-produce interceptor drones"}
    assert found("2026-11-01") == set(seen)
    assert found("2d") == {"Football results"}
    assert found("1w") == found("1 week") == {"Football results", "Defence budget rises"}
    for bad in ("2026", "lately", "2d ago"):
        result = CliRunner().invoke(main, ["--config", str(config), "--db",
                                           str(tmp_path / "tracker.db"), "search", "drone",
                                           "--since", bad])
        assert result.exit_code == 2
        assert "not a date such as 2026-11-01 or a span back from now such as 36h" in result.output


def test_topics_list_shows_a_query_written_over_lines_as_one(tmp_path: Path) -> None:
    extra = "[topics.budgets]\nquery = '''\n  \"defence budget\"\n    OR GDP'''"
    config = write_config(tmp_path / "tracker.toml", [], extra=extra)
    table = Cli(config, tmp_path / "tracker.db")("topics", "list").output
    assert '"defence budget" OR GDP' in table


def test_search_topics_test_and_export_keep_to_the_dates_asked_for(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """--from and --to go by the item's own date in the config's timezone, a
    date given to --to meaning its whole day, whenever the item arrived."""
    dated = [("Patriot battery for Poland", "Tue, 31 Aug 2021 22:59:59 GMT"),    # 23:59 BST
             ("Patriot training begins", "Tue, 31 Aug 2021 23:00:00 GMT"),       # 1 Sep, 00:00
             ("Patriot deal signed", "Thu, 30 Sep 2021 22:59:59 GMT"),           # 30 Sep, 23:59
             ("Patriot missiles delivered", "Thu, 30 Sep 2021 23:00:00 GMT"),    # 1 Oct
             ("Patriot cost questioned", None)]                                  # first seen now
    items = "".join(f"<item><title>{title}</title><link>https://e.org/{n}</link>"
                    + (f"<pubDate>{when}</pubDate>" if when else "") + "</item>"
                    for n, (title, when) in enumerate(dated))
    feed_server.add("/feed", Document(
        f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()))
    config = write_config(tmp_path / "tracker.toml",
                          [{"name": "MoD", "url": feed_server.url("/feed")}],
                          extra='timezone = "Europe/London"')
    cli = Cli(config, tmp_path / "tracker.db")
    cli("poll")

    def found(*args: str) -> list[str]:
        output = cli("search", "Patriot", "--newest", "--json", *args).output
        return [hit["title"] for hit in json.loads(output)]

    september = ["Patriot deal signed", "Patriot training begins"]
    assert found("--from", "2021-09-01", "--to", "2021-09-30") == september
    assert found("--from", "2021-09-01T00:00", "--to", "2021-09-30T23:59:59") == september
    assert found("--to", "2021-08-31") == ["Patriot battery for Poland"]
    assert found("--from", "2021-10-01") == ["Patriot cost questioned",
                                             "Patriot missiles delivered"]
    assert found("--from", "1d") == ["Patriot cost questioned"]  # undated: dated by arrival
    tested = cli("topics", "test", "Patriot", "--from", "2021-09-01", "--to", "2021-09-30")
    assert tested.output.startswith("2 matching items:")
    # Dated as the reader's day, as the digest dates them, not UTC's (31 August).
    assert "MoD (news), 2021-09-01" in tested.output
    exported = [json.loads(line)["title"] for line in
                cli("export", "--from", "2021-09-01", "--to", "2021-09-30").output.splitlines()]
    assert sorted(exported) == sorted(september)
    refused = cli("search", "Patriot", "--from", "2021-10-01", "--to", "2021-09-01")
    assert refused.exit_code == 2
    assert "--to 2021-09-01 is not after --from 2021-10-01" in refused.output


def test_topics_add_and_remove_edit_the_config_and_match_the_archive(
        tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {"budgets": "GDP"})
    cli.config.write_text("# our watchlist\n" + cli.config.read_text(), encoding="utf-8")
    cli("poll")
    added = cli("topics", "add", "airspace", '"Polish airspace" OR NATO', "--alert")
    assert added.exit_code == 0, added.output
    assert added.output == (f"added topic airspace to {cli.config} (alert = true)\n"
                            "airspace: 1 matching item in the archive\n")
    text = cli.config.read_text(encoding="utf-8")
    assert text.startswith("# our watchlist\n")  # comments and layout kept
    assert "[topics.airspace]\nquery = '\"Polish airspace\" OR NATO'\nalert = true\n" in text
    exported = {e["title"]: [t["name"] for t in e["topics"]]
                for e in map(json.loads, cli("export").output.splitlines())}
    assert exported["Russian drones violate Polish airspace"] == ["airspace"]
    listed = {row["name"]: row["alert"]
              for row in json.loads(cli("topics", "list", "--json").output)}
    assert listed == {"airspace": True, "budgets": False}
    assert "airspace (alert)" in cli("topics", "list").output

    assert "already in" in cli("topics", "add", "airspace", "x").output
    assert "cannot name a topic" in cli("topics", "add", "air space", "x").output
    assert "invalid query" in cli("topics", "add", "x", '"open').output
    assert cli.config.read_text(encoding="utf-8") == text  # refused edits write nothing

    cli.config.write_text(cli.config.read_text(encoding="utf-8")
                          + "\n[digest]\ntopics = ['budgets']\n", encoding="utf-8")
    refused = cli("topics", "remove", "budgets")
    assert refused.exit_code == 1
    assert "not saved: " in refused.output and "'budgets' is not a configured topic" in \
        refused.output
    assert cli("topics", "remove", "airspace").output == (
        f"removed topic airspace from {cli.config}\n")
    assert "[topics.airspace]" not in cli.config.read_text(encoding="utf-8")
    assert "no topic 'nope'" in cli("topics", "remove", "nope").output


def test_topics_add_on_a_database_this_user_may_only_read_saves_the_topic_and_says_so(
        tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """An analyst may edit the config but not the daemon's database: the topic is
    saved, the archive left as it is, and the output says who can match it."""
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {"budgets": "GDP"})
    cli("poll")
    before = cli.db.read_bytes()
    read_only_here(monkeypatch)
    added = cli("topics", "add", "airspace", '"Polish airspace"')
    assert added.exit_code == 0, added.output
    assert "[topics.airspace]" in cli.config.read_text(encoding="utf-8")
    assert "the archive was not matched against airspace: you may only read" in added.output
    assert "`tracker topics rematch airspace` run as its user" in added.output
    assert cli.db.read_bytes() == before


def test_export_of_a_query_takes_every_match_with_the_other_filters(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """--query exports what `tracker search` finds, all of it (search shows a page),
    within --topic, --from/--to and --starred; a bad query is refused as search
    refuses it."""
    feed_server.add("/feed", Document(rss(STORIES)))
    cli = make_cli(tmp_path, feed_server, {"drones": "drone"})
    cli("poll")

    def exported(*args: str) -> list[str]:
        result = cli("export", *args)
        assert result.exit_code == 0, result.output
        return sorted(json.loads(line)["title"] for line in result.output.splitlines())

    assert exported("--query", "drones -NATO") == ["UK to mass-produce interceptor drones"]
    assert exported("--query", "UK OR Polish") == [
        "Football results", "Russian drones violate Polish airspace",
        "UK to mass-produce interceptor drones"]
    assert exported("--query", "UK OR Polish", "--topic", "drones") == [
        "Russian drones violate Polish airspace", "UK to mass-produce interceptor drones"]
    assert exported("--query", "UK", "--to", "2025-01-01") == []
    assert exported("--query", "submarine") == []
    cli("star", "4")
    assert exported("--query", "UK OR Polish", "--starred") == ["Football results"]
    atom = cli("export", "--query", '"interceptor drones"', "--format", "atom").output
    assert "<title>tracker: \"interceptor drones\"</title>" in atom
    assert "tag:tracker,2026:export/search/%22interceptor%20drones%22" in atom
    refused = cli("export", "--query", '"open')
    assert refused.exit_code == 2 and "invalid query" in refused.output
