"""The benchmark's memory measure of a process tree (tests/procmem.py)."""

from __future__ import annotations

import sys

from tests.procmem import run_with_peak_memory

# A parent that holds 60 MB, lets it go, then runs a child that holds 60 MB:
# each peaks at 60 MB or more, but never both at once.
ONE_AFTER_THE_OTHER = """
import subprocess, sys, time
held = bytearray(60_000_000); time.sleep(0.3); del held
subprocess.run([sys.executable, "-c",
                "import time; held = bytearray(60_000_000); time.sleep(0.3)"], check=True)
"""


def test_a_tree_whose_processes_peak_in_turn() -> None:
    completed, memory = run_with_peak_memory([sys.executable, "-c", ONE_AFTER_THE_OTHER])
    assert completed.returncode == 0, completed.stderr
    assert memory.upper >= 120  # both processes' own peaks
    assert 60 <= memory.simultaneous < memory.upper - 40  # never both at once
    assert 60 <= memory.own < memory.upper - 40  # the parent's peak alone
