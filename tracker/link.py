"""Related-story scoring: which earlier items a new item continues, and how.

Pure. The store hands over the new item, a short list of candidate earlier
items (found through the full-text index) and the archive's document
frequencies; this module decides, and explains, each link.

The method is lexical and deterministic, chosen by measurement on labelled
news (see `bench/README.md`, "Linking quality"):

* an item is the bag of its content words, plurals and possessives folded
  (`drones` = `drone`), stop words dropped, title words counted twice (a
  headline says what the story is), capitalised words inside a sentence
  (names: Patriot, Rheinmetall, Kharkiv) weighted 1.25;
* words are weighted by sublinear tf x idf, idf from the archive itself, so a
  word every item uses (Ukraine, in 2022) says little and a rare name says much;
* two items are compared by cosine similarity, divided by `1 + days / 120`
  for the time between them: a similar story three years earlier is less
  likely the same thread than one from last week;
* a new item joins the storyline of its best-scoring earlier item when that
  score reaches the threshold (one number, in config); it is `same_story` when
  the two were published within two days and say much the same, otherwise a
  `follow_up`. Weaker similarities are kept as `related` links, which do not
  join storylines, when the two share a name or more than one word: one
  ordinary word in common ("dies", "fans") is a coincidence of two short
  texts, not a subject;
* an item must also fit the storyline it joins: share something with its
  first item (a round-up's same story may be another story's), and a
  follow-up, in a storyline of ten items or more, be close to their `Centroid`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from tracker.memo import Memo
from tracker.query import as_typed, fold

SAME_STORY = "same_story"
FOLLOW_UP = "follow_up"
RELATED = "related"
STORYLINE_KINDS = (SAME_STORY, FOLLOW_UP)

TITLE_WEIGHT = 2.0       # a title word counts as two body words
NAME_WEIGHT = 1.25       # a capitalised word inside a sentence
DECAY_DAYS = 120.0       # similarity halves after this many days between two items
SAME_STORY_DAYS = 2.0    # reports of one event published this close together ...
SAME_STORY_SIMILARITY = 0.3  # ... and this similar (before decay) are the same story
NEAR_DUPLICATE = 0.8     # republished copy with small edits
STORYLINE_START_SIMILARITY = 0.05  # an item must share this much with the story's start
STORYLINE_SIMILARITY = 0.3  # ... and, in a long storyline, be this close to its centroid
CENTROID_TERMS = 40      # words kept of a storyline's centroid
QUERY_TERMS = 12         # the item's strongest words used to find candidates
SHARED_SHOWN = 8         # shared words kept as evidence

_WORD = re.compile(r"\w+(?:['’]\w+)*")
# A word at the start of the text, or after a sentence's end and spaces only.
_SENTENCE_START = re.compile(r"(?:\A|[.!?:\"“])\s*(\w+(?:['’]\w+)*)")

_STOP_WORDS_TEXT = """
a about above after again against ago all almost also am among an and another any are aren't
around as at away back be became because become been before being below between both but by
can can't cannot could couldn't did didn't do does doesn't doing don't done down during each
either else even ever every few for from further get gets getting got had hadn't has hasn't
have haven't having he he'd he'll he's her here here's hers herself him himself his how how's
however i i'd i'll i'm i've if in into is isn't it it's its itself just last least less let
let's like made make makes many may me might more most much must mustn't my myself near need
never new next no nor not now of off often on once one only or other others ought our ours
ourselves out over own per put rather really said same say says see seen shall shan't she
she'd she'll she's should shouldn't since so some still such take than that that's the their
theirs them themselves then there there's these they they'd they'll they're they've this
those though through thus to too took two under until up upon us very via was wasn't way we
we'd we'll we're we've well were weren't what what's when when's where where's whether which
while who who's whom whose why why's will with within without won't would wouldn't yet you
you'd you'll you're you've your yours yourself yourselves mr mrs ms year years week weeks day
days today yesterday tomorrow time times
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


# What weighing needs of an item: its terms, and each term's weight before idf
# (sublinear tf, times NAME_WEIGHT for a name). Kept, not recomputed: an earlier
# item is weighed again for every new item that finds it.
Words = tuple[tuple[str, ...], tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class Profile:
    """What an item says, as weighted words: each folded word in `terms` with its
    count in `counts` (title words count double), the words that appeared as
    names, each word's spellings (only a new item's are needed, to look it up)
    and each word's weight before idf (`factors`; with `terms`, the `words`
    weighing needs).

    Parallel tuples rather than dicts: a pass keeps thousands of items' words,
    and tuples of shared strings and numbers take a third of the memory."""

    terms: tuple[str, ...]
    counts: tuple[float, ...]
    names: frozenset[str]
    surfaces: Mapping[str, AbstractSet[str]]
    factors: tuple[float, ...]

    @property
    def words(self) -> Words:
        return self.terms, self.factors

    def count(self, term: str) -> float:
        """The weighted count of `term` (0 if the item does not use it)."""
        try:
            return self.counts[self.terms.index(term)]
        except ValueError:
            return 0.0


def _word_counts(text: str) -> tuple[Counter[str], Counter[str]]:
    """How often each word occurs, and how often as the first word of a sentence
    (where a capital says nothing). Counted by the regex engine, not word by word
    in Python: an item's text is read once per poll and may be thousands of words."""
    return Counter(_WORD.findall(text)), Counter(_SENTENCE_START.findall(text))


def _content_word(word: str) -> str | None:
    """The folded form of a content word, as typed (`as_typed`: "António" is
    "antonio", as the word index reads it); None for a stop word ("don’t" is
    "don't", however its apostrophe is typeset)."""
    lower = as_typed(word.lower())
    folded = fold(lower)
    if lower in STOP_WORDS or folded in STOP_WORDS or len(folded) < 2:
        return None
    return folded


MEMO_WORDS = 8192  # words whose content form is remembered (see `tracker.memo`)
_content_words = Memo(_content_word, MEMO_WORDS)


def _headline_case(title: str) -> bool:
    """Title Case Headlines capitalise every word: capitals say nothing there."""
    words = [w for w in _WORD.findall(title) if w.lower() not in STOP_WORDS]
    return bool(words) and sum(w[0].isupper() for w in words) > 0.6 * len(words)


def profile(title: str, summary: str) -> Profile:
    """The weighted words of an item's title and summary."""
    counts: dict[str, float] = {}
    names: set[str] = set()
    surfaces: dict[str, set[str]] = {}
    title_names = not _headline_case(title)
    for text, weight, names_count in ((summary, 1.0, True), (title, TITLE_WEIGHT, title_names)):
        occurrences, sentence_starts = _word_counts(text)
        for word, count in occurrences.items():
            folded = _content_words[word]
            if folded is None:
                continue
            counts[folded] = counts.get(folded, 0.0) + weight * count
            surfaces.setdefault(folded, set()).add(word.lower())
            if names_count and word[0].isupper() and count > sentence_starts[word]:
                names.add(folded)
    terms = tuple(counts)
    factors = tuple([_shared_number(_sublinear(count) * (NAME_WEIGHT if term in names else 1.0))
                     for term, count in counts.items()])
    return Profile(terms=terms, counts=tuple(map(_shared_number, counts.values())),
                   names=frozenset(names), surfaces=surfaces, factors=factors)


_NUMBERS: dict[float, float] = {}


def _shared_number(value: float) -> float:
    """One object per distinct value (counts and factors are a few small numbers)."""
    return _NUMBERS.setdefault(value, value)


def _sublinear(count: float) -> float:
    return 1.0 + math.log(count)


@dataclass(frozen=True, slots=True)
class Idf:
    """Smoothed inverse document frequency, log((N + 1) / (df + 1)) + 1, under
    fixed statistics, split as `base` - log(df + 1) with `base` = log(N + 1) + 1:
    a word's own part changes only when its count does, so a linking pass keeps
    those parts up to date word by word instead of working out a logarithm for
    every word of every candidate (millions on a first poll). A word counted 0
    times is taken as counted once. `weigh` applies it."""

    base: float
    log_frequencies: Mapping[str, float]

    @classmethod
    def of(cls, documents: int, frequencies: Mapping[str, int]) -> Idf:
        return cls(documents_base(documents),
                   {term: log_frequency(df) for term, df in frequencies.items()})


def documents_base(documents: int) -> float:
    return math.log(documents + 1) + 1.0


def log_frequency(frequency: int) -> float:
    """log(df + 1), one shared object per value for the counts most words have:
    a pass keeps one for every word it has seen (tens of thousands)."""
    if frequency < _SMALL_COUNTS:
        return _SMALL_LOGS[frequency]
    return math.log(frequency + 1)


_SMALL_COUNTS = 4096
_SMALL_LOGS = [math.log(max(frequency, 1) + 1) for frequency in range(_SMALL_COUNTS)]


Weights = dict[str, float]


def _tf_idf(item: Words, inverse: Idf) -> list[float]:
    """Each of the item's words' tf-idf, in the order of its terms, not normalised."""
    terms, factors = item
    base, logs = inverse.base, inverse.log_frequencies
    return [factor * (base - logs[term]) for term, factor in zip(terms, factors, strict=True)]


def weigh(item: Words, inverse: Idf) -> Weights:
    """Unit-length tf-idf vector of an item's words."""
    terms = item[0]
    raw = _tf_idf(item, inverse)
    norm = math.sqrt(sum([value * value for value in raw])) or 1.0
    return dict(zip(terms, [value / norm for value in raw], strict=True))


def cosine(a: Weights, b: Weights) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b[term] for term, value in a.items() if term in b)


def similarity(weights: Weights, other: Words, inverse: Idf) -> float:
    """`cosine(weights, weigh(other, inverse))` without building the other
    item's weights: only its norm and the shared words' products are needed,
    and a new item is compared with dozens of candidates."""
    raw = _tf_idf(other, inverse)
    shared = [weights[term] * value for term, value in zip(other[0], raw, strict=True)
              if term in weights]
    return sum(shared) / (math.hypot(*raw) or 1.0)


def written_forms(term: str) -> set[str]:
    """The index words a folded term may appear as (`drone`: drone, drones;
    `battery`: batteries), for exact look-ups in the word index: a prefix
    search (`drone*`) reads every word that starts alike and costs far more.
    Only forms that fold back to the term: "loss" is not a plural of "los"
    (Los Angeles), nor "his" of "hi"."""
    forms = {term + "s"}
    if term.endswith(("ch", "sh", "ss", "x", "z")):
        forms.add(term + "es")
    if term.endswith("y"):
        forms.add(term[:-1] + "ies")
    return {term} | {form for form in forms if fold(form) == term}


def strongest_terms(weights: Weights, limit: int = QUERY_TERMS) -> list[str]:
    """The item's strongest words: those its candidates are looked up by."""
    return sorted(weights, key=lambda term: (-weights[term], term))[:limit]


def query_terms(item: Profile, weights: Weights,
                limit: int = QUERY_TERMS) -> list[tuple[str, list[str]]]:
    """The item's strongest words, each with the forms to look it up by in the
    word index: its own spellings in this item and the regular plurals of its
    folded form."""
    return [(term, sorted(written_forms(term) | item.surfaces.get(term, frozenset())))
            for term in strongest_terms(weights, limit)]


@dataclass(slots=True)
class Candidate:
    """An earlier item that might be related: what weighing needs of its words
    (`terms` and `factors`, see `Profile`), its time (published, or first seen
    when the feed gave no date) and its storyline. A linking pass keeps these
    for the items it has linked or read, and keeps `storyline_id` current as it
    puts items into storylines, instead of reading them again for every new
    item that finds them."""

    id: int
    terms: tuple[str, ...]
    factors: tuple[float, ...]
    at: datetime
    storyline_id: int | None

    @property
    def words(self) -> Words:
        return self.terms, self.factors


@dataclass(frozen=True, slots=True)
class Centroid:
    """What a storyline is about: the sum of its items' unit tf-idf vectors, each
    weighed when it joined, cut to the `CENTROID_TERMS` strongest words.

    A follow-up joins a long storyline only if it is close enough to this as
    well as to the item it follows. Storylines grow by single links, so without
    it one broad story swallows a season of coverage (448 of 7,067 items of
    2022 news in one "Ukraine crisis" storyline, January to July, although each
    shared something with its first item). An item close to the centroid is
    close to what many of the storyline's items say, not only to its latest
    turn."""

    terms: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> Centroid:
        strongest = sorted(weights.items(), key=lambda pair: (-pair[1], pair[0]))
        kept = strongest[:CENTROID_TERMS]
        return cls(tuple(term for term, _ in kept), tuple(weight for _, weight in kept))

    def added(self, weights: Weights) -> Centroid:
        """This centroid with one more item's weights."""
        total = dict(zip(self.terms, self.weights, strict=True))
        for term, weight in weights.items():
            total[term] = total.get(term, 0.0) + weight
        return Centroid.of(total)

    def similarity(self, weights: Weights) -> float:
        """Cosine between an item's unit weights and this centroid."""
        dot = sum([weights.get(term, 0.0) * weight
                   for term, weight in zip(self.terms, self.weights, strict=True)])
        return dot / (math.hypot(*self.weights) or 1.0)


@dataclass(frozen=True)
class LinkSettings:
    """The thresholds of linking; `threshold` is the one to tune."""

    threshold: float = 0.18          # decayed similarity that joins a storyline
    related_threshold: float = 0.12  # decayed similarity kept as a `related` link
    max_links: int = 5               # links kept per new item
    window_days: int = 365           # how far back candidates are looked for


@dataclass(frozen=True)
class ScoredLink:
    """A link from a new item to an earlier one, with its evidence."""

    related_id: int
    kind: str
    score: float           # similarity after time decay: what thresholds compare
    similarity: float      # before decay
    gap_days: float        # new item's time minus the earlier one's
    shared: tuple[str, ...]
    near_duplicate: bool
    storyline_id: int | None


def decay(gap_days: float) -> float:
    return 1.0 / (1.0 + abs(gap_days) / DECAY_DAYS)


def spelled(terms: Iterable[str], items: Iterable[Profile]) -> list[str]:
    """Folded words as the items write them, for people to read: "charles" for
    the folded "charle", "troops" where the items say troops. Each is its
    spelling in the most items (ties: the shorter, then the first
    alphabetically); a word the items do not use stays as it is."""
    used: dict[str, Counter[str]] = {}
    for item in items:
        for term, surfaces in item.surfaces.items():
            used.setdefault(term, Counter()).update(surfaces)
    out = []
    for term in terms:
        counts = used.get(term)
        out.append(min(counts, key=lambda form: (-counts[form], len(form), form))
                   if counts else term)
    return out


def shared_terms(a: Weights, b: Weights, limit: int = SHARED_SHOWN) -> tuple[str, ...]:
    """The words that contribute most to the similarity of two items."""
    common = sorted((term for term in a if term in b), key=lambda t: (-a[t] * b[t], t))
    return tuple(common[:limit])


def kind_of(score: float, similarity: float, gap_days: float,
            settings: LinkSettings) -> str | None:
    if score >= settings.threshold:
        close = abs(gap_days) <= SAME_STORY_DAYS
        return SAME_STORY if close and similarity >= SAME_STORY_SIMILARITY else FOLLOW_UP
    if score >= settings.related_threshold:
        return RELATED
    return None


def shares_a_subject(weights: Weights, terms: Iterable[str], names: AbstractSet[str]) -> bool:
    """Whether a weak link says something: the two items share a name of the
    new item's or more than one word. Measured on the labelled news, `related`
    links sharing one ordinary word were right 3 times in 10 ("'Nightingale of
    Bollywood' dies at 92" and "Woman in her 30s dies in Shoreditch bus crash")."""
    shared = weights.keys() & terms
    return len(shared) > 1 or not shared.isdisjoint(names)


def score_links(weights: Weights, at: datetime, candidates: Iterable[Candidate],
                inverse: Idf, settings: LinkSettings,
                names: AbstractSet[str] = frozenset()) -> list[ScoredLink]:
    """Links from a new item (its weights, its time, the words it uses as
    `names`) to candidate earlier items (their words weighed under `inverse`),
    strongest first, at most `settings.max_links`, `related` ones included
    where they share a subject (`shares_a_subject`)."""
    scored = []
    for candidate in candidates:
        similar = similarity(weights, candidate.words, inverse)
        gap = (at - candidate.at).total_seconds() / 86400
        score = similar * decay(gap)
        kind = kind_of(score, similar, gap, settings)
        if kind == RELATED and not shares_a_subject(weights, candidate.terms, names):
            kind = None
        if kind is not None:
            scored.append((round(score, 4), candidate, kind, similar, gap))
    scored.sort(key=lambda entry: (-entry[0], entry[1].id))
    return [ScoredLink(related_id=candidate.id, kind=kind, score=score,
                       similarity=round(similar, 4), gap_days=round(gap, 2),
                       shared=shared_terms(weights, weigh(candidate.words, inverse)),
                       near_duplicate=similar >= NEAR_DUPLICATE,
                       storyline_id=candidate.storyline_id)
            for score, candidate, kind, similar, gap in scored[:settings.max_links]]
