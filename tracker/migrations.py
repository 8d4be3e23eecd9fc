"""The schema's history, one sqlite-utils migration a step. Never edit a step
that has shipped; add a new one.

Statements run one by one (not `executescript`, which would commit the
migration's transaction half-way).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from tracker.query import as_typed

migrations = Migrations("tracker")


def _run(db: Database, statements: list[str]) -> None:
    for statement in statements:
        db.execute(statement)

_INITIAL = [
    # One row per feed ever configured. `config_url` is the URL as written in
    # the config (the key that ties a row to its [[feeds]] table); `url` is where
    # it is fetched from now, which a permanent redirect can change.
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        config_url TEXT NOT NULL UNIQUE,
        url TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('official', 'news')),
        interval_seconds INTEGER NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,      -- 0: no longer in the config
        added_at TEXT NOT NULL,
        title TEXT,                             -- the feed's own <title>
        etag TEXT,                              -- HTTP validators, sent back verbatim
        last_modified TEXT,
        body_hash TEXT,                         -- sha256 of the last body parsed
        last_attempt TEXT,
        last_success TEXT,
        last_status INTEGER,                    -- HTTP status of the last attempt
        last_error TEXT,                        -- short, human; NULL when healthy
        last_warning TEXT,                      -- e.g. XML read leniently
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        failing_since TEXT,
        last_not_modified INTEGER NOT NULL DEFAULT 0,
        last_bytes INTEGER,
        last_duration_ms INTEGER,
        last_new_items INTEGER,
        next_due TEXT,
        due_reason TEXT,
        gone_at TEXT,                           -- set by 410 Gone: no more polling
        redirected_from TEXT                    -- previous URL after a permanent redirect
    )
    """,
    # One row per story. Times are ISO 8601 in UTC.
    """
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feeds(id),  -- the feed it was first seen in
        guid TEXT,
        url TEXT,                    -- the link as published (http/https only)
        canonical_url TEXT,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,       -- plain text
        author TEXT,
        published TEXT,
        updated TEXT,
        first_seen TEXT NOT NULL,
        content_hash TEXT NOT NULL
    )
    """,
    "CREATE INDEX items_first_seen ON items(first_seen)",
    "CREATE INDEX items_feed ON items(feed_id)",
    # Every identity an item can be recognised by (see tracker.normalise).
    """
    CREATE TABLE item_keys (
        key TEXT PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items(id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX item_keys_item ON item_keys(item_id)",
    # Every feed an item was seen in: one story in two feeds is one item, seen twice.
    """
    CREATE TABLE item_feeds (
        item_id INTEGER NOT NULL REFERENCES items(id),
        feed_id INTEGER NOT NULL REFERENCES feeds(id),
        first_seen TEXT NOT NULL,
        PRIMARY KEY (item_id, feed_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX item_feeds_feed ON item_feeds(feed_id)",
]


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    _run(db, _INITIAL)


_HOSTS_AND_REDIRECTS = [
    # A permanent redirect moves a feed only after it has been seen this many
    # times in a row, so one misconfigured response cannot move it.
    "ALTER TABLE feeds ADD COLUMN redirect_target TEXT",
    "ALTER TABLE feeds ADD COLUMN redirect_streak INTEGER NOT NULL DEFAULT 0",
    # A host that answered 429/503 with Retry-After gets no request before then,
    # from any of its feeds.
    """
    CREATE TABLE hosts (
        host TEXT PRIMARY KEY,
        blocked_until TEXT NOT NULL,
        reason TEXT NOT NULL
    ) WITHOUT ROWID
    """,
]


@migrations(name="0002_hosts_and_redirects")
def hosts_and_redirects(db: Database) -> None:
    _run(db, _HOSTS_AND_REDIRECTS)


_TOPICS = [
    # Each configured topic; `matched_query` is the query the stored matches were
    # made with, so a changed query is visible until `tracker topics rematch`.
    """
    CREATE TABLE topics (
        name TEXT PRIMARY KEY,
        query TEXT NOT NULL,
        matched_query TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID
    """,
    # Which item matched which topic, and the words that made it match.
    """
    CREATE TABLE topic_matches (
        item_id INTEGER NOT NULL REFERENCES items(id),
        topic TEXT NOT NULL,
        terms TEXT NOT NULL,          -- JSON list of matched words and phrases
        matched_at TEXT NOT NULL,
        PRIMARY KEY (topic, item_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX topic_matches_item ON topic_matches(item_id)",
    # Full-text index over items, kept in step by triggers (external content).
    "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, content='items', "
    "content_rowid='id', tokenize='unicode61')",
    """
    CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END
    """,
    """
    CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts (items_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    END
    """,
    """
    CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary ON items BEGIN
        INSERT INTO items_fts (items_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
        INSERT INTO items_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
    END
    """,
    "INSERT INTO items_fts (items_fts) VALUES ('rebuild')",
]


@migrations(name="0003_topics_and_search")
def topics_and_search(db: Database) -> None:
    _run(db, _TOPICS)


_DAEMON = [
    # The daemon's heartbeat: one row, rewritten by the running `tracker run`.
    """
    CREATE TABLE daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        started TEXT NOT NULL,
        last_beat TEXT NOT NULL,
        stopped TEXT,                 -- set on a clean stop; NULL while running or after a crash
        last_poll TEXT,               -- the last poll cycle's summary line
        next_poll TEXT
    )
    """,
]


@migrations(name="0004_daemon_heartbeat")
def daemon_heartbeat(db: Database) -> None:
    _run(db, _DAEMON)


_DIGESTS = [
    # A digest is recorded before it is sent and marked delivered only after the
    # SMTP server accepted it; a retry reuses its Message-ID.
    """
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        created TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        subject TEXT,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        delivered_at TEXT
    )
    """,
    """
    CREATE TABLE digest_items (
        digest_id INTEGER NOT NULL REFERENCES digests(id),
        item_id INTEGER NOT NULL REFERENCES items(id),
        PRIMARY KEY (digest_id, item_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX digest_items_item ON digest_items(item_id)",
]


@migrations(name="0005_digests")
def digests(db: Database) -> None:
    _run(db, _DIGESTS)


_REVISIONS = [
    # Edited announcements: each earlier version of an item, as it was before the
    # publisher changed it (the items row always holds the newest).
    """
    CREATE TABLE item_revisions (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items(id),
        replaced_at TEXT NOT NULL,     -- when tracker saw the newer version
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        updated TEXT,
        content_hash TEXT NOT NULL
    )
    """,
    "CREATE INDEX item_revisions_item ON item_revisions(item_id)",
    "ALTER TABLE items ADD COLUMN revised_at TEXT",
    # A digest carries a version of an item: an edit after delivery is news again.
    "ALTER TABLE digest_items ADD COLUMN content_hash TEXT",
]


@migrations(name="0006_revisions")
def revisions(db: Database) -> None:
    _run(db, _REVISIONS)


@migrations(name="0007_paused_feeds")
def paused_feeds(db: Database) -> None:
    # A feed paused in the config (`paused = true`): kept, shown, not polled.
    _run(db, ["ALTER TABLE feeds ADD COLUMN paused INTEGER NOT NULL DEFAULT 0"])


_VIEWS = [
    # Friendly, stable views for people exploring the database with datasette or
    # sqlite-utils. Tables may change between versions; these views keep their columns.
    """
    CREATE VIEW stories AS
    SELECT i.id, i.title, i.url, f.name AS feed, f.kind AS feed_kind, i.published,
           i.first_seen, i.revised_at,
           (SELECT group_concat(m.topic, ', ') FROM topic_matches m WHERE m.item_id = i.id)
               AS topics,
           (SELECT group_concat(g.name, ', ') FROM item_feeds x JOIN feeds g
              ON g.id = x.feed_id WHERE x.item_id = i.id) AS seen_in,
           i.summary
    FROM items i JOIN feeds f ON f.id = i.feed_id
    """,
    """
    CREATE VIEW feed_health AS
    SELECT name, kind, url, active, paused, last_success, last_status, last_error,
           consecutive_failures, failing_since, next_due, due_reason, gone_at,
           (SELECT count(*) FROM item_feeds x WHERE x.feed_id = feeds.id) AS items
    FROM feeds
    """,
    """
    CREATE VIEW topic_hits AS
    SELECT m.topic, i.id AS item_id, i.title, i.url, f.name AS feed, i.first_seen,
           m.terms AS matched_terms
    FROM topic_matches m JOIN items i ON i.id = m.item_id JOIN feeds f ON f.id = i.feed_id
    """,
    """
    CREATE VIEW digest_history AS
    SELECT d.id, d.subject, d.status, d.created, d.delivered_at, d.attempts, d.last_error,
           (SELECT count(*) FROM digest_items x WHERE x.digest_id = d.id) AS items
    FROM digests d
    """,
]


@migrations(name="0008_friendly_views")
def friendly_views(db: Database) -> None:
    _run(db, _VIEWS)


_LINKS = [
    # How many items each folded word appears in (tracker.link's words), and how
    # many items were counted: the archive's own idf for related-story scoring.
    "CREATE TABLE term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE link_state (id INTEGER PRIMARY KEY CHECK (id = 1), documents INTEGER NOT NULL)",
    "INSERT INTO link_state (id, documents) VALUES (1, 0)",
    # Items connected by same_story / follow_up links form a storyline; its id is
    # stable (the storyline keeps the id it was created with).
    """
    CREATE TABLE storylines (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,                -- the first item's title
        first_item_id INTEGER NOT NULL REFERENCES items(id),
        official_item_id INTEGER REFERENCES items(id),  -- set once an official feed carries it
        started TEXT NOT NULL,              -- time of its first item
        updated TEXT NOT NULL,              -- time of its latest item
        size INTEGER NOT NULL DEFAULT 1
    )
    """,
    "ALTER TABLE items ADD COLUMN storyline_id INTEGER REFERENCES storylines(id)",
    "CREATE INDEX items_storyline ON items(storyline_id)",
    # A link from a newer item to an earlier one it relates to, with the evidence.
    """
    CREATE TABLE item_links (
        item_id INTEGER NOT NULL REFERENCES items(id),     -- the newer item
        related_id INTEGER NOT NULL REFERENCES items(id),  -- the earlier one
        kind TEXT NOT NULL CHECK (kind IN ('same_story', 'follow_up', 'related')),
        score REAL NOT NULL,           -- similarity after time decay
        similarity REAL NOT NULL,      -- before decay
        gap_days REAL NOT NULL,        -- time between the two (newer minus earlier)
        shared TEXT NOT NULL,          -- JSON list of the shared words that weigh most
        near_duplicate INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        PRIMARY KEY (item_id, related_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX item_links_related ON item_links(related_id)",
    """
    CREATE VIEW storyline_timeline AS
    SELECT s.id AS storyline, s.title AS storyline_title,
           s.official_item_id IS NOT NULL AS officially_announced,
           i.id AS item_id, i.title, i.url, f.name AS feed, f.kind AS feed_kind,
           coalesce(i.published, i.first_seen) AS at
    FROM storylines s JOIN items i ON i.storyline_id = s.id JOIN feeds f ON f.id = i.feed_id
    """,
]


@migrations(name="0009_links_and_storylines")
def links_and_storylines(db: Database) -> None:
    _run(db, _LINKS)


_LINK_QUEUE = [
    # New items waiting to be linked. A poll stores every feed's items first and
    # links them afterwards, oldest first, so the storylines do not depend on
    # which feed's response happened to arrive first; a crash between the two
    # leaves the queue for the next poll.
    """
    CREATE TABLE link_queue (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        at TEXT NOT NULL
    )
    """,
    "CREATE INDEX link_queue_order ON link_queue (at, item_id)",
]


@migrations(name="0010_link_queue")
def link_queue(db: Database) -> None:
    _run(db, _LINK_QUEUE)


_DATED_BY_UPDATE = [
    # An entry that gives only its update time (Atom requires `updated`, not
    # `published`; GOV.UK's feeds give only `updated`) used to be dated when
    # first seen; new ones are dated by that time (tracker.models.Item.dated).
    # Earlier ones follow, where `updated` is still the time they came with
    # (never edited) and not more than a day after they were first seen.
    """
    UPDATE items SET published = updated
    WHERE published IS NULL AND updated IS NOT NULL AND revised_at IS NULL
      AND julianday(updated) <= julianday(first_seen) + 1
    """,
    # Storylines and the link queue follow their items' dates.
    """
    UPDATE storylines SET
        started = (SELECT min(coalesce(i.published, i.first_seen)) FROM items i
                   WHERE i.storyline_id = storylines.id),
        updated = (SELECT max(coalesce(i.published, i.first_seen)) FROM items i
                   WHERE i.storyline_id = storylines.id)
    WHERE EXISTS (SELECT 1 FROM items i WHERE i.storyline_id = storylines.id)
    """,
    """
    UPDATE link_queue SET at = (SELECT coalesce(i.published, i.first_seen) FROM items i
                                WHERE i.id = link_queue.item_id)
    """,
]


@migrations(name="0011_dated_by_update")
def dated_by_update(db: Database) -> None:
    _run(db, _DATED_BY_UPDATE)


_STORYLINE_CENTROIDS = [
    # What a long storyline is about (tracker.link.Centroid), as "word weight
    # ..." text, written when an item joins a storyline of 10 or more; NULL for
    # shorter ones, and for long ones from before it existed, whose centroid is
    # worked out from their items when first needed.
    "ALTER TABLE storylines ADD COLUMN centroid TEXT",
]


@migrations(name="0012_storyline_centroids")
def storyline_centroids(db: Database) -> None:
    _run(db, _STORYLINE_CENTROIDS)


# When an item is dated: what every per-feed figure below is computed from.
_ITEM_AT = "coalesce(i.published, i.first_seen)"
_OLD_AT, _NEW_AT = ("coalesce(old.published, old.first_seen)",
                    "coalesce(new.published, new.first_seen)")


def _feed_dates(edge: str) -> str:
    """The newest ("max") or oldest ("min") date of a feed's items, worked out."""
    return (f"(SELECT {edge}({_ITEM_AT}) FROM item_feeds x JOIN items i ON i.id = x.item_id "
            "WHERE x.feed_id = feed_counts.feed_id)")


_FEED_COUNTS = [
    # Each feed's item count and its newest and oldest item's dates, kept up to
    # date by the triggers below as items are stored, so that `tracker status`
    # and the digest read one row per feed instead of every item of the archive
    # (1.1 s at a million items). An item's date rarely changes (an item first
    # seen in news takes the date an official feed gives it); that, and a
    # deletion, may work out the feed's dates again.
    """
    CREATE TABLE feed_counts (
        feed_id INTEGER PRIMARY KEY REFERENCES feeds(id),
        items INTEGER NOT NULL,
        newest TEXT NOT NULL,
        oldest TEXT NOT NULL
    )
    """,
    f"""
    INSERT INTO feed_counts (feed_id, items, newest, oldest)
    SELECT x.feed_id, count(*), max({_ITEM_AT}), min({_ITEM_AT})
    FROM item_feeds x JOIN items i ON i.id = x.item_id GROUP BY x.feed_id
    """,
    f"""
    CREATE TRIGGER feed_counts_insert AFTER INSERT ON item_feeds BEGIN
        INSERT INTO feed_counts (feed_id, items, newest, oldest)
        SELECT new.feed_id, 1, {_ITEM_AT}, {_ITEM_AT} FROM items i WHERE i.id = new.item_id
        ON CONFLICT (feed_id) DO UPDATE SET items = items + 1,
            newest = max(newest, excluded.newest), oldest = min(oldest, excluded.oldest);
    END
    """,
    f"""
    CREATE TRIGGER feed_counts_delete AFTER DELETE ON item_feeds BEGIN
        DELETE FROM feed_counts WHERE feed_id = old.feed_id AND items <= 1;
        UPDATE feed_counts SET items = items - 1, newest = {_feed_dates("max")},
            oldest = {_feed_dates("min")}
        WHERE feed_id = old.feed_id;
    END
    """,
    # A new date beyond a feed's newest (or oldest) is its newest (oldest); an
    # old date that was not the feed's newest (oldest) leaves it so. Only when
    # the item was the feed's newest or oldest are its items read again (0.3 s
    # for a feed of a million items).
    f"""
    CREATE TRIGGER feed_counts_redate AFTER UPDATE OF published, first_seen ON items
    WHEN {_OLD_AT} IS NOT {_NEW_AT}
    BEGIN
        UPDATE feed_counts SET
            newest = CASE WHEN {_NEW_AT} >= newest THEN {_NEW_AT}
                          WHEN {_OLD_AT} < newest THEN newest
                          ELSE {_feed_dates("max")} END,
            oldest = CASE WHEN {_NEW_AT} <= oldest THEN {_NEW_AT}
                          WHEN {_OLD_AT} > oldest THEN oldest
                          ELSE {_feed_dates("min")} END
        WHERE feed_id IN (SELECT feed_id FROM item_feeds WHERE item_id = new.id);
    END
    """,
    # The friendly view keeps its columns, and counts through the same table.
    "DROP VIEW feed_health",
    """
    CREATE VIEW feed_health AS
    SELECT name, kind, url, active, paused, last_success, last_status, last_error,
           consecutive_failures, failing_since, next_due, due_reason, gone_at,
           coalesce((SELECT c.items FROM feed_counts c WHERE c.feed_id = feeds.id), 0) AS items
    FROM feeds
    """,
]


@migrations(name="0013_feed_counts")
def feed_counts(db: Database) -> None:
    _run(db, _FEED_COUNTS)


_PLAIN_APOSTROPHES = [
    # Linking reads a typeset apostrophe as the typed one (tracker.query.
    # as_typed): word counts kept under "o’brien" are merged into
    # "o'brien", and storylines' centroids spell their words the new way, so
    # that an archive linked before keeps its statistics.
    """
    INSERT INTO term_df (term, df)
    SELECT replace(replace(term, '’', ''''), '‘', ''''), sum(df) FROM term_df
    WHERE term GLOB '*[’‘]*' GROUP BY 1
    ON CONFLICT (term) DO UPDATE SET df = df + excluded.df
    """,
    "DELETE FROM term_df WHERE term GLOB '*[’‘]*'",
    """
    UPDATE storylines SET centroid = replace(replace(centroid, '’', ''''), '‘', '''')
    WHERE centroid GLOB '*[’‘]*'
    """,
]


@migrations(name="0014_plain_apostrophes")
def plain_apostrophes(db: Database) -> None:
    _run(db, _PLAIN_APOSTROPHES)


@migrations(name="0015_words_as_typed")
def words_as_typed(db: Database) -> None:
    """Linking reads words as typed (tracker.query.as_typed): word counts kept
    under "rzeszów" join those of "rzeszow" (as 0014 did for apostrophes), and
    storylines' centroids are respelt, so that an archive linked before keeps
    its statistics instead of counting those words again from nothing."""
    conn = db.conn
    respelt = [(term, as_typed(term), df) for term, df in conn.execute(
        "SELECT term, df FROM term_df WHERE term GLOB '*[^ -~]*'") if as_typed(term) != term]
    conn.executemany("DELETE FROM term_df WHERE term = ?", [(term,) for term, _, _ in respelt])
    conn.executemany("INSERT INTO term_df (term, df) VALUES (?, ?) "
                     "ON CONFLICT (term) DO UPDATE SET df = df + excluded.df",
                     [(typed, df) for _, typed, df in respelt])
    conn.executemany("UPDATE storylines SET centroid = ? WHERE id = ?", [
        (as_typed(centroid), storyline) for storyline, centroid in conn.execute(
            "SELECT id, centroid FROM storylines WHERE centroid GLOB '*[^ -~]*'").fetchall()])


@migrations(name="0016_backup_state")
def backup_state(db: Database) -> None:
    """The last backup (`tracker backup`, or the daemon's), and the last failure
    if one came after it, for `tracker status`."""
    _run(db, ["""
    CREATE TABLE backup_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_ok TEXT,        -- when the last good backup was written
        path TEXT,           -- where
        items INTEGER,       -- how many items it holds
        failed TEXT,         -- when a backup failed since the last good one (else NULL)
        error TEXT           -- and why
    )
    """])


@migrations(name="0017_alerts")
def alerts(db: Database) -> None:
    """Alerts (a topic's new matches emailed after the poll that stored them)
    are kept as digests are, recorded before sending and marked delivered after:
    `kind` tells the two apart, and an item alerted is still in the next digest."""
    _run(db, [
        "ALTER TABLE digests ADD COLUMN kind TEXT NOT NULL DEFAULT 'digest' "
        "CHECK (kind IN ('digest', 'alert'))",
        "DROP VIEW digest_history",
        """
        CREATE VIEW digest_history AS
        SELECT d.id, d.kind, d.subject, d.status, d.created, d.delivered_at, d.attempts,
               d.last_error,
               (SELECT count(*) FROM digest_items x WHERE x.digest_id = d.id) AS items
        FROM digests d
        """,
    ])


@migrations(name="0018_stars")
def stars(db: Database) -> None:
    """Items a person starred (`tracker star`), with a note: what to come back
    to, for a brief or a report."""
    _run(db, ["""
    CREATE TABLE stars (
        item_id INTEGER PRIMARY KEY REFERENCES items(id),
        starred_at TEXT NOT NULL,
        note TEXT
    )
    """, "CREATE INDEX stars_starred_at ON stars(starred_at)"])


@migrations(name="0019_named_digests")
def named_digests(db: Database) -> None:
    """Digests for other readers (`[digests.NAME]`) are kept as the main one
    is, each apart: `name` says whose ('' for the main digest and alerts), and
    an item one of them carried is still due in the others."""
    _run(db, [
        "ALTER TABLE digests ADD COLUMN name TEXT NOT NULL DEFAULT ''",
        "DROP VIEW digest_history",
        """
        CREATE VIEW digest_history AS
        SELECT d.id, d.kind, d.name, d.subject, d.status, d.created, d.delivered_at,
               d.attempts, d.last_error,
               (SELECT count(*) FROM digest_items x WHERE x.digest_id = d.id) AS items
        FROM digests d
        """,
    ])


@migrations(name="0020_follows")
def follows(db: Database) -> None:
    """Storylines a person follows (`tracker follow`): each new item that joins
    one is alerted after the poll that linked it and leads the digest."""
    _run(db, ["""
    CREATE TABLE follows (
        storyline_id INTEGER PRIMARY KEY REFERENCES storylines(id),
        followed_at TEXT NOT NULL,
        newest_item_id INTEGER NOT NULL,  -- the newest item stored then: what came after is new
        note TEXT
    )
    """])


@migrations(name="0021_mutes")
def mutes(db: Database) -> None:
    """Storylines a person muted (`tracker mute`): their new items stay in the
    archive and in search, and out of digests and alerts."""
    _run(db, ["""
    CREATE TABLE mutes (
        storyline_id INTEGER PRIMARY KEY REFERENCES storylines(id),
        muted_at TEXT NOT NULL,
        note TEXT
    )
    """])
