"""A parser process: reads documents from stdin, answers on stdout.

Started by `tracker.parsepool` as `python -m tracker.parseworker` for the
documents the in-process fast path declines. It imports only feedparser and
normalising (not the fetcher or the store): each worker is a whole
interpreter, and what it imports is memory every poll that needs it pays.
"""

from __future__ import annotations

import os
import pickle
import resource
import struct
import sys
from dataclasses import dataclass
from typing import IO

if __name__ == "__main__":
    # A worker never opens a connection, but feedparser imports urllib.request,
    # which loads ssl (libssl and libcrypto, 1.4 MB of every worker) when it can.
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]

from tracker.errors import ParseError
from tracker.models import Item, ParsedFeed
from tracker.normalise import feed_title, normalise_feed
from tracker.parse import parse_feed


@dataclass(frozen=True)
class ParseOutput:
    """What the service needs of a parsed document: its items and a few facts."""

    title: str | None
    warning: str | None
    ttl_seconds: int | None
    items: tuple[Item, ...]


def output_of(parsed: ParsedFeed, feed_scope: str,
              document_url: str | None = None) -> ParseOutput:
    """A parsed document's normalised items, with the facts the service keeps."""
    return ParseOutput(feed_title(parsed), parsed.warning, parsed.ttl_seconds,
                       tuple(normalise_feed(parsed, feed_scope, document_url)))


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed message; None at the end of the stream or a cut one."""
    header = stream.read(8)
    if len(header) < 8:
        return None
    size = struct.unpack(">Q", header)[0]
    data = stream.read(size)
    return data if len(data) == size else None


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def _address_space_in_use() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def worker_main(extra_memory: int) -> None:
    """A worker's loop over stdin/stdout: receive a document, send back
    ("ok", output), ("error", text) when it is not a readable feed, or
    ("refused", text) when it needs more memory than the worker may take."""
    limit = _address_space_in_use() + extra_memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    write_frame(sink, pickle.dumps(("ready", None)))
    while (frame := read_frame(source)) is not None:
        try:
            # Only documents the fast path declined (or too large for it) come here.
            content, headers, feed_scope, document_url = pickle.loads(frame)
            reply: tuple[str, object] = ("ok", output_of(parse_feed(content, headers),
                                                         feed_scope, document_url))
        except ParseError as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("refused", f"refused: parsing needed more than {extra_memory >> 20} MB of "
                                "memory (fetch.parse_memory_mb)")
        except Exception as exc:  # any other parser failure belongs to this document only
            reply = ("error", f"the feed parser failed: {type(exc).__name__}: {exc}"[:300])
        try:
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload = pickle.dumps(("refused", "refused: the parsed feed is too large"))
        write_frame(sink, payload)


if __name__ == "__main__":
    # Run the imported module's function, so pickled classes are named
    # tracker.parseworker.X rather than __main__.X.
    from tracker import parseworker

    parseworker.worker_main(int(sys.argv[1]))
