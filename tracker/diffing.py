"""Word-level differences between two versions of an edited announcement. Pure."""

from __future__ import annotations

import difflib
import re

_TOKEN = re.compile(r"\S+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) runs: op is "=" (kept), "-" (removed) or "+" (added)."""
    before, after = _TOKEN.findall(old), _TOKEN.findall(new)
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("=", " ".join(before[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("-", " ".join(before[i1:i2])))
        if j2 > j1:
            runs.append(("+", " ".join(after[j1:j2])))
    return runs


def render_diff(runs: list[tuple[str, str]], context: int = 6) -> str:
    """`[-removed-] {+added+}` with long unchanged stretches shortened."""
    parts = []
    for op, text in runs:
        if op == "-":
            parts.append(f"[-{text}-]")
        elif op == "+":
            parts.append(f"{{+{text}+}}")
        else:
            words = text.split()
            if len(words) > 2 * context:
                text = " ".join(words[:context]) + " … " + " ".join(words[-context:])
            parts.append(text)
    return " ".join(parts)


def changes_only(runs: list[tuple[str, str]], limit: int = 240) -> str:
    """Just what changed, for a digest line: `removed → added; ...`."""
    pieces: list[str] = []
    pending_removed = ""
    for op, text in runs:
        if op == "-":
            pending_removed = text
        elif op == "+":
            pieces.append(f"“{pending_removed}” → “{text}”" if pending_removed else f"+“{text}”")
            pending_removed = ""
        else:
            if pending_removed:
                pieces.append(f"−“{pending_removed}”")
            pending_removed = ""
    if pending_removed:
        pieces.append(f"−“{pending_removed}”")
    summary = "; ".join(pieces)
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"
