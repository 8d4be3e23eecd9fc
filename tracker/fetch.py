"""Fetch one feed over HTTP: conditional, bounded, and safe. No parsing here.

The bounds that httpx does not give on its own live here:

* a total deadline per fetch. httpx's read timeout is per read, so a server
  that drips a byte every half second never trips it; every socket read and
  connect below checks the fetch's own deadline instead;
* a cap on decompressed bytes, for gzip bombs and endless bodies;
* gzip bytes the server did not declare (a `.xml.gz` served as XML, or a
  body compressed twice) read after decompressing, under the same cap, and
  plain bytes declared as gzip read as they are, each with a warning: XML
  never begins with gzip's magic bytes, so nothing is guessed;
* redirects followed by hand, at most `MAX_REDIRECTS` hops, http(s) only;
* an address check on every connection, after DNS (see `tracker.addresses`);
  through a proxy (`[fetch] proxy`), on every URL's name before it is handed
  to the proxy (`check_through_proxy`).
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import socket
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
from httpcore._backends.sync import SyncStream

from tracker import __version__
from tracker.addresses import resolve
from tracker.config import FetchSettings
from tracker.errors import (
    DeadlineError,
    FetchError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirects,
)
from tracker.models import FetchResult

# httpx imports its own command-line client (with rich and pygments) whenever
# those are installed, as they are beside tracker: 5 MB and 30 ms in every
# process, for a client tracker never runs. Marking the module absent makes
# httpx fall back to its stub, as when they are not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx as httpx  # noqa: E402  (re-exported: tracker.webhook posts with it)

MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = {301, 308}
REDIRECTS = {301, 302, 303, 307, 308}
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("fetch_deadline",
                                                                   default=float("inf"))


def _remaining(timeout: float | None) -> float | None:
    """The socket timeout to use now: the smaller of httpx's and the deadline's."""
    left = _deadline.get() - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("fetch deadline passed")
    return left if timeout is None else min(timeout, left)


class Certificates:
    """The TLS context of all fetches, which loads the trusted certificates
    (certifi's, as httpx would) only when the first TLS connection needs them:
    loading them costs ~15 ms and ~2.5 MB, for nothing in a process that
    fetches only plain-HTTP feeds, or none (a command that only reads the
    database)."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies peer and host name
        self._loaded = False
        self._lock = threading.Lock()

    def ready(self) -> ssl.SSLContext:
        """The context, with the trusted certificates loaded (once, whichever
        thread asks first)."""
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self.context.load_verify_locations(cafile=certifi.where())
                    self._loaded = True
        return self.context


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write respects the fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream, certificates: Certificates) -> None:
        self._inner = inner
        self._certificates = certificates

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        if ssl_context is self._certificates.context:
            self._certificates.ready()
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)),
            self._certificates,
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks and connects to a vetted address; wraps the deadline stream.

    Connecting to the exact address that was checked (rather than handing the
    name back to the OS) closes the DNS-rebinding gap between check and use.
    """

    def __init__(self, allow_private: bool, exempt: frozenset[str],
                 certificates: Certificates, proxy_host: str | None = None) -> None:
        self.allow_private = allow_private
        self.exempt = exempt
        self.certificates = certificates
        self.proxy_host = proxy_host  # chosen by the operator: may be a private address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port, self.allow_private or host == self.proxy_host,
                                self.exempt)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        last_error: Exception | None = None
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(_remaining(timeout))
                sock.connect((address, port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except TimeoutError as exc:
                sock.close()
                raise httpcore.ConnectTimeout(f"connecting to {host} timed out") from exc
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            return _DeadlineStream(SyncStream(sock), self.certificates)
        raise httpcore.ConnectError(f"cannot connect to {host}:{port}: {last_error}")


def _guarded_transport(allow_private: bool, exempt: frozenset[str], limits: httpx.Limits,
                       certificates: Certificates, proxy: str | None) -> httpx.HTTPTransport:
    """httpx's transport on a connection pool whose every connection goes
    through `_GuardedBackend`: straight to the feeds' servers, or to the proxy
    (plain requests for http:// feeds, a CONNECT tunnel for https:// ones, TLS
    to the feed's server inside it, with the same certificates)."""
    transport = httpx.HTTPTransport(verify=certificates.context, trust_env=False, limits=limits)
    pool: dict[str, Any] = {
        "ssl_context": certificates.context,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
    }
    if proxy is None:
        transport._pool = httpcore.ConnectionPool(
            network_backend=_GuardedBackend(allow_private, exempt, certificates), **pool)
        return transport
    through = httpx.Proxy(proxy)
    transport._pool = httpcore.HTTPProxy(
        proxy_url=httpcore.URL(scheme=through.url.raw_scheme, host=through.url.raw_host,
                               port=through.url.port, target=b"/"),
        proxy_auth=through.raw_auth,
        proxy_ssl_context=certificates.context if through.url.scheme == "https" else None,
        network_backend=_GuardedBackend(allow_private, exempt, certificates,
                                        proxy_host=through.url.host),
        **pool)
    return transport


def check_through_proxy(url: str, allow_private: bool, exempt: frozenset[str]) -> None:
    """The address check for a URL the proxy will connect to: a name that
    resolves here to an address tracker may not contact is refused, as it would
    be without a proxy. A name this machine cannot resolve is the proxy's to
    resolve (networks behind a proxy often resolve only their own names); from
    there on the proxy's own rules decide."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with contextlib.suppress(OSError):  # not a BlockedAddressError: that one stops the fetch
        resolve(parts.hostname or "", port, allow_private, exempt)


def _shown(proxy: str | None) -> str:
    """A proxy's address without its credentials, for messages and logs."""
    parts = urlsplit(proxy or "")
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _describe_status(status: int) -> str:
    try:
        phrase = httpx.codes.get_reason_phrase(status)
    except ValueError:
        phrase = ""
    return f"HTTP {status} {phrase}".strip()


def _status_hint(status: int) -> str:
    """What an error status usually means for a feed, and what to do about it."""
    if status in (401, 403):
        return (": the site refuses this reader (some block automated requests: check the "
                "URL in a browser, and set fetch.user_agent to name you with a contact)")
    if status == 407:
        return (": the proxy wants credentials (give them in [fetch] proxy, as "
                "http://user:password@host:port)")
    if status == 404:
        return (": no feed at this address (moved? `tracker feeds add` with the site's "
                "address finds the feed its pages advertise)")
    if status >= 500:
        return ": the server's own trouble; tried again later, backing off"
    return ""


class Fetcher:
    """One HTTP client shared by all fetches (connection reuse), safe across threads."""

    def __init__(self, settings: FetchSettings, allow_private: bool,
                 exempt_addresses: frozenset[str] = frozenset()) -> None:
        """`exempt_addresses`: private addresses allowed even when private networks
        are not (a local mirror), without opening every private address."""
        self.settings = settings
        limits = httpx.Limits(max_connections=max(settings.concurrency * 2, 10),
                              max_keepalive_connections=settings.concurrency)
        self.certificates = Certificates()
        self.allow_private = allow_private
        self.exempt_addresses = exempt_addresses
        self.client = httpx.Client(
            transport=_guarded_transport(allow_private, exempt_addresses, limits,
                                         self.certificates, settings.proxy),
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            headers={"User-Agent": settings.user_agent.format(version=__version__),
                     "Accept": ACCEPT},
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None) -> FetchResult:
        """GET `url` conditionally; raise a FetchError subclass on any failure."""
        started = time.monotonic()
        token = _deadline.set(started + self.settings.timeout)
        try:
            return self._fetch(url, etag, last_modified, started)
        except httpx.TimeoutException as exc:
            if time.monotonic() >= _deadline.get():
                raise DeadlineError(
                    f"gave up after {self.settings.timeout:g}s (the fetch deadline): the server "
                    "is too slow or never finished the response"
                ) from None
            raise FetchError(f"timed out: {exc or type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            through = f" (through the proxy {_shown(self.settings.proxy)})" \
                if self.settings.proxy else ""
            raise FetchError(f"network error{through}: {exc or type(exc).__name__}") from None
        finally:
            _deadline.reset(token)

    def _fetch(self, url: str, etag: str | None, last_modified: str | None,
               started: float) -> FetchResult:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        all_permanent = True
        downloaded = 0
        for _hop in range(MAX_REDIRECTS + 1):
            scheme = urlsplit(current).scheme
            if scheme not in ("http", "https"):
                raise FetchError(f"refused to follow a redirect to a non-HTTP URL: {current}")
            if self.settings.proxy:
                check_through_proxy(current, self.allow_private, self.exempt_addresses)
            with self.client.stream("GET", current, headers=headers) as response:
                if response.status_code in REDIRECTS:
                    downloaded += response.num_bytes_downloaded
                    location = response.headers.get("Location", "")
                    if not location:
                        raise FetchError(f"{_describe_status(response.status_code)} without "
                                         "a Location header")
                    all_permanent &= response.status_code in PERMANENT_REDIRECTS
                    current = str(response.url.join(location))
                    continue
                # Read even a 304's empty body: a response closed unread loses its
                # connection, and 40 conditional fetches 8 at a time took 1.04 s
                # instead of 0.02 s on loopback.
                body, warning = self._read_capped(response)
                downloaded += response.num_bytes_downloaded
                if response.status_code >= 400:
                    raise HTTPStatusError(
                        f"the server answered {_describe_status(response.status_code)}"
                        f"{_status_hint(response.status_code)}",
                        response.status_code,
                        parse_retry_after(response.headers.get("Retry-After"),
                                          datetime.now(UTC)),
                    )
                if response.status_code not in (200, 203, 304):
                    raise HTTPStatusError(
                        f"unexpected {_describe_status(response.status_code)} for a feed",
                        response.status_code,
                    )
                return FetchResult(
                    url=url,
                    final_url=current,
                    status=response.status_code,
                    content=None if response.status_code == 304 else body,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    etag=response.headers.get("ETag") or etag,
                    last_modified=response.headers.get("Last-Modified") or last_modified,
                    bytes_received=downloaded,
                    elapsed_seconds=time.monotonic() - started,
                    permanent_redirect=current if current != url and all_permanent else None,
                    warning=warning,
                )
        raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects (a loop?); last "
                               f"location was {current}")

    def _read_capped(self, response: httpx.Response) -> tuple[bytes, str | None]:
        """The decoded body, refused as soon as it would pass `max_bytes`, and a
        warning when its encoding was not what the server said.

        Decompression is done here with zlib's `max_length`, not by httpx, so a
        gzip bomb never expands more than the cap in memory at once.
        """
        cap = self.settings.max_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise TooLargeError(f"the response declares {int(declared):,} bytes, more than "
                                f"the {cap:,}-byte limit (fetch.max_bytes)")
        decoder = _BoundedDecoder(response.headers.get("Content-Encoding", ""), cap)
        for chunk in response.iter_raw():
            decoder.feed(chunk)
        body, undeclared = _undeclared_gzip(decoder.finish(), cap)
        return body, decoder.warning or undeclared


GZIP_MAGIC = b"\x1f\x8b"
UNDECLARED_GZIP = ("the server sent gzip-compressed bytes without saying so (no Content-Encoding: "
                   "gzip); read after decompressing")
PLAIN_AS_GZIP = ("the server said Content-Encoding: gzip but sent the bytes uncompressed; "
                 "read as they are")


def _undeclared_gzip(body: bytes, cap: int) -> tuple[bytes, str | None]:
    """The body, decompressed (within `cap`) when it is still gzip after the
    declared decoding, and a warning saying so; as it is otherwise."""
    if not body.startswith(GZIP_MAGIC):
        return body, None
    decoder = _BoundedDecoder("gzip", cap)
    decoder.feed(body)  # TooLargeError past the cap; FetchError when corrupt
    return decoder.finish(), UNDECLARED_GZIP


class _BoundedDecoder:
    """gzip/deflate/identity decoding that never holds more than `cap` bytes."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0
        self.raw_deflate_fallback = False
        self.expect_gzip_header = False
        self.warning: str | None = None
        self.inflater: Any
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            self.inflater = None
        elif codings in (["gzip"], ["x-gzip"]):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self.expect_gzip_header = True
        elif codings == ["deflate"]:
            self.inflater = zlib.decompressobj()
            self.raw_deflate_fallback = True
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}")

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise TooLargeError(f"the response grew past the {self.cap:,}-byte limit "
                                "(fetch.max_bytes) after decompression")
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self.expect_gzip_header and chunk:
            self.expect_gzip_header = False
            if not GZIP_MAGIC.startswith(chunk[:2]):
                # Declared gzip, yet no gzip header: plain bytes mislabelled, as
                # servers that add the header to files they do not compress send.
                self.inflater, self.warning = None, PLAIN_AS_GZIP
        if self.inflater is None:
            self._keep(chunk)
            return
        data = chunk
        try:
            while data:
                room = self.cap - self.size + 1
                out = self.inflater.decompress(data, room)
                self._keep(out)
                data = self.inflater.unconsumed_tail
                if self.inflater.eof:
                    break
        except zlib.error as exc:
            if self.raw_deflate_fallback and self.size == 0:
                # Some servers send raw deflate without the zlib header.
                self.raw_deflate_fallback = False
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self.feed(chunk)
                return
            raise FetchError(f"the compressed body is corrupt: {exc}") from None

    def finish(self) -> bytes:
        if self.inflater is not None:
            self._keep(self.inflater.flush(self.cap - self.size + 1))
        return b"".join(self.parts)
