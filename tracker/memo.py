"""A bounded memo of a pure function of one word.

Tokenising news text calls the same small functions (folding a plural,
deciding whether a word is a content word) on the same few thousand words
over and over. A plain dict, emptied when it reaches its size, is quicker
than the function and than `functools.lru_cache`, whose per-entry list node
costs more memory than the words themselves; news vocabulary repeats enough
that starting afresh now and then costs little (measured on a first poll of
7,067 items).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """`memo[key]` is `function(key)`, remembered until `size` keys are held."""

    def __init__(self, function: Callable[[K], V], size: int) -> None:
        super().__init__()
        self.function = function
        self.size = size

    def __missing__(self, key: K) -> V:
        if len(self) >= self.size:
            self.clear()
        value = self[key] = self.function(key)
        return value
