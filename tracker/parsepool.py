"""Parse feed documents: the common well-formed ones in-process with lxml
(`tracker.fastparse`), the rest in worker processes bounded in time and memory.

`tracker.parse` already refuses the pathologies we know of (entity bombs,
feedparser's quadratic author regex). This pool bounds the ones we do not:
each worker has an address-space limit (RLIMIT_AS), and a parse that runs past
its deadline is ended by killing that one worker, so a pathological document
ends as a recorded error on its feed, never a stuck or bloated daemon. The other
workers, and the parses they are running, are untouched.

Workers are plain `python -m tracker.parsepool` processes spoken to over
pipes (length-prefixed pickles): started once and reused, independent of how
the parent was launched, and never forked from the threaded daemon.
"""

from __future__ import annotations

import os
import pickle
import queue
import resource
import select
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO

from tracker.errors import ParseError
from tracker.fastparse import parse_fast
from tracker.models import Item, ParsedFeed
from tracker.normalise import normalise_feed
from tracker.parse import parse_feed

STARTUP_SECONDS = 30.0
# Larger documents are parsed in a worker even when well-formed, under its memory
# limit: a parsed tree takes several times the document's size. News feeds weigh
# 30-250 KB.
IN_PROCESS_MAX_BYTES = 2 << 20


@dataclass(frozen=True)
class ParseOutput:
    """What the service needs of a parsed document: its items and a few facts."""

    title: str | None
    warning: str | None
    ttl_seconds: int | None
    items: tuple[Item, ...]


def parse_document(content: bytes, headers: dict[str, str], feed_scope: str) -> ParseOutput:
    """Parse and normalise one document (in whichever process calls it)."""
    return _output(parse_fast(content, headers) or parse_feed(content, headers), feed_scope)


def _output(parsed: ParsedFeed, feed_scope: str) -> ParseOutput:
    return ParseOutput(parsed.title, parsed.warning, parsed.ttl_seconds,
                       tuple(normalise_feed(parsed, feed_scope)))


def _address_space_in_use() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(8)
    if len(header) < 8:
        return None
    size = struct.unpack(">Q", header)[0]
    data = stream.read(size)
    return data if len(data) == size else None


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def worker_main(extra_memory: int) -> None:
    """A worker's loop over stdin/stdout: receive a document, send back
    ("ok", output) or ("error", text). Runs as `python -m tracker.parsepool`."""
    limit = _address_space_in_use() + extra_memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    _write_frame(sink, pickle.dumps(("ready", None)))
    while (frame := _read_frame(source)) is not None:
        try:
            # Only documents the fast path declined (or too large for it) come here.
            content, headers, feed_scope = pickle.loads(frame)
            reply: tuple[str, object] = ("ok", _output(parse_feed(content, headers), feed_scope))
        except ParseError as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("error", f"refused: parsing needed more than {extra_memory >> 20} MB of "
                              "memory (fetch.parse_memory_mb)")
        except Exception as exc:  # any other parser failure belongs to this document only
            reply = ("error", f"the feed parser failed: {type(exc).__name__}: {exc}"[:300])
        try:
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload = pickle.dumps(("error", "refused: the parsed feed is too large"))
        _write_frame(sink, payload)


class _Worker:
    """One parser process, spoken to over its stdin and stdout."""

    def __init__(self, extra_memory: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker.parsepool", str(extra_memory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        if self._receive(STARTUP_SECONDS) != ("ready", None):
            self.kill()
            raise OSError("the parser process did not start")

    def _receive(self, timeout: float) -> tuple[str, object]:
        ready, _, _ = select.select([self.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        frame = _read_frame(self.stdout)
        if frame is None:
            raise EOFError("no reply")
        status, value = pickle.loads(frame)
        return str(status), value

    def request(self, task: tuple[bytes, dict[str, str], str],
                timeout: float) -> tuple[str, object]:
        """Send one document and wait for the answer; TimeoutError past `timeout`."""
        _write_frame(self.stdin, pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
        return self._receive(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        self.stdin.close()
        self.stdout.close()

    def stop(self) -> None:
        try:
            self.stdin.close()
            self.process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)
        self.stdout.close()


class ParserPool:
    """A few parser processes shared by the fetch threads, started on first use."""

    def __init__(self, workers: int, timeout: float, memory_mb: int) -> None:
        self.size = max(1, workers)
        self.timeout = timeout
        self.extra_memory = memory_mb << 20
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._all: list[_Worker] = []
        self._closed = False

    def _spawn(self) -> _Worker:
        worker = _Worker(self.extra_memory)
        with self._lock:
            self._all.append(worker)
        return worker

    def _acquire(self) -> _Worker:
        with self._lock:
            grow = self._started < self.size
            if grow:
                self._started += 1
        return self._spawn() if grow else self._idle.get()

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and put a fresh one in its place."""
        worker.kill()
        with self._lock:
            self._all.remove(worker)
        if not self._closed:
            self._idle.put(self._spawn())

    def parse(self, content: bytes, headers: dict[str, str], feed_scope: str) -> ParseOutput:
        """Parse a well-formed document of a kind `tracker.fastparse` reads here, in
        this thread (libxml2 is linear and bounded); anything else in a worker.
        ParseError on a bad document, a timeout or a dead worker."""
        fast = parse_fast(content, headers) if len(content) <= IN_PROCESS_MAX_BYTES else None
        if fast is not None:
            return _output(fast, feed_scope)
        worker = self._acquire()
        try:
            status, value = worker.request((content, headers, feed_scope), self.timeout)
        except TimeoutError:
            self._discard(worker)
            raise ParseError(f"refused: parsing took longer than {self.timeout:g}s "
                             "(fetch.parse_timeout); a pathological document?") from None
        except Exception as exc:  # EOF, broken pipe, a garbled reply: the worker is done for
            self._discard(worker)
            raise ParseError(f"the parser process died on this document ({exc or 'no reply'})"
                             ) from None
        self._idle.put(worker)
        if status == "error":
            raise ParseError(str(value))
        if not isinstance(value, ParseOutput):
            raise ParseError("the parser process sent an unexpected reply")
        return value

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.stop()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    # Run the imported module's function, so pickled classes are named
    # tracker.parsepool.X rather than __main__.X.
    from tracker import parsepool

    parsepool.worker_main(int(sys.argv[1]))
