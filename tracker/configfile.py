"""Edit the config file's feeds and watch topics without destroying its
comments and layout.

tomlkit round-trips TOML, so `tracker feeds add/remove/pause/import` and
`tracker topics add/remove` change only the tables they touch. Every edit is
validated as a whole config before it is written, and written atomically
(`tracker.atomicfile`), keeping the file's permissions.
"""

from __future__ import annotations

from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Table

from tracker.atomicfile import replace_text
from tracker.config import Config, parse_config, read_config_text
from tracker.errors import ConfigError


class ConfigFile:
    """The config file as an editable document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.document = tomlkit.parse(read_config_text(path))
        except tomlkit.exceptions.TOMLKitError as exc:
            raise ConfigError(f"{path}: cannot edit the config: {exc}") from None

    @property
    def feeds(self) -> AoT:
        if "feeds" not in self.document:
            self.document.append("feeds", tomlkit.aot())
        feeds = self.document["feeds"]
        assert isinstance(feeds, AoT)
        return feeds

    def find(self, selector: str) -> Table:
        """The feed whose URL is `selector`, else the one feed of that name:
        names need not be unique, and a name two feeds share picks neither."""
        by_url = [table for table in self.feeds if table.get("url") == selector]
        named = by_url or [table for table in self.feeds if table.get("name") == selector]
        if len(named) > 1:
            urls = ", ".join(str(table.get("url")) for table in named)
            raise ConfigError(f"{self.path}: {len(named)} feeds are named {selector!r} ({urls}); "
                              "give the URL of the one you mean")
        if not named:
            raise ConfigError(f"{self.path}: no feed with URL or name {selector!r}")
        table = named[0]
        assert isinstance(table, Table)
        return table

    def has_url(self, url: str) -> bool:
        return any(table.get("url") == url for table in self.feeds)

    def add(self, url: str, name: str, kind: str, interval: str | None = None) -> None:
        table = tomlkit.table()
        table["name"] = name
        table["url"] = url
        table["kind"] = kind
        if interval:
            table["interval"] = interval
        self.feeds.append(table)

    def remove(self, selector: str) -> str:
        table = self.find(selector)
        index = next(i for i, t in enumerate(self.feeds) if t is table)
        del self.feeds[index]
        return str(table.get("name") or table.get("url"))

    def set_paused(self, selector: str, paused: bool) -> str:
        table = self.find(selector)
        if paused:
            table["paused"] = True
        elif "paused" in table:
            del table["paused"]
        return str(table.get("name") or table.get("url"))

    def has_topic(self, name: str) -> bool:
        topics = self.document.get("topics")
        return isinstance(topics, dict) and name in topics

    def add_topic(self, name: str, query: str, alert: bool = False) -> None:
        """A `[topics.NAME]` table, after the other topics."""
        if "topics" not in self.document:
            self.document.append("topics", tomlkit.table(is_super_table=True))
        topics = self.document["topics"]
        assert isinstance(topics, Table)
        table = tomlkit.table()
        # As people write queries in TOML: in single quotes, where their
        # "phrases" need no escaping.
        literal = "'" not in query and "\n" not in query
        table["query"] = tomlkit.string(query, literal=literal)
        if alert:
            table["alert"] = True
        topics.append(name, table)

    def remove_topic(self, name: str) -> None:
        if not self.has_topic(name):
            raise ConfigError(f"{self.path}: no topic {name!r} ([topics.{name}] is not there)")
        topics = self.document["topics"]
        assert isinstance(topics, Table)
        del topics[name]

    def save(self) -> Config:
        """Validate the edited file as a config, then replace the file atomically."""
        text = tomlkit.dumps(self.document)
        config = parse_config(text, self.path)
        replace_text(self.path, text)
        return config
