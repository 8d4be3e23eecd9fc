"""An item's topics and the feeds it was seen in as JSON columns of a query,
and decoding them: for the queries that return whole items (`Store.item`,
`Deliveries.undelivered`)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

# An item's topics as a JSON list of {name, terms}, for queries that return items.
TOPICS_JSON = """(SELECT json_group_array(json_object('name', m.topic, 'terms', json(m.terms)))
                      FROM topic_matches m WHERE m.item_id = i.id) AS topics"""


def with_json(row: sqlite3.Row) -> dict[str, Any]:
    """A row whose `seen_in` and `topics` columns hold JSON, decoded."""
    record = dict(row)
    record["seen_in"] = json.loads(record["seen_in"])
    record["topics"] = json.loads(record["topics"])
    return record
