"""Load the TOML config file into a validated, immutable `Config`.

Validation is strict on purpose: an unknown key is far more often a typo
(`intervall`) than an intention, and a typo that is silently ignored means a
feed polled at the wrong rate for months. Every message names the file, the
line when it can be found, the key, and what would be accepted.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.errors import ConfigError
from tracker.link import LinkSettings
from tracker.models import FeedConfig, FeedKind, TopicConfig
from tracker.query import QuerySyntaxError, parse_query

DEFAULT_INTERVAL_SECONDS = 30 * 60
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 7 * 24 * 3600

_TOP_KEYS = {"allow_private_networks", "allow_addresses", "default_interval", "timezone", "fetch",
             "feeds", "topics", "aliases", "digest", "digests", "links", "topic_feeds",
             "backup", "alerts"}
_TOPIC_FEED_KEYS = {"folder", "items"}
_BACKUP_KEYS = {"folder", "schedule", "keep"}
_ALERT_KEYS = {"webhook_env", "at_most_every", "quiet_hours"}
_LINK_KEYS = {"threshold", "related_threshold", "max_links", "window"}
_DIGEST_KEYS = {"schedule", "include", "group", "topics", "max_items", "send_empty", "to",
                "from", "outbox", "list_unsubscribe", "lookback", "smtp"}
_NAMED_DIGEST_KEYS = {"schedule", "include", "group", "topics", "max_items", "send_empty", "to",
                      "webhook_env", "alerts", "following"}
_SMTP_KEYS = {"host", "port", "security", "username_env", "password_env", "timeout"}
_FEED_KEYS = {"url", "name", "kind", "interval", "paused"}
_TOPIC_KEYS = {"query", "alert"}
_FETCH_KEYS = {"timeout", "connect_timeout", "max_bytes", "concurrency", "per_host", "user_agent",
               "parse_timeout", "parse_memory_mb", "parse_workers", "proxy"}

# "90s", "1h30m", "15 minutes", "2 weeks": a unit is its letter or its name.
_DURATION_PART = re.compile(r"(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?"
                            r"|d|days?|w|wks?|weeks?)(?![a-z])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class FetchSettings:
    """Bounds and politeness settings for the HTTP side."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    concurrency: int = 8
    per_host: int = 2
    parse_timeout: float = 20.0
    parse_memory_mb: int = 512
    parse_workers: int = 2
    user_agent: str = (
        "tracker/{version} (defence-policy feed monitor; +https://github.com/tracker-project/tracker)"
    )
    proxy: str | None = None  # "http://proxy.example.org:3128": every fetch goes through it


@dataclass(frozen=True)
class SmtpSettings:
    """Where digests are delivered; credentials come only from the environment."""

    host: str
    port: int = 587
    security: str = "starttls"  # "starttls", "tls" (implicit) or "none"
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class DigestSettings:
    """The email digest: when, what, to whom, and how it is delivered."""

    schedule: str = "0 7 * * *"      # cron, in the config's time zone
    include: str = "topics"          # "topics": items matching a topic; "all": every new item
    group: str = "topic"             # sections by "topic", or by "storyline" (a week's threads)
    topics: tuple[str, ...] | None = None  # the topics it reports (None: every topic)
    max_items: int = 60
    send_empty: bool = False
    to: tuple[str, ...] = ()
    sender: str = "tracker@localhost"
    outbox: str | None = None        # folder for .eml files when there is no SMTP
    list_unsubscribe: str | None = None
    lookback_seconds: int = 7 * 86400
    smtp: SmtpSettings | None = None


@dataclass(frozen=True)
class NamedDigest:
    """Another digest (`[digests.NAME]`): its own readers, topics and schedule,
    delivered as the main digest is (sender, SMTP or outbox, lookback), or
    posted to the chat webhook whose address `webhook_env` holds, and kept
    apart from it, so that each reader gets each item once in their own."""

    name: str
    settings: DigestSettings
    webhook_env: str | None = None
    alerts: bool = False  # its readers get the alerts of its alerting topics too
    following: bool = False  # it carries the followed storylines, as the main digest does

    @property
    def label(self) -> str:
        """How messages and logs name it."""
        return f"digest {self.name}"


def digest_label(named: NamedDigest | None) -> str:
    """How messages and logs name the main digest ("digest") or a named one."""
    return "digest" if named is None else named.label


def digest_name(named: NamedDigest | None) -> str:
    """The name a digest is bookkept under: "" for the main digest."""
    return "" if named is None else named.name


@dataclass(frozen=True)
class TopicFeedSettings:
    """Atom feeds of each topic's newest matches, rewritten after every poll, for
    a feed reader to subscribe to ("tracker: air defence"). Off without a folder."""

    folder: str | None = None  # relative: from the database's folder
    items: int = 50            # newest matched items in each


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts (topics with `alert = true`, followed storylines) go: by the
    digest's email, or, with `webhook_env`, to the chat webhook whose address
    that variable holds; and how often at most (`at_most_every`, seconds; 0:
    after every poll that brings something, as it happens)."""

    webhook_env: str | None = None
    at_most_every_seconds: int = 0
    quiet_hours: tuple[time, time] | None = None  # from, until: local times of day

    def quiet_until(self, now: datetime, timezone: str) -> datetime | None:
        """When the quiet hours `now` falls in end (aware, in `timezone`), or
        None outside them. A window may cross midnight ("22:00-07:00")."""
        if self.quiet_hours is None:
            return None
        start, end = self.quiet_hours
        local = now.astimezone(ZoneInfo(timezone))
        of_day = local.time().replace(tzinfo=None)
        if not (start <= of_day < end if start < end else of_day >= start or of_day < end):
            return None
        day = local.date() if of_day < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=ZoneInfo(timezone))


@dataclass(frozen=True)
class BackupSettings:
    """The daemon's own backups: `tracker backup` on a schedule into a folder,
    keeping the newest few. Off without a folder."""

    folder: str | None = None        # relative: from the database's folder
    schedule: str = "30 3 * * *"     # cron, in the config's time zone
    keep: int = 7                    # newest dated backups kept in the folder


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path
    feeds: tuple[FeedConfig, ...]
    topics: tuple[TopicConfig, ...] = ()
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allow_private_networks: bool = False
    allow_addresses: frozenset[str] = frozenset()
    default_interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    timezone: str = "UTC"
    fetch: FetchSettings = field(default_factory=FetchSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    digests: tuple[NamedDigest, ...] = ()
    links: LinkSettings = field(default_factory=LinkSettings)
    topic_feeds: TopicFeedSettings = field(default_factory=TopicFeedSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

    @property
    def alert_topics(self) -> tuple[str, ...]:
        """The topics whose new matches are alerted after each poll (`alert = true`)."""
        return tuple(topic.name for topic in self.topics if topic.alert)

    def named_digest(self, name: str) -> NamedDigest | None:
        """The `[digests.NAME]` of that name, if the config has one."""
        return next((named for named in self.digests if named.name == name), None)

    def alert_topics_of(self, named: NamedDigest | None) -> tuple[str, ...]:
        """The alerting topics of the main alert stream (all of them), or of a
        named digest's (those among its topics)."""
        chosen = None if named is None else named.settings.topics
        return tuple(topic for topic in self.alert_topics if chosen is None or topic in chosen)


def beside_database(folder: str, db_path: Path) -> Path:
    """A folder named in the config: as written when absolute (`~` expanded),
    else taken from the database's folder, wherever the command runs from (a
    daemon under systemd runs from /)."""
    path = Path(folder).expanduser()
    return path if path.is_absolute() else db_path.parent / path


def parse_duration(value: object) -> int:
    """Seconds from `90`, `"90s"`, `"15m"`, `"1h30m"`, `"2d"`, `"1w"` or with the
    units spelled out (`"15 minutes"`, `"1 hour 30 mins"`); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"15m\", \"1h\" or a number of seconds")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return int(text)
        parts = _DURATION_PART.findall(text)
        if parts and _DURATION_PART.sub("", text).strip() == "":
            return sum(int(n) * _UNIT_SECONDS[unit[0]] for n, unit in parts)
    raise ValueError(f"{value!r} is not a duration such as \"15m\", \"1h\" or a number of seconds")


class _Locator:
    """Finds the line of a key in the TOML text, so errors can point at it.

    tomllib keeps no positions; a light scan of table headers is enough for
    the shapes this file has (`[[feeds]]`, `[topics.x]`, `[fetch]`).
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, table: str | None, index: int | None, key: str | None) -> int | None:
        """Line number of `key` inside the `index`-th `[table]` (None: top level)."""
        current: str | None = None
        seen = -1
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if header:
                current = header.group(1)
                if current == table:
                    seen += 1
                    if key is None and index in (None, seen):
                        return number
                continue
            in_scope = current == table and index in (None, seen)
            if key and in_scope and re.match(rf'^"?{re.escape(key)}"?\s*=', line):
                return number
        return None


class _Validator:
    """Walks the raw TOML dict and builds `Config`, collecting positions for errors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.locator = _Locator(text)

    def fail(
        self, where: str, message: str, table: str | None = None,
        index: int | None = None, key: str | None = None,
    ) -> ConfigError:
        line = self.locator.line_of(table, index, key)
        at = f"{self.path}, line {line}" if line else str(self.path)
        return ConfigError(f"{at}: {where}: {message}")

    def check_keys(
        self, data: dict[str, Any], allowed: set[str], where: str,
        table: str | None = None, index: int | None = None,
    ) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                known = ", ".join(sorted(allowed))
                raise self.fail(
                    where, f"unknown key '{key}'{hint} (known keys: {known})", table, index, key
                )

    def build(self, data: dict[str, Any]) -> Config:
        self.check_keys(data, _TOP_KEYS, "top level")
        allow_private = data.get("allow_private_networks", False)
        if not isinstance(allow_private, bool):
            raise self.fail("allow_private_networks", "must be true or false",
                            key="allow_private_networks")
        allow_addresses = self.addresses(data.get("allow_addresses", []))
        default_interval = self.interval(
            data.get("default_interval", DEFAULT_INTERVAL_SECONDS), "default_interval",
            None, None, "default_interval",
        )
        timezone = data.get("timezone", "UTC")
        try:
            if not isinstance(timezone, str):
                raise ZoneInfoNotFoundError
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("timezone", f"{timezone!r} is not a time zone name such as "
                            "\"Europe/London\"", key="timezone") from None
        feeds = self.feeds(data.get("feeds", []), default_interval)
        aliases = self.aliases(data.get("aliases", {}))
        topics = self.topics(data.get("topics", {}), aliases)
        fetch = self.fetch(data.get("fetch", {}))
        digest = self.digest(data.get("digest", {}), [topic.name for topic in topics])
        digests = self.named_digests(data.get("digests", {}), digest,
                                     [topic.name for topic in topics])
        links = self.links(data.get("links", {}))
        topic_feeds = self.topic_feeds(data.get("topic_feeds", {}))
        backup = self.backup(data.get("backup", {}))
        alerts = self.alerts(data.get("alerts", {}))
        return Config(
            path=self.path, feeds=feeds, topics=topics, aliases=aliases,
            allow_private_networks=allow_private,
            allow_addresses=allow_addresses,
            default_interval_seconds=default_interval, timezone=timezone, fetch=fetch,
            digest=digest, digests=digests, links=links, topic_feeds=topic_feeds, backup=backup,
            alerts=alerts,
        )

    def alerts(self, raw: object) -> AlertSettings:
        table = self.table(raw, "alerts", _ALERT_KEYS)
        every = 0
        if "at_most_every" in table:
            every = self.interval(table["at_most_every"], "alerts.at_most_every", "alerts", None,
                                  "at_most_every")
        return AlertSettings(self.webhook_env(table, "alerts"), every,
                             self.quiet_hours(table.get("quiet_hours")))

    def quiet_hours(self, value: object) -> tuple[time, time] | None:
        """`[alerts] quiet_hours = "22:00-07:00"`: two times of day, local."""
        if value is None:
            return None
        found = (re.fullmatch(r"\s*(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)\s*", value)
                 if isinstance(value, str) else None)
        numbers = [int(part) for part in found.groups()] if found else []
        if (not found or numbers[0] > 23 or numbers[2] > 23 or numbers[1] > 59
                or numbers[3] > 59 or numbers[:2] == numbers[2:]):
            raise self.fail("alerts.quiet_hours", f"{value!r} is not a span of the day: write "
                            'from-until as hours:minutes in the config\'s timezone, such as '
                            '"22:00-07:00"', "alerts", None, "quiet_hours")
        return time(numbers[0], numbers[1]), time(numbers[2], numbers[3])

    def webhook_env(self, table: dict[str, Any], where: str) -> str | None:
        """A table's `webhook_env`: the name of the environment variable that
        holds a webhook's address (a secret, never in the config itself)."""
        name = table.get("webhook_env")
        if name is not None and (not isinstance(name, str)
                                 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)):
            raise self.fail(f"{where}.webhook_env", "must name an environment variable (such "
                            "as TRACKER_ALERT_WEBHOOK) that holds the webhook's address", where,
                            None, "webhook_env")
        return name

    def backup(self, raw: object) -> BackupSettings:
        table = self.table(raw, "backup", _BACKUP_KEYS)
        schedule = self.cron(table.get("schedule", BackupSettings.schedule), "backup",
                             "30 3 * * *")
        return BackupSettings(self.folder(table, "backup"), schedule,
                              self.up_to_1000(table, "backup", "keep", BackupSettings.keep))

    def table(self, raw: object, name: str, keys: set[str]) -> dict[str, Any]:
        """An optional table of settings (`[name]`), its keys checked."""
        if not isinstance(raw, dict):
            raise self.fail(name, f"must be a table [{name}]", key=name)
        self.check_keys(raw, keys, name, name)
        return raw

    def folder(self, table: dict[str, Any], name: str) -> str | None:
        """A table's `folder`: None when not given (what it writes is off)."""
        folder = table.get("folder")
        if folder is not None and (not isinstance(folder, str) or not folder.strip()):
            raise self.fail(f"{name}.folder", "must be a folder name", name, None, "folder")
        return folder.strip() if folder else None

    def up_to_1000(self, table: dict[str, Any], name: str, key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise self.fail(f"{name}.{key}", "must be a whole number from 1 to 1000", name,
                            None, key)
        return value

    def cron(self, schedule: object, table: str, example: str) -> str:
        """A cron expression's shape (five fields); the daemon's scheduler checks the rest."""
        if not isinstance(schedule, str) or len(schedule.split()) != 5:
            raise self.fail(f"{table}.schedule", f"{schedule!r} is not a cron expression such "
                            f"as \"{example}\" (minute hour day month weekday)", table, None,
                            "schedule")
        return schedule

    def topic_feeds(self, raw: object) -> TopicFeedSettings:
        table = self.table(raw, "topic_feeds", _TOPIC_FEED_KEYS)
        return TopicFeedSettings(self.folder(table, "topic_feeds"), self.up_to_1000(
            table, "topic_feeds", "items", TopicFeedSettings.items))

    def addresses(self, raw: object) -> frozenset[str]:
        """Single private addresses allowed without opening all private networks
        (a local mirror, a test server)."""
        if not isinstance(raw, list):
            raise self.fail("allow_addresses", "must be a list of IP addresses",
                            key="allow_addresses")
        allowed = set()
        for value in raw:
            try:
                allowed.add(str(ipaddress.ip_address(str(value))))
            except ValueError:
                raise self.fail("allow_addresses", f"{value!r} is not an IP address",
                                key="allow_addresses") from None
        return frozenset(allowed)

    def duration(
        self, value: object, where: str, table: str | None, index: int | None, key: str
    ) -> int:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(where, str(exc), table, index, key) from None

    def interval(
        self, value: object, where: str, table: str | None, index: int | None, key: str
    ) -> int:
        seconds = self.duration(value, where, table, index, key)
        if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
            raise self.fail(
                where, f"{value!r} is out of range (between {MIN_INTERVAL_SECONDS}s and 7d)",
                table, index, key,
            )
        return seconds

    def feeds(self, raw: object, default_interval: int) -> tuple[FeedConfig, ...]:
        if not isinstance(raw, list):
            raise self.fail("feeds", "must be a list of [[feeds]] tables", key="feeds")
        feeds: list[FeedConfig] = []
        seen_urls: dict[str, int] = {}
        for index, table in enumerate(raw):
            where = f"feeds[{index + 1}]"
            if not isinstance(table, dict):
                raise self.fail(where, "must be a table", "feeds", index)
            if isinstance(table.get("name"), str):
                where += f" ({table['name']!r})"
            self.check_keys(table, _FEED_KEYS, where, "feeds", index)
            url = table.get("url")
            if not isinstance(url, str) or not url.strip():
                raise self.fail(where, "has no url; every feed needs url = \"https://...\"",
                                "feeds", index)
            url = url.strip()
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise self.fail(where, f"url {url!r} is not an http(s) URL", "feeds", index, "url")
            if url in seen_urls:
                raise self.fail(where, f"url {url!r} is already used by feeds[{seen_urls[url]}]",
                                "feeds", index, "url")
            seen_urls[url] = index + 1
            name = table.get("name", parts.hostname)
            if not isinstance(name, str) or not name.strip():
                raise self.fail(where, "name must be a non-empty string", "feeds", index, "name")
            kind_raw = table.get("kind", FeedKind.NEWS.value)
            try:
                kind = FeedKind(kind_raw)
            except ValueError:
                raise self.fail(where, f"kind {kind_raw!r} must be \"official\" or \"news\"",
                                "feeds", index, "kind") from None
            interval = (
                self.interval(table["interval"], where, "feeds", index, "interval")
                if "interval" in table else default_interval
            )
            paused = table.get("paused", False)
            if not isinstance(paused, bool):
                raise self.fail(where, "paused must be true or false", "feeds", index, "paused")
            feeds.append(FeedConfig(url=url, name=name.strip(), kind=kind,
                                    interval_seconds=interval, paused=paused))
        return tuple(feeds)

    def aliases(self, raw: object) -> dict[str, tuple[str, ...]]:
        """`[aliases] "Storm Shadow" = ["SCALP-EG", "SCALP"]`: other spellings of a thing."""
        if not isinstance(raw, dict):
            raise self.fail("aliases", "must be a table [aliases]", key="aliases")
        aliases = {}
        for key, value in raw.items():
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values or not all(
                    isinstance(v, str) and v.strip() for v in values):
                raise self.fail(f"aliases.{key}", "must be a string or a list of strings",
                                "aliases", None, key)
            aliases[key] = tuple(v.strip() for v in values)
        return aliases

    def topics(self, raw: object,
               aliases: Mapping[str, tuple[str, ...]]) -> tuple[TopicConfig, ...]:
        if not isinstance(raw, dict):
            raise self.fail("topics", "must be tables such as [topics.air_defence]", key="topics")
        topics = []
        for name, table in raw.items():
            where = f"topics.{name}"
            if not isinstance(table, dict):
                raise self.fail(where, "must be a table with query = \"...\"", where)
            self.check_keys(table, _TOPIC_KEYS, where, where)
            query = table.get("query")
            if not isinstance(query, str) or not query.strip():
                raise self.fail(where, "needs a non-empty query = \"...\"", where)
            try:
                parse_query(query, aliases)
            except QuerySyntaxError as exc:
                raise self.fail(where, f"query {query.strip()!r}: {exc}", where, None,
                                "query") from None
            alert = table.get("alert", False)
            if not isinstance(alert, bool):
                raise self.fail(where, "alert must be true or false", where, None, "alert")
            topics.append(TopicConfig(name=name, query=query.strip(), alert=alert))
        return tuple(topics)

    def digest(self, raw: object, topic_names: list[str]) -> DigestSettings:
        if not isinstance(raw, dict):
            raise self.fail("digest", "must be a table [digest]", key="digest")
        self.check_keys(raw, _DIGEST_KEYS, "digest", "digest")
        values = self.digest_selection(raw, "digest", DigestSettings(), topic_names)
        sender = raw.get("from", DigestSettings.sender)
        if not isinstance(sender, str) or "@" not in sender:
            raise self.fail("digest.from", "must be an e-mail address", "digest", None, "from")
        values["sender"] = sender.strip()
        for key in ("outbox", "list_unsubscribe"):
            if key in raw:
                if not isinstance(raw[key], str) or not raw[key].strip():
                    raise self.fail(f"digest.{key}", "must be a non-empty string", "digest",
                                    None, key)
                values[key] = raw[key].strip()
        if "lookback" in raw:
            values["lookback_seconds"] = self.interval(raw["lookback"], "digest.lookback",
                                                       "digest", None, "lookback")
        if "smtp" in raw:
            values["smtp"] = self.smtp(raw["smtp"])
        return DigestSettings(**values)

    def digest_selection(self, raw: dict[str, Any], where: str, base: DigestSettings,
                         topic_names: list[str]) -> dict[str, Any]:
        """What a digest reports, when and to whom (the keys a `[digests.NAME]`
        may set too), each defaulting to `base`'s."""
        values: dict[str, Any] = {}
        values["schedule"] = self.cron(raw.get("schedule", base.schedule), where, "0 7 * * *")
        include = raw.get("include", base.include)
        if include not in ("topics", "all"):
            raise self.fail(f"{where}.include", 'must be "topics" or "all"', where, None,
                            "include")
        values["include"] = include
        group = raw.get("group", base.group)
        if group not in ("topic", "storyline"):
            raise self.fail(f"{where}.group", 'must be "topic" or "storyline"', where, None,
                            "group")
        values["group"] = group
        values["topics"] = base.topics
        if "topics" in raw:
            chosen = raw["topics"]
            if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen):
                raise self.fail(f"{where}.topics", "must be a list of topic names", where, None,
                                "topics")
            unknown = [name for name in chosen if name not in topic_names]
            if unknown:
                raise self.fail(f"{where}.topics", f"{unknown[0]!r} is not a configured topic "
                                f"(configured: {', '.join(topic_names) or 'none'})", where,
                                None, "topics")
            values["topics"] = tuple(chosen)
        max_items = raw.get("max_items", base.max_items)
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise self.fail(f"{where}.max_items", "must be a positive whole number", where,
                            None, "max_items")
        values["max_items"] = max_items
        values["send_empty"] = self.flag(raw, "send_empty", where, base.send_empty)
        to = raw.get("to", list(base.to))
        to = [to] if isinstance(to, str) else to
        if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
            raise self.fail(f"{where}.to", "must be a list of e-mail addresses", where, None,
                            "to")
        values["to"] = tuple(a.strip() for a in to)
        return values

    def named_digests(self, raw: object, main: DigestSettings,
                      topic_names: list[str]) -> tuple[NamedDigest, ...]:
        """`[digests.NAME]` tables: digests for other readers, each choosing its
        topics, schedule and recipients and taking the rest from `[digest]`."""
        if not isinstance(raw, dict):
            raise self.fail("digests", "must be tables such as [digests.air_defence_desk]",
                            key="digests")
        base = replace(main, include="topics", topics=None, send_empty=False, to=())
        named = []
        for name, table in raw.items():
            where = f"digests.{name}"
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise self.fail(where, "a digest's name is letters, digits, '_' and '-'", where)
            if not isinstance(table, dict):
                raise self.fail(where, 'must be a table with to = ["reader@example.org"]', where)
            self.check_keys(table, _NAMED_DIGEST_KEYS, where, where)
            values = self.digest_selection(table, where, base, topic_names)
            webhook = self.webhook_env(table, where)
            if not values["to"] and webhook is None:
                raise self.fail(where, 'needs its readers: to = ["reader@example.org"], or '
                                'webhook_env = "VARIABLE" naming the variable that holds a '
                                "chat webhook's address", where)
            if values["to"] and webhook is not None:
                raise self.fail(where, "is sent by email (to) or to a chat webhook "
                                "(webhook_env), not both: make two digests", where)
            named.append(NamedDigest(name, replace(main, **values), webhook,
                                     self.flag(table, "alerts", where),
                                     self.flag(table, "following", where)))
        return tuple(named)

    def flag(self, table: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
        """A table's true-or-false `key` (`default` when absent)."""
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "must be true or false", where, None, key)
        return value

    def smtp(self, raw: object) -> SmtpSettings:
        if not isinstance(raw, dict):
            raise self.fail("digest.smtp", "must be a table [digest.smtp]", key="smtp")
        self.check_keys(raw, _SMTP_KEYS, "digest.smtp", "digest.smtp")
        host = raw.get("host")
        if not isinstance(host, str) or not host.strip():
            raise self.fail("digest.smtp", "needs host = \"smtp.example.org\"", "digest.smtp")
        security = raw.get("security", "starttls")
        if security not in ("starttls", "tls", "none"):
            raise self.fail("digest.smtp.security", 'must be "starttls", "tls" or "none"',
                            "digest.smtp", None, "security")
        port = raw.get("port", 465 if security == "tls" else 587)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.fail("digest.smtp.port", "must be a port number", "digest.smtp", None,
                            "port")
        names = {}
        for key in ("username_env", "password_env"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise self.fail(f"digest.smtp.{key}", "must name an environment variable",
                                "digest.smtp", None, key)
            names[key] = value
        timeout = raw.get("timeout", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise self.fail("digest.smtp.timeout", "must be a positive number of seconds",
                            "digest.smtp", None, "timeout")
        return SmtpSettings(host=host.strip(), port=port, security=security,
                            username_env=names["username_env"],
                            password_env=names["password_env"], timeout=float(timeout))

    def fetch(self, raw: object) -> FetchSettings:
        if not isinstance(raw, dict):
            raise self.fail("fetch", "must be a table [fetch]", key="fetch")
        self.check_keys(raw, _FETCH_KEYS, "fetch", "fetch")
        defaults = FetchSettings()
        values: dict[str, Any] = {}
        for key in ("timeout", "connect_timeout", "parse_timeout"):
            if key in raw:
                value = raw[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                    raise self.fail(f"fetch.{key}", "must be a positive number of seconds",
                                    "fetch", None, key)
                values[key] = float(value)
        for key in ("max_bytes", "concurrency", "per_host", "parse_memory_mb", "parse_workers"):
            if key in raw:
                value = raw[key]
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise self.fail(f"fetch.{key}", "must be a positive whole number",
                                    "fetch", None, key)
                values[key] = value
        if "user_agent" in raw:
            if not isinstance(raw["user_agent"], str) or not raw["user_agent"].strip():
                raise self.fail("fetch.user_agent", "must be a non-empty string",
                                "fetch", None, "user_agent")
            values["user_agent"] = raw["user_agent"].strip()
        if "proxy" in raw:
            values["proxy"] = self.proxy(raw["proxy"])
        return FetchSettings(**{**defaults.__dict__, **values})

    def proxy(self, value: object) -> str:
        """An HTTP(S) proxy's URL: scheme, host and port, credentials if it needs them."""
        parts = urlsplit(value.strip()) if isinstance(value, str) else None
        try:
            port = parts.port if parts else None
        except ValueError:
            port = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
                or port is None or parts.path not in ("", "/") or parts.query:
            raise self.fail("fetch.proxy", f"{value!r} is not a proxy address such as "
                            "\"http://proxy.example.org:3128\" (http or https, a host and "
                            "its port)", "fetch", None, "proxy")
        return parts.geturl()

    def links(self, raw: object) -> LinkSettings:
        """Related-story thresholds: similarities between 0 and 1, the window in days."""
        if not isinstance(raw, dict):
            raise self.fail("links", "must be a table [links]", key="links")
        self.check_keys(raw, _LINK_KEYS, "links", "links")
        values: dict[str, Any] = {}
        for key in ("threshold", "related_threshold"):
            if key in raw:
                value = raw[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not 0 < value <= 1:
                    raise self.fail(f"links.{key}", "must be a number between 0 and 1 "
                                    "(a similarity), e.g. 0.18", "links", None, key)
                values[key] = float(value)
        if "max_links" in raw:
            value = raw["max_links"]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise self.fail("links.max_links", "must be a positive whole number",
                                "links", None, "max_links")
            values["max_links"] = value
        if "window" in raw:
            seconds = self.duration(raw["window"], "links.window", "links", None, "window")
            values["window_days"] = max(1, seconds // 86400)
        settings = LinkSettings(**{**LinkSettings().__dict__, **values})
        if settings.related_threshold > settings.threshold:
            raise self.fail("links.related_threshold", "must not be above links.threshold",
                            "links", None, "related_threshold")
        return settings


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`; raise ConfigError on any problem."""
    return parse_config(read_config_text(path), path)


def read_config_text(path: Path) -> str:
    """The config file's text. UTF-8, with the byte-order mark Windows editors
    write (Notepad) read away: TOML parsers refuse it as a stray character at
    line 1, column 1, which says nothing to the person who saved the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (pass --config PATH or set "
                          "TRACKER_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                          "save the file as UTF-8") from None


def parse_config(text: str, path: Path) -> Config:
    """Validate TOML text as if it were the file at `path`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _Validator(path, text).build(data)
