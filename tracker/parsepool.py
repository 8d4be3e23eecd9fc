"""Parse feed documents in worker processes bounded in time and memory.

`tracker.parse` already refuses the pathologies we know of (entity bombs,
feedparser's quadratic author regex). This pool bounds the ones we do not:
each worker has an address-space limit (RLIMIT_AS), and a parse that runs past
its deadline is ended by killing that one worker, so a pathological document
ends as a recorded error on its feed, never a stuck or bloated daemon. The other
workers, and the parses they are running, are untouched.

Workers come from a `forkserver`: forked from a small, single-threaded server
process (not from the threaded daemon), started once and reused.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import resource
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from tracker.errors import ParseError
from tracker.models import Item
from tracker.normalise import normalise_feed
from tracker.parse import parse_feed


@dataclass(frozen=True)
class ParseOutput:
    """What the service needs of a parsed document: its items and a few facts."""

    title: str | None
    warning: str | None
    ttl_seconds: int | None
    items: tuple[Item, ...]


def parse_document(content: bytes, headers: dict[str, str], feed_scope: str) -> ParseOutput:
    """Parse and normalise one document (in whichever process calls it)."""
    parsed = parse_feed(content, headers)
    return ParseOutput(parsed.title, parsed.warning, parsed.ttl_seconds,
                       tuple(normalise_feed(parsed, feed_scope)))


def _address_space_in_use() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _worker_main(conn: Connection, extra_memory: int) -> None:
    """A worker's loop: receive a document, send back ("ok", output) or ("error", text)."""
    limit = _address_space_in_use() + extra_memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            reply: tuple[str, object] = ("ok", parse_document(*task))
        except ParseError as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("error", f"refused: parsing needed more than {extra_memory >> 20} MB of "
                              "memory (fetch.parse_memory_mb)")
        except Exception as exc:  # any other parser failure belongs to this document only
            reply = ("error", f"the feed parser failed: {type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("error", "refused: the parsed feed is too large to hand back"))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection


class ParserPool:
    """A few parser processes shared by the fetch threads."""

    def __init__(self, workers: int, timeout: float, memory_mb: int) -> None:
        self.size = max(1, workers)
        self.timeout = timeout
        self.extra_memory = memory_mb << 20
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["tracker.parsepool"])
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._all: list[_Worker] = []
        self._closed = False

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child, self.extra_memory),
                                        daemon=True, name="tracker-parser")
        process.start()
        child.close()
        worker = _Worker(process, parent)
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
        worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        with self._lock:
            self._all.remove(worker)
        if not self._closed:
            self._idle.put(self._spawn())

    def parse(self, content: bytes, headers: dict[str, str], feed_scope: str) -> ParseOutput:
        """Parse in a worker; ParseError on a bad document, a timeout or a dead worker."""
        worker = self._acquire()
        try:
            worker.conn.send((content, headers, feed_scope))
            if not worker.conn.poll(self.timeout):
                self._discard(worker)
                raise ParseError(f"refused: parsing took longer than {self.timeout:g}s "
                                 "(fetch.parse_timeout); a pathological document?")
            status, value = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._discard(worker)
            raise ParseError(f"the parser process died on this document ({exc or 'no reply'})"
                             ) from None
        self._idle.put(worker)
        if status == "error":
            raise ParseError(str(value))
        assert isinstance(value, ParseOutput)
        return value

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
            worker.conn.close()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
