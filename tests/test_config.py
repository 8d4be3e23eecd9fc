from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, Cli
from tracker.config import load_config, parse_config, parse_duration
from tracker.errors import ConfigError
from tracker.models import FeedKind

GOOD = """
default_interval = "20m"
timezone = "Europe/London"

[fetch]
timeout = 12
per_host = 1

[[feeds]]
name = "MoD"
url = "https://www.gov.uk/government/organisations/ministry-of-defence.atom"
kind = "official"
interval = "15m"

[[feeds]]
url = "https://breakingdefense.com/feed/"

[topics.air_defence]
query = "Patriot OR IRIS-T"
"""


def parse(text: str) -> object:
    return parse_config(text, Path("tracker.toml"))


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def test_a_valid_config_is_read_with_defaults_filled_in() -> None:
    config = parse_config(GOOD, Path("tracker.toml"))
    first, second = config.feeds
    assert (first.name, first.kind, first.interval_seconds) == ("MoD", FeedKind.OFFICIAL, 900)
    assert second.name == "breakingdefense.com"
    assert second.kind is FeedKind.NEWS
    assert second.interval_seconds == 1200  # default_interval
    assert config.fetch.timeout == 12.0 and config.fetch.per_host == 1
    assert config.fetch.concurrency == 8  # default kept
    assert config.allow_private_networks is False
    assert [t.name for t in config.topics] == ["air_defence"]


def test_the_shipped_default_config_is_valid_and_real() -> None:
    config = load_config(REPO / "config" / "tracker.toml")
    assert len(config.feeds) >= 15
    kinds = {feed.kind for feed in config.feeds}
    assert kinds == {FeedKind.OFFICIAL, FeedKind.NEWS}
    assert all(feed.url.startswith("https://") for feed in config.feeds)
    assert config.allow_private_networks is False
    assert len(config.topics) >= 5


@pytest.mark.parametrize(("value", "seconds"), [
    (90, 90), ("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800),
    ("1w", 604800), ("15 minutes", 900), ("1 hour 30 mins", 5400), ("2 weeks", 1209600),
    ("1 day", 86400), ("45 secs", 45), ("3 hrs", 10800),
])
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5x", "", True, 1.5, "m", "3 months", "2 dayz"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_bad_toml_names_file_line_and_column() -> None:
    message = error_of('[[feeds]]\nurl = "https://a.example/feed\n')
    assert message.startswith("tracker.toml: not valid TOML")
    assert "line 2" in message


def test_unknown_key_is_refused_with_line_and_suggestion() -> None:
    message = error_of('[[feeds]]\nurl = "https://a.example/"\n\n[[feeds]]\n'
                       'url = "https://b.example/"\nintervall = "5m"\n')
    assert "tracker.toml, line 6: feeds[2]" in message
    assert "unknown key 'intervall'" in message
    assert "did you mean 'interval'?" in message


def test_feed_without_url_is_refused() -> None:
    message = error_of('[[feeds]]\nname = "No URL"\n')
    assert "feeds[1] ('No URL')" in message and "has no url" in message
    assert "line 1" in message


@pytest.mark.parametrize(("snippet", "expected"), [
    ('url = "https://a.example/"\ninterval = "often"', "is not a duration"),
    ('url = "https://a.example/"\ninterval = 0', "out of range"),
    ('url = "https://a.example/"\ninterval = "30d"', "out of range"),
    ('url = "https://a.example/"\nkind = "blog"', 'must be "official" or "news"'),
    ('url = "ftp://a.example/feed"', "is not an http(s) URL"),
])
def test_bad_feed_values_are_refused_with_the_key_line(snippet: str, expected: str) -> None:
    message = error_of(f"[[feeds]]\n{snippet}\n")
    assert expected in message
    assert "line 2" in message or "line 3" in message


def test_duplicate_feed_url_is_refused() -> None:
    message = error_of('[[feeds]]\nurl = "https://a.example/"\n[[feeds]]\nurl = "https://a.example/"\n')
    assert "already used by feeds[1]" in message


def test_other_top_level_mistakes() -> None:
    assert "allow_private_networks" in error_of('allow_private_networks = "yes"\n')
    assert "time zone" in error_of('timezone = "Mars/Olympus"\n')
    assert "fetch.timeout" in error_of("[fetch]\ntimeout = -1\n")
    assert "unknown key 'feed'" in error_of('[[feed]]\nurl = "https://a.example/"\n')
    assert "needs a non-empty query" in error_of('[topics.x]\nquery = ""\n')


def test_invalid_config_writes_nothing_to_the_database(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[feeds]]\nurl = "https://a.example/"\nintervall = "5m"\n')
    cli = Cli(config, tmp_path / "db" / "tracker.db")
    for command in (["poll"], ["status"], ["export"]):
        result = cli(*command)
        assert result.exit_code != 0
        assert "unknown key 'intervall'" in result.output
    assert not (tmp_path / "db").exists()


def test_missing_config_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "absent.toml", tmp_path / "tracker.db")
    result = cli("status")
    assert result.exit_code != 0
    assert "config file not found" in result.output and "TRACKER_CONFIG" in result.output


def test_a_config_not_in_utf8_names_the_line_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "tracker.toml"
    text = '[[feeds]]\nurl = "https://a.example/rss"\nname = "Défense"\n'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"tracker.toml, line 3: not UTF-8 text \(byte 0xe9\); "
                                          r"save the file as UTF-8"):
        load_config(path)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_config(path).feeds[0].name == "Défense"
