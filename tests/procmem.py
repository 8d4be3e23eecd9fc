"""Peak memory of a process tree, sampled from /proc.

`ru_maxrss` from wait4 cannot be used: Linux keeps a process's high-water RSS
across exec, so a child forked from a large parent (pytest, the benchmark
driver) reports the parent's size. VmHWM in /proc/PID/status belongs to the
new program only. The sum over the tree's processes is an upper bound of the
tree's simultaneous peak (a poll's parser processes peak while it fetches, the
poll itself later, while linking); the largest sampled sum of VmRSS is a
close lower bound of it.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple


class TreeMemory(NamedTuple):
    """A process tree's peak memory in MB, two ways (see the module's docstring)."""

    upper: float         # each process's own peak (VmHWM), summed
    simultaneous: float  # the largest sum of the processes' VmRSS at one sample
    own: float           # the started process's own peak, its children left out


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def status_kib(pid: int, field: str) -> int:
    """A memory field of /proc/PID/status (VmHWM, VmRSS ...) in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_with_peak_memory(args: list[str], interval: float = 0.02,
                         **popen: object) -> tuple[subprocess.CompletedProcess[str], TreeMemory]:
    """Run `args`; return the completed process and its tree's peak memory.

    Output goes to temporary files, not pipes: nobody reads a pipe while the
    tree is sampled, and a full pipe would block a chatty child for ever.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True,
                                   **popen)  # type: ignore[call-overload]
        peaks: dict[int, int] = {}
        simultaneous = 0
        while process.poll() is None:
            tree = [process.pid]
            for pid in tree:
                tree.extend(children(pid))
            for pid in tree:
                peaks[pid] = max(peaks.get(pid, 0), status_kib(pid, "VmHWM"))
            simultaneous = max(simultaneous, sum(status_kib(pid, "VmRSS") for pid in tree))
            time.sleep(interval)
        out.seek(0)
        err.seek(0)
        completed = subprocess.CompletedProcess(args, process.returncode, out.read(), err.read())
    return completed, TreeMemory(sum(peaks.values()) / 1024, simultaneous / 1024,
                                 peaks.get(process.pid, 0) / 1024)
