"""The fetcher against a real local server that misbehaves on purpose."""

from __future__ import annotations

import gzip
import ipaddress
import json
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import trustme

from tests.feedserver import Document, FeedServer
from tests.proxyserver import ProxyServer
from tracker.addresses import forbidden_reason
from tracker.config import FetchSettings, parse_config
from tracker.errors import (
    BlockedAddressError,
    ConfigError,
    DeadlineError,
    FetchError,
    HTTPStatusError,
    TooLargeError,
    TooManyRedirects,
)
from tracker.fetch import Fetcher, parse_retry_after

FEED = b'<rss version="2.0"><channel><title>t</title><item><title>x</title></item></channel></rss>'


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchSettings(timeout=2.0, connect_timeout=1.0, max_bytes=1_000_000),
                 allow_private=True) as client:
        yield client


def drip(handler: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte of body every 0.3 s, forever (until cut off)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(200):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.3)


def drip_headers(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(200):
        try:
            handler.wfile.write(b"X: y\r\n")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.3)


def gzip_bomb(handler: BaseHTTPRequestHandler) -> None:
    body = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def endless(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"<item>" * 10_000
    try:
        for _ in range(500):  # 30 MB at most: bounded even if the client never stops
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        return


def redirect_to(location: str, status: int = 302):  # type: ignore[no-untyped-def]
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handler


def test_conditional_get_sends_validators_back_verbatim(feed_server: FeedServer,
                                                       fetcher: Fetcher) -> None:
    url = feed_server.add("/feed", Document(FEED, headers={"Last-Modified": "Mon, 01 Jan 2024 "
                                                                            "00:00:00 GMT"}))
    first = fetcher.fetch(url)
    assert first.status == 200 and first.content == FEED and first.etag
    second = fetcher.fetch(url, first.etag, first.last_modified)
    assert second.not_modified and second.content is None
    assert second.etag == first.etag and second.last_modified == first.last_modified
    sent = feed_server.requests_for("/feed")[-1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["If-Modified-Since"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert sent["User-Agent"].startswith("tracker/") and "+https://" in sent["User-Agent"]


def test_gzip_bodies_are_decoded(feed_server: FeedServer, fetcher: Fetcher) -> None:
    def gzipped(h: BaseHTTPRequestHandler) -> None:
        body = gzip.compress(FEED)
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    result = fetcher.fetch(feed_server.add("/gz", gzipped))
    assert result.content == FEED and result.bytes_received < len(FEED)
    assert result.warning is None


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "compressed-twice"])
def test_gzip_the_server_did_not_declare_is_read_with_a_warning(
        feed_server: FeedServer, fetcher: Fetcher, declared: bool) -> None:
    # A .xml.gz served as XML, or a server compressing what is already gzip:
    # XML never starts with gzip's magic bytes, so decompressing guesses nothing.
    body = gzip.compress(FEED)
    headers = {"Content-Encoding": "gzip"} if declared else {}
    if declared:
        body = gzip.compress(body)
    url = feed_server.add("/gz", Document(body, content_type="application/xml", headers=headers))
    result = fetcher.fetch(url)
    assert result.content == FEED
    assert result.warning is not None and "without saying so" in result.warning


def test_plain_bytes_declared_as_gzip_are_read_with_a_warning(
        feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.add("/plain", Document(FEED, headers={"Content-Encoding": "gzip"}))
    result = fetcher.fetch(url)
    assert result.content == FEED
    assert result.warning is not None and "sent the bytes uncompressed" in result.warning


def test_undeclared_gzip_is_bounded_and_checked_like_declared_gzip(
        feed_server: FeedServer, fetcher: Fetcher) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    with pytest.raises(TooLargeError, match="after decompression"):
        fetcher.fetch(feed_server.add("/bomb", Document(bomb, content_type="application/xml")))
    corrupt = gzip.compress(FEED)[:10] + b"\xff" * 40  # a deflate block of invalid type
    url = feed_server.add("/corrupt", Document(corrupt, content_type="application/xml"))
    with pytest.raises(FetchError, match="corrupt"):
        fetcher.fetch(url)


@pytest.mark.parametrize("handler", [drip, drip_headers], ids=["body", "headers"])
def test_a_dripping_server_is_cut_off_at_the_total_deadline(
        feed_server: FeedServer, fetcher: Fetcher, handler: object) -> None:
    url = feed_server.add("/drip", handler)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(DeadlineError, match="deadline"):
        fetcher.fetch(url)
    assert time.monotonic() - started < 3.0  # deadline is 2 s; each read would pass alone


def test_a_gzip_bomb_stops_at_the_byte_cap(feed_server: FeedServer, fetcher: Fetcher) -> None:
    with pytest.raises(TooLargeError, match="after decompression"):
        fetcher.fetch(feed_server.add("/bomb", gzip_bomb))


def test_an_endless_body_stops_at_the_byte_cap(feed_server: FeedServer,
                                               fetcher: Fetcher) -> None:
    with pytest.raises(TooLargeError, match="1,000,000-byte limit"):
        fetcher.fetch(feed_server.add("/endless", endless))


def test_a_declared_oversize_body_is_refused_before_reading(feed_server: FeedServer,
                                                            fetcher: Fetcher) -> None:
    url = feed_server.add("/big", Document(b"x" * 1_500_000))
    with pytest.raises(TooLargeError, match="declares 1,500,000 bytes"):
        fetcher.fetch(url)


def test_redirect_loops_stop(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.add("/loop", redirect_to("/loop"))
    with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
        fetcher.fetch(url)
    assert len(feed_server.requests_for("/loop")) == 6


def test_permanent_redirect_chain_is_reported_temporary_is_not(feed_server: FeedServer,
                                                                fetcher: Fetcher) -> None:
    target = feed_server.add("/new", Document(FEED))
    moved = fetcher.fetch(feed_server.add("/old", redirect_to("/new", 301)))
    assert moved.permanent_redirect == target and moved.final_url == target
    temporary = fetcher.fetch(feed_server.add("/tmp", redirect_to("/new", 302)))
    assert temporary.permanent_redirect is None and temporary.final_url == target
    mixed = fetcher.fetch(feed_server.add("/mixed", redirect_to("/old", 302)))
    assert mixed.permanent_redirect is None


def test_redirect_to_a_non_http_scheme_is_refused(feed_server: FeedServer,
                                                  fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="non-HTTP"):
        fetcher.fetch(feed_server.add("/file", redirect_to("file:///etc/passwd")))


def test_error_statuses_carry_retry_after(feed_server: FeedServer, fetcher: Fetcher) -> None:
    url = feed_server.add("/busy", Document(b"slow down", status=429,
                                            headers={"Retry-After": "120"}, etag=False))
    with pytest.raises(HTTPStatusError) as info:
        fetcher.fetch(url)
    assert info.value.status == 429 and info.value.retry_after == 120
    assert "429 Too Many Requests" in str(info.value)


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_retry_after("Tue, 24 Nov 2026 08:10:00 GMT", now) == 600
    assert parse_retry_after("soon", now) is None


def test_loopback_is_refused_before_connecting_unless_allowed(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", Document(FEED))
    with Fetcher(FetchSettings(timeout=2.0), allow_private=False) as strict:
        with pytest.raises(BlockedAddressError, match="loopback address"):
            strict.fetch(url)
        with pytest.raises(BlockedAddressError, match="allow_private_networks"):
            strict.fetch(url.replace("127.0.0.1", "localhost"))
    assert feed_server.requests_for("/feed") == []


def test_every_redirect_hop_is_checked(feed_server: FeedServer) -> None:
    """127.0.0.1 stands in for a public host; its redirect to 127.0.0.2 must be refused."""
    port = feed_server.httpd.server_address[1]
    url = feed_server.add("/hop", redirect_to(f"http://127.0.0.2:{port}/feed"))
    with (Fetcher(FetchSettings(timeout=2.0), allow_private=False,
                  exempt_addresses=frozenset({"127.0.0.1"})) as strict,
          pytest.raises(BlockedAddressError, match=r"127\.0\.0\.2")):
        strict.fetch(url)
    assert len(feed_server.requests_for("/hop")) == 1


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("172.16.5.4", "private"), ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"),
    ("::1", "loopback"), ("fe80::1", "link-local"), ("fc00::1", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("224.0.0.1", "multicast"),
    ("8.8.8.8", None), ("2a00:1450:4009:80b::200e", None),
])
def test_address_policy(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_connection_refused_is_a_fetch_error(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="network error"):
        fetcher.fetch("http://127.0.0.1:9/feed")


@pytest.fixture
def tls_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tls_authority: trustme.CA) -> Iterator[FeedServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_authority.issue_cert("127.0.0.1").configure_cert(context)
    server = FeedServer(tls=context).start()
    server.add("/feed", Document(FEED))
    yield server
    server.stop()


def test_certificates_are_loaded_at_the_first_tls_connection_and_verified(
        feed_server: FeedServer, tls_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.add("/plain", Document(FEED))
    assert fetcher.fetch(feed_server.url("/plain")).status == 200
    assert fetcher.certificates.context.cert_store_stats()["x509_ca"] == 0  # plain HTTP only
    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        fetcher.fetch(tls_server.url("/feed"))  # its authority is not a trusted one
    assert fetcher.certificates.context.cert_store_stats()["x509_ca"] > 100  # certifi's


def test_a_server_with_a_trusted_certificate_is_fetched_over_tls(
        tls_server: FeedServer, tls_authority: trustme.CA, fetcher: Fetcher) -> None:
    tls_authority.configure_trust(fetcher.certificates.ready())
    result = fetcher.fetch(tls_server.url("/feed"))
    assert (result.status, result.content) == (200, FEED)
    assert tls_server.url("/feed").startswith("https://127.0.0.1:")


@pytest.mark.parametrize(("status", "hint"), [
    (403, "403 Forbidden: the site refuses this reader"),
    (401, "401 Unauthorized: the site refuses this reader"),
    (404, "404 Not Found: no feed at this address (moved?"),
    (503, "503 Service Unavailable: the server's own trouble; tried again later"),
    (418, "418 I'm a teapot"),  # no hint to give
])
def test_error_statuses_say_what_they_usually_mean(feed_server: FeedServer, fetcher: Fetcher,
                                                   status: int, hint: str) -> None:
    url = feed_server.add(f"/s{status}", Document(b"<html>Access Denied</html>", status=status,
                                                  content_type="text/html"))
    with pytest.raises(HTTPStatusError) as info:
        fetcher.fetch(url)
    assert info.value.status == status and hint in str(info.value)


# -- through a proxy ([fetch] proxy) ------------------------------------------


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    server = ProxyServer().start()
    yield server
    server.stop()


def proxied(proxy_url: str, allow_private: bool = True,
            exempt: frozenset[str] = frozenset()) -> Fetcher:
    return Fetcher(FetchSettings(timeout=5.0, connect_timeout=2.0, max_bytes=1_000_000,
                                 proxy=proxy_url), allow_private=allow_private,
                   exempt_addresses=exempt)


def test_feeds_are_fetched_through_the_proxy_conditionally(
        feed_server: FeedServer, proxy: ProxyServer) -> None:
    url = feed_server.add("/feed", Document(FEED))
    with proxied(proxy.url) as client:
        first = client.fetch(url)
        again = client.fetch(url, etag=first.etag)
    assert (first.status, first.content, again.status) == (200, FEED, 304)
    assert proxy.requests == [f"GET {url} HTTP/1.1"] * 2  # absolute form: the proxy's to send
    assert [request.path for request in feed_server.requests] == ["/feed", "/feed"]


def test_https_feeds_go_through_a_tunnel_with_their_certificates_checked(
        tls_server: FeedServer, tls_authority: trustme.CA, proxy: ProxyServer) -> None:
    with proxied(proxy.url) as client:
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            client.fetch(tls_server.url("/feed"))
        tls_authority.configure_trust(client.certificates.ready())
        result = client.fetch(tls_server.url("/feed"))
    assert (result.status, result.content) == (200, FEED)
    host = tls_server.url("/").split("//")[1].rstrip("/")
    assert proxy.requests[-1] == f"CONNECT {host} HTTP/1.1"


def test_a_proxy_on_a_private_address_is_allowed_but_private_feeds_are_not(
        feed_server: FeedServer, proxy: ProxyServer) -> None:
    """The operator chose the proxy (here on 127.0.0.1); a feed URL naming a
    private address is refused before the proxy is asked, as without one."""
    url = feed_server.add("/feed", Document(FEED))
    with proxied(proxy.url, allow_private=False) as client:
        with pytest.raises(BlockedAddressError, match="it is a loopback address"):
            client.fetch(url)
        with pytest.raises(BlockedAddressError, match="loopback"):
            client.fetch("http://localhost:1/feed")
        # A name this machine cannot resolve is the proxy's to resolve.
        with pytest.raises(HTTPStatusError, match="502 Bad Gateway"):
            client.fetch("http://feeds.example.invalid/rss")
    assert proxy.requests == ["GET http://feeds.example.invalid/rss HTTP/1.1"]
    with proxied(proxy.url, allow_private=False, exempt=frozenset({"127.0.0.1"})) as client:
        assert client.fetch(url).status == 200  # an exempt address, as without a proxy


def test_a_redirect_to_a_private_address_is_refused_through_the_proxy(
        feed_server: FeedServer, proxy: ProxyServer) -> None:
    feed_server.add("/hop", redirect_to("http://10.0.0.1/admin"))
    with proxied(proxy.url, allow_private=False, exempt=frozenset({"127.0.0.1"})) as client, \
            pytest.raises(BlockedAddressError, match=r"10\.0\.0\.1.*private address"):
        client.fetch(feed_server.url("/hop"))
    assert proxy.requests == [f"GET {feed_server.url('/hop')} HTTP/1.1"]  # not the hop


def test_proxy_credentials_are_sent_and_a_dead_proxy_is_named(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", Document(FEED))
    guarded = ProxyServer(credentials=("analyst", "s3cret")).start()
    try:
        with proxied(guarded.url) as client, \
                pytest.raises(HTTPStatusError, match="407 Proxy Authentication Required: the "
                                                     "proxy wants credentials"):
            client.fetch(url)
        address = guarded.url.replace("http://", "http://analyst:s3cret@")
        with proxied(address) as client:
            assert client.fetch(url).content == FEED
    finally:
        guarded.stop()
    with proxied(guarded.url) as client, \
            pytest.raises(FetchError, match=rf"network error \(through the proxy "
                                            rf"{guarded.url}\)") as raised:
        client.fetch(url)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("value", ["proxy.example.org:3128", "socks5://p:1080", "http://p",
                                   "http://p:3128/path", 3128, ""])
def test_a_proxy_setting_that_is_not_a_proxy_address_is_refused(value: object) -> None:
    text = f"[fetch]\nproxy = {json.dumps(value)}\n"
    with pytest.raises(ConfigError, match=r"fetch\.proxy: .* is not a proxy address such as"):
        parse_config(text, Path("tracker.toml"))
