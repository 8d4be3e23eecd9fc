"""How counts read in English, for every message a person reads: a new
install has one of most things ("1 feed", "1 recipient"), and "1 feeds"
reads as a bug."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """"1 feed", "2 feeds" (nouns whose plural adds an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
