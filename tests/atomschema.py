"""Atom validation for tests: RFC 4287's RELAX NG grammar plus its Schematron rules."""

from __future__ import annotations

import functools
from pathlib import Path

import rnc2rng
from lxml import etree

ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}


@functools.cache
def atom_schema() -> etree.RelaxNG:
    """RFC 4287's own RELAX NG grammar, compiled for lxml (libxml2)."""
    grammar = rnc2rng.dumps(rnc2rng.load(str(Path(__file__).parent / "schemas" / "atom.rnc")))
    # rnc2rng declares the RFC's `local = ""` prefix, which XML forbids; the
    # grammar refers to that namespace through nsName ns="" and needs no prefix.
    grammar = grammar.replace('xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(grammar.encode()))


def assert_valid_atom(document: str) -> None:
    """Validate against the grammar and the RFC's two Schematron rules."""
    root = etree.fromstring(document.encode())
    schema = atom_schema()
    assert schema.validate(root), schema.error_log
    entries = root.findall("a:entry", ATOM_NS)
    assert root.find("a:author", ATOM_NS) is not None or all(
        entry.find("a:author", ATOM_NS) is not None for entry in entries)
    for entry in entries:
        alternates = [link for link in entry.findall("a:link", ATOM_NS)
                      if link.get("rel", "alternate") == "alternate"]
        assert entry.find("a:content", ATOM_NS) is not None or alternates, \
            "an entry needs content or an alternate link"
        assert len(alternates) <= 1, "at most one alternate link per type and language"
