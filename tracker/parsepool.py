"""Parse feed documents: the common well-formed ones in-process with expat
(`tracker.fastparse`), the rest in worker processes bounded in time and memory.

`tracker.parse` already refuses the pathologies we know of (entity bombs,
feedparser's quadratic author regex). This pool bounds the ones we do not:
each worker has an address-space limit (RLIMIT_AS), and a parse that runs past
its deadline is ended by killing that one worker, so a pathological document
ends as a recorded error on its feed, never a stuck or bloated daemon. The other
workers, and the parses they are running, are untouched.

Workers are plain `python -m tracker.parseworker` processes spoken to over
pipes (length-prefixed pickles): started when a document first needs one (another
only behind a slow document) and reused, independent of how the parent
was launched, and never forked from the threaded daemon.
"""

from __future__ import annotations

import pickle
import queue
import select
import subprocess
import sys
import threading
import time
from typing import IO

from tracker.errors import ParseError, ParserFailure
from tracker.fastparse import parse_fast
from tracker.jsonfeed import read_json_feed
from tracker.parse import parse_feed
from tracker.parseworker import ParseOutput, output_of, read_frame, write_frame

__all__ = ["ParseOutput", "ParserPool", "parse_document"]

STARTUP_SECONDS = 30.0
# Larger documents are parsed in a worker even when well-formed, under its memory
# limit: a parsed tree takes several times the document's size. News feeds weigh
# 30-250 KB.
IN_PROCESS_MAX_BYTES = 2 << 20
# How long one document may keep a worker busy before another document waiting
# for it has another worker started.
PATIENCE_SECONDS = 0.5


def parse_document(content: bytes, headers: dict[str, str], feed_scope: str,
                   document_url: str | None = None) -> ParseOutput:
    """Parse and normalise one document (in whichever process calls it);
    `document_url`, where it came from, resolves relative links."""
    return output_of(parse_fast(content, headers) or parse_feed(content, headers), feed_scope,
                     document_url)


class _Worker:
    """One parser process, spoken to over its stdin and stdout."""

    def __init__(self, extra_memory: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker.parseworker", str(extra_memory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout
        self.busy_since: float | None = None  # monotonic time its current document was sent
        if self._receive(STARTUP_SECONDS) != ("ready", None):
            self.kill()
            raise OSError("the parser process did not start")

    def _receive(self, timeout: float) -> tuple[str, object]:
        ready, _, _ = select.select([self.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        frame = read_frame(self.stdout)
        if frame is None:
            raise EOFError("no reply")
        status, value = pickle.loads(frame)
        return str(status), value

    def request(self, task: tuple[bytes, dict[str, str], str, str | None],
                timeout: float) -> tuple[str, object]:
        """Send one document and wait for the answer; TimeoutError past `timeout`."""
        self.busy_since = time.monotonic()
        try:
            write_frame(self.stdin, pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
            return self._receive(timeout)
        finally:
            self.busy_since = None

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

    def __init__(self, workers: int, timeout: float, memory_mb: int,
                 patience: float = PATIENCE_SECONDS) -> None:
        self.size = max(1, workers)
        self.timeout = timeout
        self.extra_memory = memory_mb << 20
        self.patience = patience
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._all: list[_Worker] = []

    def _spawn(self) -> _Worker:
        worker = _Worker(self.extra_memory)
        with self._lock:
            self._all.append(worker)
        return worker

    def _start_one(self, up_to: int) -> _Worker | None:
        """A new worker if fewer than `up_to` are started, else None."""
        with self._lock:
            if self._started >= up_to:
                return None
            self._started += 1
        try:
            return self._spawn()
        except BaseException:
            with self._lock:
                self._started -= 1
            raise

    def _acquire(self) -> _Worker:
        """An idle worker, else the first one; another only behind a slow
        document, one that has kept a worker busy for `patience` (checked each
        `patience` of waiting, which also replaces a worker killed meanwhile).
        A parse takes milliseconds, so one worker serves a poll's declined
        documents even when several wait for it at once: on the benchmark's 441
        documents a second worker (25-35 MB more) bought no time when it was
        started for any document that had waited `patience` in that queue."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        worker = self._start_one(up_to=1)
        while worker is None:
            try:
                return self._idle.get(timeout=self.patience)
            except queue.Empty:
                worker = self._start_one(up_to=self.size if self._held_up() else 1)
        return worker

    def _held_up(self) -> bool:
        """Whether a worker has been on one document for longer than `patience`."""
        now = time.monotonic()
        with self._lock:
            return any(since is not None and now - since > self.patience
                       for since in (worker.busy_since for worker in self._all))

    def _forget(self, worker: _Worker) -> None:
        """Free a worker's place for the next document that needs one."""
        with self._lock:
            self._all.remove(worker)
            self._started -= 1

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker; its place is free for the next document that needs one."""
        worker.kill()
        self._forget(worker)

    def parse(self, content: bytes, headers: dict[str, str], feed_scope: str,
              document_url: str | None = None) -> ParseOutput:
        """Parse a well-formed document of a kind `tracker.fastparse` reads, or a
        JSON Feed, here, in this thread (libxml2 and the json module are linear
        and bounded); anything else in a worker.
        ParseError on a bad document; ParserFailure on a timeout, a memory
        refusal or a dead worker."""
        fast = (parse_fast(content, headers) or read_json_feed(content)
                if len(content) <= IN_PROCESS_MAX_BYTES else None)
        if fast is not None:
            return output_of(fast, feed_scope, document_url)
        worker = self._acquire()
        try:
            status, value = worker.request((content, headers, feed_scope, document_url),
                                           self.timeout)
        except TimeoutError:
            self._discard(worker)
            raise ParserFailure(f"refused: parsing took longer than {self.timeout:g}s "
                                "(fetch.parse_timeout); a pathological document?") from None
        except Exception as exc:  # EOF, broken pipe, a garbled reply: the worker is done for
            self._discard(worker)
            raise ParserFailure(
                f"the parser process died on this document ({exc or 'no reply'})") from None
        self._idle.put(worker)
        if status == "refused":
            raise ParserFailure(str(value))
        if status == "error":
            raise ParseError(str(value))
        if not isinstance(value, ParseOutput):
            raise ParserFailure("the parser process sent an unexpected reply")
        return value

    def stop_workers(self) -> None:
        """Stop the idle workers (after a poll's fetching, all of them): each is an
        interpreter of 25-35 MB, and a daemon's next poll is minutes away. The
        next document that needs one starts one again (~0.1 s)."""
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            self._forget(worker)
            worker.stop()

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.stop()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

