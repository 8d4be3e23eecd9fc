"""Where and with what a result was measured, written into every results file:
figures from different machines, days or versions are only comparable as
ratios measured in one run, and a reader needs to know which is which."""

from __future__ import annotations

import os
import platform
import pyexpat
import sqlite3
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

PACKAGES = ("tracker", "feedparser", "httpx", "sqlite-utils", "reader", "rss2email")


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance() -> dict[str, Any]:
    """The date (UTC), the machine and the versions that matter to the figures."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "versions": {"sqlite": sqlite3.sqlite_version, "expat": pyexpat.EXPAT_VERSION,
                     **{name: version(name) for name in PACKAGES}},
    }
