"""The topic query language: parser, error messages, evaluator, and a property
test against a plain reference implementation."""

from __future__ import annotations

import itertools
import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.models import TopicConfig
from tracker.query import _AS_TYPED, Document, Matcher, QuerySyntaxError, fold, words
from tracker.topics import TopicSet, fts_query, highlight_spans, mark, snippet

DOC = Document.of(
    title="UK to mass-produce Ukrainian-designed interceptor drones",
    summary=("The Ministry of Defence said F-35 jets and Storm Shadow/SCALP missiles will be "
             "joined by “Octopus” interceptors. Donato’s batteries were not involved."),
    feed="GOV.UK: Ministry of Defence", kind="official",
)


def matches(query: str, doc: Document = DOC, **aliases: list[str]) -> bool:
    return Matcher(query, {k.replace("_", " "): v for k, v in aliases.items()}).match(doc).matched


@pytest.mark.parametrize(("query", "expected"), [
    ("drone", True),                      # plural folding
    ("DRONES", True),                     # case
    ("interceptor", True),
    ("UK", True),
    ("NATO", False),                      # 'Donato' is not NATO
    ("Ukraine", False),                   # 'Ukrainian' is another word
    ("Ukrainian", True),
    ("donato", True),                     # possessive folded
    ("battery", True),                    # batteries
    ('"interceptor drones"', True),
    ('"interceptor drone"', False),       # exact phrases are exact
    ("“interceptor drones”", True),       # curly quotes
    ("F-35", True),
    ('"Storm Shadow"', True),
    ("SCALP", True),
    ("drone*", True),
    ("interc*", True),
    ("dron", False),
    ("drone missiles", True),             # implicit AND
    ("drone AND tanks", False),
    ("tanks OR drones", True),
    ("drone -missile", False),
    ("drone NOT tanks", True),
    ("title:drone", True),
    ("title:missile", False),
    ("summary:missile", True),
    ('feed:"GOV.UK"', True),
    ("feed:BBC", False),
    ("kind:official", True),
    ("kind:news", False),
    ("interceptor NEAR/2 drones", True),
    ("jets NEAR/2 interceptors", False),
    ("(jets OR tanks) NEAR/3 F-35", True),
    ("air defence OR missile drones", True),       # (air AND defence) OR (missile AND drones)
    ("(air OR Ministry) defence", True),
    ('"interceptors Donato’s"', False),   # a phrase stops at the end of a sentence
    ("interceptors NEAR/1 Donato", True),  # nearness does not
])
def test_evaluation(query: str, expected: bool) -> None:
    assert matches(query) is expected


def test_precedence_and_binds_tighter_than_or() -> None:
    doc = Document.of("missile defence review", "")
    assert matches("air defence OR missile defence", doc)
    assert not matches("air defence OR tank", doc)


def test_aliases_expand_inside_queries() -> None:
    doc = Document.of("SCALP-EG delivered", "")
    assert matches('"Storm Shadow" delivered', doc, Storm_Shadow=["SCALP-EG", "SCALP"])
    assert not matches('"Storm Shadow" delivered', doc)
    doc = Document.of("Ministry of Defence statement", "")
    assert matches("MoD statement", doc, MoD=["Ministry of Defence"])


def test_matched_terms_are_reported_as_written() -> None:
    result = Matcher("drone OR interceptor* OR -tank").match(DOC)
    assert result.matched and {"drones", "interceptor", "interceptors"} <= result.terms


@pytest.mark.parametrize(("query", "message", "position"), [
    ("(drone OR uav", "expected ')' to close the '(' opened at position 1", 14),
    ('"air defence', "unclosed quote", 1),
    ("drone OR", "unexpected end of the query: expected a word", 9),
    ("author:smith", "unknown field 'author:'", 1),
    ("kind:blog", "kind: takes official or news", 6),
    ("drone )", "unmatched ')'", 7),
    ("", "empty query", 1),
    ("()", "empty parentheses", 2),
    ("a NEAR/3 (b c)", "NEAR/n joins two words", 3),
    ("%%", "has no letters or digits", 1),
])
def test_syntax_errors_say_where_and_what(query: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        Matcher(query)
    assert message in str(info.value)
    assert str(info.value).endswith(f"at position {position}")


@pytest.mark.parametrize(("query", "text", "expected"), [
    ('"air defence"', 'There is a "whiff of Munich in the air", Defence Secretary Ben Wallace '
     "says.", False),
    ('"air defence"', "Air defence: Patriot batteries arrive", True),
    ("air-defence", "It flew into the air; defence officials saw it", False),
    ("air-defence", "new air-defence systems", True),
    ('"Defence Secretary"', "Wallace, the Defence Secretary, said", True),
    # where the phrase itself stops, the text may
    ('"U.S. Army"', "The U.S. Army said", True),
    ('"2.5 per cent"', "Spending rises to 2.5 per cent of GDP", True),
    ('"1,000 troops"', "It sent 1,000 troops.", True),
    ('"5 per"', "Spending rises to 2.5 per cent", True),
    ('"army said"', "The U.S. Army. Said", False),
])
def test_a_phrase_runs_within_a_sentence_or_clause(query: str, text: str,
                                                   expected: bool) -> None:
    assert matches(query, Document.of("", text)) is expected


def test_fold_and_words() -> None:
    assert [fold(w) for w in ("drones", "batteries", "boxes", "ukraine's", "class", "bus",
                              "missiles", "is")] == [
        "drone", "battery", "box", "ukraine", "class", "bus", "missile", "is"]
    assert words("F-35A Storm Shadow/SCALP Ukraine’s") == [
        "f", "35a", "storm", "shadow", "scalp", "ukraine's"]


@pytest.mark.parametrize("written", ["O’Brien won’t", "O'Brien won't", "O‘Brien won‘t"])
@pytest.mark.parametrize("query", ["O'Brien", "O’Brien", "\"won't\"", "title:o’brien*"])
def test_an_apostrophe_is_one_however_it_is_typeset(written: str, query: str) -> None:
    # Sites print the typographic apostrophe; people type the plain one.
    doc = Document.of(title=f"{written} send jets", summary="", feed="MoD", kind="official")
    assert Matcher(query, {}).match(doc).matched


@pytest.mark.parametrize(("written", "query"), [
    ("Jets scrambled from Rzeszów", "rzeszow"), ("Jets scrambled from Rzeszow", "Rzeszów"),
    ("Sébastien Lecornu visits Türkiye", '"sebastien lecornu" turkiye'),
    ("Erdoğan meets Świdwin crews", "erdogan AND swidwin*"),
])
def test_a_latin_letter_matches_without_its_diacritic(written: str, query: str) -> None:
    doc = Document.of(title=written, summary="", feed="NATO", kind="official")
    assert Matcher(query, {}).match(doc).matched


def test_letters_without_a_plain_form_are_left_alone() -> None:
    # As the full-text index leaves them: Ł and ø decompose to no base letter,
    # Cyrillic й is a letter of its own.
    assert words("Łask Møller Київ пʼять") == ["łask", "møller", "київ", "пʼять"]


def test_the_full_text_index_folds_every_letter_as_the_matcher_does() -> None:
    # tracker.topics.fts_query narrows a search through the index before the
    # matcher decides: the index must find every spelling the matcher accepts.
    folded = {chr(code): base for code, base in _AS_TYPED.items() if base != "'"}
    assert len(folded) > 300
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61')")
    conn.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)",
                     [(ord(letter), f"q{letter}q") for letter in folded])
    for letter, base in folded.items():
        found = conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (f"q{base}q",)).fetchall()
        assert (ord(letter),) in found, letter


def test_highlighting_finds_a_word_as_typed() -> None:
    text = "Mr O’Brien said the UK won't fly from Rzeszów."
    spans = highlight_spans(text, ["o'brien", "won't", "rzeszow"])
    assert [text[s:e] for s, e in spans] == ["O’Brien", "won't", "Rzeszów"]


def test_fts_translation_is_a_superset_form() -> None:
    assert fts_query(Matcher("drones").tree) == '"drone"*'
    assert fts_query(Matcher("batteries").tree) == '"batter"*'
    assert fts_query(Matcher('"air defence" -exercise').tree) == '("air defence")'
    assert fts_query(Matcher("title:(a OR b*)").tree) == 'title : (("a"* OR "b"*))'
    assert fts_query(Matcher("-drone").tree) is None
    assert fts_query(Matcher("kind:official OR drone").tree) is None


def test_highlighting_and_snippets() -> None:
    text = "Patriot batteries and IRIS-T; the Patriot system."
    spans = highlight_spans(text, ["patriot", "batteries"])
    assert [text[s:e] for s, e in spans] == ["Patriot", "batteries", "Patriot"]
    assert mark("a <b> c", [(2, 5)], "[", "]", lambda t: t.replace("<", "&lt;")) == \
        "a [&lt;b>] c"
    long = "filler " * 100 + "Patriot here" + " tail" * 100
    window, shifted = snippet(long, ["patriot"], width=80)
    assert window.startswith("…") and window.endswith("…")
    assert [window[s:e] for s, e in shifted] == ["Patriot"]


# -- property test against a reference implementation ------------------------------

VOCAB = ["drone", "drones", "nato", "uk", "ukraine", "air", "defence", "patriot", "missile"]


@st.composite
def query_trees(draw: st.DrawFn, depth: int = 0) -> tuple[str, object]:
    """(query text, tree for the reference evaluator)."""
    choice = draw(st.integers(-1, 5 if depth < 3 else 1))
    if choice == -1:
        stem = draw(st.sampled_from(VOCAB))[:draw(st.integers(1, 4))]
        return f"{stem}*", ("prefix", stem)
    if choice == 0:
        word = draw(st.sampled_from(VOCAB))
        return word, ("word", word)
    if choice == 1:
        a, b = draw(st.sampled_from(VOCAB)), draw(st.sampled_from(VOCAB))
        return f'"{a} {b}"', ("phrase", (a, b))
    left, left_tree = draw(query_trees(depth + 1))
    right, right_tree = draw(query_trees(depth + 1))
    if choice == 2:
        return f"({left} {right})", ("and", left_tree, right_tree)
    if choice == 3:
        return f"({left} OR {right})", ("or", left_tree, right_tree)
    if choice == 4:
        return f"({left} -{right})", ("and", left_tree, ("not", right_tree))
    word = draw(st.sampled_from(VOCAB))
    return f"(title:{word} OR {left})", ("or", ("title", word), left_tree)


def reference(tree: object, title: list[str], summary: list[str]) -> bool:
    """Plain semantics over each field's tokens (words, and the "." "," ":" that
    end a stretch no phrase runs across): scan lists of lower-case words; plural
    folding by fold()."""
    kind = tree[0]  # type: ignore[index]
    if kind == "not":
        return not reference(tree[1], title, summary)  # type: ignore[index]
    if kind in ("and", "or"):
        left = reference(tree[1], title, summary)  # type: ignore[index]
        right = reference(tree[2], title, summary)  # type: ignore[index]
        return left and right if kind == "and" else left or right
    if kind == "phrase":
        a, b = tree[1]  # type: ignore[index]
        return any(x == a and y == b for field in (title, summary)
                   for stretch in re.split("[.,:]", " ".join(field))
                   for x, y in itertools.pairwise(words(stretch)))
    in_title, anywhere = words(" ".join(title)), words(" ".join(title + summary))
    if kind == "word":
        return any(fold(w) == fold(tree[1]) for w in anywhere)  # type: ignore[index]
    if kind == "prefix":
        return any(w.startswith(tree[1]) for w in anywhere)  # type: ignore[index]
    assert kind == "title"
    return any(fold(w) == fold(tree[1]) for w in in_title)  # type: ignore[index]


@settings(max_examples=400, deadline=None)
@given(query_trees(), st.lists(st.sampled_from([*VOCAB, "the", "Drones", "NATO’s", ":"]),
                               max_size=8),
       st.lists(st.sampled_from([*VOCAB, "and", "UK's", ".", ","]), max_size=12))
def test_matcher_agrees_with_the_reference(tree: tuple[str, object], title: list[str],
                                           summary: list[str]) -> None:
    query, reference_tree = tree
    doc = Document.of(" ".join(title), " ".join(summary))
    expected = reference(reference_tree, title, summary)
    assert Matcher(query).match(doc).matched is expected, query
    # The prefiltered topic set must agree with evaluating every topic.
    topic_set = TopicSet([TopicConfig("t", query)])
    assert bool(topic_set.match(doc)) is expected
