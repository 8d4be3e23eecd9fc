"""Watch topics over items: match every topic at once, translate a query for
SQLite FTS5, and highlight matched words. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tracker.models import TopicConfig
from tracker.query import (
    And,
    Document,
    Field,
    Kind,
    Matcher,
    Near,
    Node,
    Not,
    Or,
    Term,
    as_typed,
    fold,
)


@dataclass(frozen=True)
class TopicHit:
    topic: str
    terms: tuple[str, ...]


Anchors = frozenset[tuple[str, str]]  # ("word" | "raw" | "prefix", text)


def anchors(node: Node) -> Anchors | None:
    """Words of which at least one must be in a document for `node` to match it;
    None when no such set exists (a query that is only NOT, kind: or feed:)."""
    if isinstance(node, Term):
        if node.prefix:
            return frozenset({("prefix", node.words[0])}) if len(node.words) == 1 else \
                frozenset({("raw", node.words[0])})
        return frozenset({("raw", node.words[0])}) if node.exact else \
            frozenset({("word", node.folded[0])})
    if isinstance(node, Or):
        parts = [anchors(op) for op in node.operands]
        return None if any(p is None for p in parts) else frozenset().union(*parts)  # type: ignore[arg-type]
    if isinstance(node, And):
        known = [p for p in (anchors(op) for op in node.operands) if p is not None]
        return min(known, key=len) if known else None
    if isinstance(node, Near):
        return anchors(And((node.left, node.right)))
    if isinstance(node, Field) and node.name in ("title", "summary"):
        return anchors(node.operand)
    return None


class TopicSet:
    """Every configured topic, parsed once; `match` tests one document against all.

    An inverted index from anchor words to topics means a document is only
    evaluated against topics that share at least one necessary word with it:
    with hundreds of topics, most are ruled out by a few dictionary lookups.
    """

    def __init__(self, topics: Iterable[TopicConfig],
                 aliases: Mapping[str, Sequence[str]] | None = None) -> None:
        self.matchers = {topic.name: Matcher(topic.query, aliases) for topic in topics}
        self.order = {name: n for n, name in enumerate(self.matchers)}
        self.by_word: dict[str, set[str]] = {}
        self.by_raw: dict[str, set[str]] = {}
        self.by_prefix: dict[str, set[str]] = {}
        self.always: set[str] = set()
        for name, matcher in self.matchers.items():
            needed = anchors(matcher.tree)
            if needed is None:
                self.always.add(name)
                continue
            for kind, text in needed:
                index = {"word": self.by_word, "raw": self.by_raw, "prefix": self.by_prefix}[kind]
                index.setdefault(text, set()).add(name)
        self.prefix_lengths = sorted({len(prefix) for prefix in self.by_prefix})

    def candidates(self, document: Document) -> list[str]:
        names = set(self.always)
        for name in ("title", "summary"):
            text = document.fields[name]
            for word in text.folded_index.keys() & self.by_word.keys():
                names |= self.by_word[word]
            for word in text.raw_index.keys() & self.by_raw.keys():
                names |= self.by_raw[word]
            for word in text.raw_index:
                for length in self.prefix_lengths:
                    if length > len(word):
                        break
                    topics = self.by_prefix.get(word[:length])
                    if topics:
                        names |= topics
        return sorted(names, key=self.order.__getitem__)

    def match(self, document: Document) -> list[TopicHit]:
        hits = []
        for name in self.candidates(document):
            result = self.matchers[name].match(document)
            if result.matched:
                hits.append(TopicHit(name, tuple(sorted(result.terms))))
        return hits


# -- FTS5 prefilter -------------------------------------------------------------


def _fts_word(word: str, exact: bool) -> str:
    """An FTS5 token that finds at least every form the matcher would accept."""
    if exact:
        return f'"{word}"'
    stem = fold(word)
    if stem.endswith("y"):
        stem = stem[:-1]  # battery / batteries
    common = next((i for i, (a, b) in enumerate(zip(stem, word, strict=False)) if a != b),
                  min(len(stem), len(word)))
    return f'"{stem[:common] or word}"*'


def fts_query(node: Node) -> str | None:
    """An FTS5 MATCH expression that selects a superset of what `node` matches,
    or None when the query cannot narrow the search (e.g. only NOT or kind:).

    The matcher then checks each candidate exactly, so FTS5 serves for speed
    and ranking without changing what matches.
    """
    if isinstance(node, Term):
        if node.prefix:
            head = [f'"{w}"' for w in node.words[:-1]]
            return " AND ".join([*head, f'"{node.words[-1]}"*'])
        if node.exact and len(node.words) > 1:
            return '"' + " ".join(node.words) + '"'
        parts = [_fts_word(w, node.exact) for w in node.words]
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
    if isinstance(node, And):
        parts = [p for p in (fts_query(op) for op in node.operands) if p is not None]
        return "(" + " AND ".join(parts) + ")" if parts else None
    if isinstance(node, Or):
        or_parts = [fts_query(op) for op in node.operands]
        if any(p is None for p in or_parts):
            return None
        return "(" + " OR ".join(p for p in or_parts if p) + ")"
    if isinstance(node, Near):
        return fts_query(And((node.left, node.right)))  # both sides present: a superset
    if isinstance(node, Field) and node.name in ("title", "summary"):
        inner = fts_query(node.operand)
        return f"{node.name} : ({inner})" if inner else None
    assert isinstance(node, Not | Field | Kind)
    return None


# -- highlighting ---------------------------------------------------------------


def highlight_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of `terms` in `text`, whole words, case-insensitive, as
    typed (terms are words as `words` reads them: "rzeszow" is "Rzeszów")."""
    spans: list[tuple[int, int]] = []
    searched = as_typed(text)  # the same length: its spans are the text's
    for term in sorted(set(terms), key=len, reverse=True):
        pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in term.split()) + r"(?!\w)"
        for match in re.finditer(pattern, searched, re.IGNORECASE):
            if not any(s < match.end() and match.start() < e for s, e in spans):
                spans.append((match.start(), match.end()))
    return sorted(spans)


def snippet(text: str, terms: Iterable[str], width: int = 200) -> tuple[str, list[tuple[int, int]]]:
    """A window of `text` around its first highlighted term, with spans shifted to it."""
    spans = highlight_spans(text, terms)
    if len(text) <= width:
        return text, spans
    start = max(0, (spans[0][0] if spans else 0) - width // 4)
    start = text.rfind(" ", 0, start) + 1 if start else 0
    window = text[start:start + width]
    prefix = "…" if start else ""
    suffix = "…" if start + width < len(text) else ""
    shifted = [(s - start + len(prefix), e - start + len(prefix)) for s, e in spans
               if s >= start and e <= start + width]
    return prefix + window + suffix, shifted


def mark(text: str, spans: list[tuple[int, int]], before: str, after: str,
         escape: Callable[[str], str] = str) -> str:
    """`text` with each span wrapped in `before`/`after`; every piece of `text`
    goes through `escape` (for rich markup or HTML), the markers do not."""
    out, last = [], 0
    for start, end in spans:
        out += [escape(text[last:start]), before, escape(text[start:end]), after]
        last = end
    out.append(escape(text[last:]))
    return "".join(out)
