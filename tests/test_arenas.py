"""The malloc arena cap: set on glibc, left to the user when they chose."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from tracker.arenas import limit_arenas


def _limit_in_child(env: dict[str, str]) -> str:
    code = "from tracker.arenas import limit_arenas; print(limit_arenas())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt arenas are glibc's")
def test_arenas_are_capped_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _limit_in_child(env) == "True"


def test_a_cap_chosen_by_the_user_is_left_alone() -> None:
    assert _limit_in_child({**os.environ, "MALLOC_ARENA_MAX": "4"}) == "False"


def test_limit_arenas_never_raises() -> None:
    assert limit_arenas() in (True, False)
