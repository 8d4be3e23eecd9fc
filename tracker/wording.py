"""How counts and spans of time read, for every message a person reads: a new
install has one of most things ("1 feed", "1 recipient"), and "1 feeds"
reads as a bug; a span reads as the config spells it ("15m", not "900s")."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """"1 feed", "2 feeds" (nouns whose plural adds an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def span(seconds: int) -> str:
    """A duration as the config would spell it: 90 -> "90s", 900 -> "15m", 7200 -> "2h"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
