"""A real HTTP server on 127.0.0.1 for fetch and poll tests.

Routes are plain (status, headers, body) documents, or handler functions for
servers that misbehave on purpose (drip, redirect, bomb ...). Static documents
get an ETag and honour If-None-Match, like a well-behaved feed host.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


class FeedServer:
    """Serves `routes` on 127.0.0.1; over TLS when given a server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Document | Handler] = {}
        self.requests: list[SeenRequest] = []
        self.lock = threading.Lock()
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append(SeenRequest(self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_simple(404, b"not found")
                elif callable(route):
                    route(self)
                else:
                    server.serve_document(self, route)

            def send_simple(self, status: int, body: bytes,
                            headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients cut off on purpose (deadlines, caps) are expected here

        self.httpd = QuietServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def serve_document(handler: BaseHTTPRequestHandler, doc: Document) -> None:
        etag = f'"{hashlib.sha256(doc.body).hexdigest()[:16]}"' if doc.etag else None
        if etag and handler.headers.get("If-None-Match") == etag:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(doc.status)
        handler.send_header("Content-Type", doc.content_type)
        if etag:
            handler.send_header("ETag", etag)
        for key, value in doc.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(doc.body)))
        handler.end_headers()
        handler.wfile.write(doc.body)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Document | Handler) -> str:
        self.routes[path] = route
        return self.url(path)

    def requests_for(self, path: str) -> list[SeenRequest]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> FeedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
