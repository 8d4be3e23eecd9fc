"""The watch-topic query language: parse once, evaluate against an item, explain a hit.

Pure. The language is the one people know from Google Alerts, Talkwalker and
FreshRSS:

    drone                   a word; case-insensitive, whole words only (UK never
                            matches Ukraine), plurals folded (drone = drones)
    "air defence"           an exact phrase (words in order, no plural folding,
                            within a sentence or clause: not "... in the air.
                            Defence ...")
    drone*                  a prefix (drone, drones, droneshield ...)
    a b / a AND b           both (AND is implicit)
    a OR b                  either
    -a / NOT a              not
    ( ... )                 grouping
    title:x summary:x       only in that field (default: title and summary)
    feed:x                  the feed's name contains the word or phrase x
    kind:official|news      the feed's kind
    a NEAR/5 b              a and b within 5 words of each other

Precedence, tightest first: NOT, NEAR, AND, OR — so `air defence OR missile
defence` means `(air AND defence) OR (missile AND defence)`.

Plural folding (not full stemming) keeps matches predictable: `drones` →
`drone`, `missiles` → `missile`, `batteries` → `battery`, `Ukraine's` →
`ukraine`; "exact phrases" compare the words as written, without folding.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from tracker.memo import Memo

FIELDS = ("title", "summary", "feed", "kind")
KINDS = ("official", "news")
QUOTES = "\"“”„«»"  # straight, curly and guillemet quotes all delimit phrases
_WORD = re.compile(r"\w+(?:'\w+)*")
# A word, or punctuation that ends a sentence or a clause: a phrase does not
# run across it ("whiff of Munich in the air", Defence Secretary Ben Wallace
# says" is no "air defence"), unless the phrase itself does (U.S. Army, 2.5 per cent).
_STOPS = ".!?;:,"
_WORD_OR_STOP = re.compile(r"\w+(?:'\w+)*|[" + re.escape(_STOPS) + "]")


def _latin_base_letters() -> dict[int, str]:
    """Each Latin letter with one diacritic, to its base letter: "ó" to "o", "ğ"
    to "g", "Ś" to "S". Exactly what SQLite's full-text index (unicode61,
    remove_diacritics 1) folds in these blocks, so that its look-ups still find
    every item a query matches (tested); letters with two diacritics, and "ł",
    "ø", which decompose to none, are left as they are, there as here."""
    table = {}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        decomposed = unicodedata.normalize("NFD", chr(code))
        if (len(decomposed) == 2 and decomposed[0].isascii() and decomposed[0].isalpha()
                and unicodedata.combining(decomposed[1])):
            table[code] = decomposed[0]
    return table


# Words are compared as people type them. Sites print "O’Brien", "won’t" (the
# typographic apostrophe, and ‘ set by mistake), "Rzeszów", "Türkiye" and
# "Sébastien Lecornu"; people type O'Brien, Rzeszow, Turkiye. (The modifier
# letter ʼ is a letter, to this module as to the full-text index.)
_AS_TYPED = str.maketrans({ord("’"): "'", ord("‘"): "'", **_latin_base_letters()})


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is a 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position + 1}")
        self.position = position


# -- text ------------------------------------------------------------------


def fold(word: str) -> str:
    """The comparison form of one lower-case word: possessive and plural removed."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_folded = Memo(fold, 8192)  # every word of every item is folded: see `tracker.memo`


def as_typed(text: str) -> str:
    """The text with plain apostrophes and Latin letters without their diacritic,
    one character for one: offsets in it are offsets in `text`."""
    return text.translate(_AS_TYPED)


def words(text: str) -> list[str]:
    """Lower-case words of a text, Unicode-aware, as typed (`as_typed`);
    punctuation separates words, an apostrophe inside a word does not."""
    return _WORD.findall(_typed(text))


def words_and_stops(text: str) -> tuple[list[str], frozenset[int]]:
    """`words(text)`, and the positions of those that follow punctuation ending
    a sentence or a clause (. ! ? ; : ,), where a phrase stops."""
    return _words_and_stops(_typed(text))


def _words_and_stops(typed: str) -> tuple[list[str], frozenset[int]]:
    found: list[str] = []
    stops = set()
    stopped = False
    for token in _WORD_OR_STOP.findall(typed):
        if len(token) == 1 and token in _STOPS:
            stopped = True
            continue
        if stopped and found:
            stops.add(len(found))
        stopped = False
        found.append(token)
    return found, frozenset(stops)


def _typed(text: str) -> str:
    return as_typed(unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class FieldText:
    """One field of an item, tokenised and indexed once for all topics, so that
    each word of each query is a dictionary lookup rather than a scan."""

    raw: tuple[str, ...]
    folded: tuple[str, ...]
    raw_index: Mapping[str, list[int]]
    folded_index: Mapping[str, list[int]]
    typed: str  # the text as its words were read from it

    @classmethod
    def of(cls, text: str) -> FieldText:
        typed = _typed(text)
        raw = tuple(_WORD.findall(typed))
        folded = tuple(map(_folded.__getitem__, raw))
        raw_index: dict[str, list[int]] = {}
        folded_index: dict[str, list[int]] = {}
        for position, (word, stem) in enumerate(zip(raw, folded, strict=True)):
            raw_index.setdefault(word, []).append(position)
            folded_index.setdefault(stem, []).append(position)
        return cls(raw, folded, raw_index, folded_index, typed)

    @cached_property
    def stops(self) -> frozenset[int]:
        """The words after the end of a sentence or clause (`words_and_stops`):
        read only when a phrase is found, which most items never need."""
        return _words_and_stops(self.typed)[1]


@dataclass(frozen=True)
class Document:
    """An item as the matcher sees it."""

    fields: Mapping[str, FieldText]
    kind: str

    @classmethod
    def of(cls, title: str, summary: str, feed: str = "", kind: str = "news") -> Document:
        return cls({"title": FieldText.of(title), "summary": FieldText.of(summary),
                    "feed": FieldText.of(feed)}, kind)


# -- syntax tree -----------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A word, a phrase (several words) or a prefix; `exact` skips plural folding.
    `stops`: the places in a phrase where its own text ends a sentence or clause
    ("U.S. Army": after "s"), the only places a matching text may."""

    words: tuple[str, ...]
    exact: bool = False
    prefix: bool = False
    stops: frozenset[int] = frozenset()

    @cached_property
    def folded(self) -> tuple[str, ...]:
        return tuple(fold(w) for w in self.words)

    def text(self) -> str:
        joined = " ".join(self.words)
        if self.prefix:
            return joined + "*"
        return f'"{joined}"' if self.exact or len(self.words) > 1 else joined


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int


@dataclass(frozen=True)
class Field:
    name: str
    operand: Node


@dataclass(frozen=True)
class Kind:
    kind: str


Node = Term | Not | And | Or | Near | Field | Kind


# -- parsing ---------------------------------------------------------------


@dataclass
class _Token:
    kind: str  # WORD PHRASE LPAREN RPAREN OR AND NOT NEAR FIELD MINUS END
    value: str
    position: int


_NEAR = re.compile(r"NEAR/(\d+)")
_FIELD = re.compile(r"([A-Za-z]+):(?=\S)")
_BARE = re.compile(r"[^\s()" + QUOTES + r"]+")


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token("LPAREN" if char == "(" else "RPAREN", char, i))
            i += 1
        elif char in QUOTES:
            end = next((j for j in range(i + 1, len(query)) if query[j] in QUOTES), -1)
            if end < 0:
                raise QuerySyntaxError("unclosed quote: expected a closing \"", i)
            tokens.append(_Token("PHRASE", query[i + 1:end], i))
            i = end + 1
        elif char == "-" and i + 1 < len(query) and not query[i + 1].isspace() and (
                not tokens or query[i - 1].isspace() or query[i - 1] == "("):
            tokens.append(_Token("MINUS", "-", i))
            i += 1
        elif (match := _FIELD.match(query, i)) and (i == 0 or not query[i - 1].isalnum()):
            tokens.append(_Token("FIELD", match.group(1).lower(), i))
            i = match.end()
        else:
            match = _BARE.match(query, i)
            assert match is not None
            value = match.group(0)
            if value in ("OR", "AND", "NOT"):
                tokens.append(_Token(value, value, i))
            elif near := _NEAR.fullmatch(value):
                tokens.append(_Token("NEAR", near.group(1), i))
            else:
                tokens.append(_Token("WORD", value, i))
            i = match.end()
    tokens.append(_Token("END", "", len(query)))
    return tokens


class _Parser:
    def __init__(self, query: str, aliases: Mapping[str, Sequence[str]]) -> None:
        self.query = query
        self.tokens = _tokens(query)
        self.index = 0
        self.aliases = {" ".join(words(key)): tuple(values) for key, values in aliases.items()}

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def parse(self) -> Node:
        if self.current.kind == "END":
            raise QuerySyntaxError("empty query: expected a word or \"phrase\"", 0)
        node = self.or_expr()
        if self.current.kind != "END":
            token = self.current
            expected = "an operator or the end of the query"
            if token.kind == "RPAREN":
                raise QuerySyntaxError("unmatched ')'", token.position)
            raise QuerySyntaxError(f"unexpected {token.value!r}: expected {expected}",
                                   token.position)
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.current.kind == "OR":
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.unary()]
        while self.current.kind not in ("OR", "RPAREN", "END"):
            if self.current.kind == "AND":
                self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        if self.current.kind in ("NOT", "MINUS"):
            self.take()
            return Not(self.unary())
        return self.near()

    def near(self) -> Node:
        node = self.primary()
        while self.current.kind == "NEAR":
            token = self.take()
            right = self.primary()
            for side in (node, right):
                if not near_terms(side):
                    raise QuerySyntaxError("NEAR/n joins two words, phrases or (a OR b) "
                                           "groups of them", token.position)
            node = Near(node, right, int(token.value))
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "LPAREN":
            if self.current.kind == "RPAREN":
                raise QuerySyntaxError("empty parentheses: expected a word or \"phrase\"",
                                       self.current.position)
            node = self.or_expr()
            if self.current.kind != "RPAREN":
                raise QuerySyntaxError("expected ')' to close the '(' opened at position "
                                       f"{token.position + 1}", self.current.position)
            self.take()
            return node
        if token.kind == "FIELD":
            return self.field(token)
        if token.kind in ("WORD", "PHRASE"):
            return self.term(token)
        what = "end of the query" if token.kind == "END" else repr(token.value)
        raise QuerySyntaxError(f"unexpected {what}: expected a word or \"phrase\"",
                               token.position)

    def field(self, token: _Token) -> Node:
        if token.value not in FIELDS:
            raise QuerySyntaxError(f"unknown field '{token.value}:' (known: "
                                   f"{', '.join(f + ':' for f in FIELDS)})", token.position)
        if token.value == "kind":
            value = self.take()
            if value.kind != "WORD" or value.value.lower() not in KINDS:
                raise QuerySyntaxError("kind: takes official or news", value.position)
            return Kind(value.value.lower())
        if self.current.kind in ("END", "RPAREN", "OR"):
            raise QuerySyntaxError(f"expected a word, \"phrase\" or (group) after "
                                   f"'{token.value}:'", self.current.position)
        return Field(token.value, self.primary())

    def term(self, token: _Token) -> Node:
        prefix = token.kind == "WORD" and token.value.endswith("*")
        text = token.value.rstrip("*") if prefix else token.value
        found, stops = words_and_stops(text)
        parts = tuple(found)
        if not parts:
            raise QuerySyntaxError(f"{token.value!r} has no letters or digits to match",
                                   token.position)
        exact = token.kind == "PHRASE"
        node: Node = Term(parts, exact=exact, prefix=prefix, stops=stops)
        alias_values = self.aliases.get(" ".join(parts))
        if alias_values and not prefix:
            alternatives: list[Node] = [node]
            for alias in alias_values:
                alias_found, alias_stops = words_and_stops(alias)
                if alias_found:
                    alternatives.append(Term(tuple(alias_found), exact=len(alias_found) > 1,
                                             stops=alias_stops))
            node = Or(tuple(alternatives))
        return node


def near_terms(node: Node) -> list[Term]:
    """The terms a NEAR operand stands for: a term, or an OR of terms; [] otherwise."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Or):
        parts = [near_terms(op) for op in node.operands]
        return [t for part in parts for t in part] if all(parts) else []
    return []


def parse_query(query: str, aliases: Mapping[str, Sequence[str]] | None = None) -> Node:
    """Parse `query`, expanding `aliases`; QuerySyntaxError says where and what was expected."""
    return _Parser(query, aliases or {}).parse()


# -- evaluation ------------------------------------------------------------


@dataclass
class Match:
    """Whether a document matched, and the words that made it match (for highlighting)."""

    matched: bool
    terms: set[str] = field(default_factory=set)


def _positions(term: Term, text: FieldText) -> list[int]:
    """Start positions of `term` in one field."""
    n = len(term.words)
    if term.prefix:
        head, last = term.words[:-1], term.words[-1]
        return [i for i in range(len(text.raw) - n + 1)
                if text.raw[i + n - 1].startswith(last) and text.raw[i:i + n - 1] == head
                and _unbroken(term, text, i)]
    if term.exact:
        target, tokens, index = term.words, text.raw, text.raw_index
    else:
        target, tokens, index = term.folded, text.folded, text.folded_index
    starts = index.get(target[0], [])
    if n == 1:
        return starts
    return [i for i in starts if tokens[i:i + n] == target and _unbroken(term, text, i)]


def _unbroken(term: Term, text: FieldText, start: int) -> bool:
    """Whether the words of a phrase found at `start` run on within one sentence
    or clause of the text, except where the phrase itself stops."""
    return not any(start + k in text.stops and k not in term.stops
                   for k in range(1, len(term.words)))


class Matcher:
    """A parsed query, ready to test documents. Build once, use for every item."""

    def __init__(self, query: str, aliases: Mapping[str, Sequence[str]] | None = None) -> None:
        self.query = query
        self.tree = parse_query(query, aliases)

    def match(self, document: Document) -> Match:
        terms: set[str] = set()
        matched = self._eval(self.tree, document, ("title", "summary"), terms)
        return Match(matched, terms if matched else set())

    def _eval(self, node: Node, doc: Document, scope: tuple[str, ...], terms: set[str]) -> bool:
        if isinstance(node, Term):
            hit = False
            for name in scope:
                text = doc.fields[name]
                for start in _positions(node, text):
                    hit = True
                    terms.add(" ".join(text.raw[start:start + len(node.words)]))
            return hit
        if isinstance(node, And):
            return all([self._eval(op, doc, scope, terms) for op in node.operands])
        if isinstance(node, Or):
            return any([self._eval(op, doc, scope, terms) for op in node.operands])
        if isinstance(node, Not):
            return not self._eval(node.operand, doc, scope, set())
        if isinstance(node, Field):
            return self._eval(node.operand, doc, (node.name,), terms)
        if isinstance(node, Kind):
            return doc.kind == node.kind
        assert isinstance(node, Near)
        hit = False
        for name in scope:
            text = doc.fields[name]
            lefts = [(p, len(t.words)) for t in near_terms(node.left) for p in _positions(t, text)]
            rights = [(p, len(t.words)) for t in near_terms(node.right)
                      for p in _positions(t, text)]
            for a, a_len in lefts:
                for b, b_len in rights:
                    if abs(a - b) <= node.distance:
                        hit = True
                        terms.add(" ".join(text.raw[a:a + a_len]))
                        terms.add(" ".join(text.raw[b:b + b_len]))
        return hit
