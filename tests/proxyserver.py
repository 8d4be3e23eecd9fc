"""A real forwarding HTTP proxy on 127.0.0.1, as a corporate network has: plain
requests in absolute form (`GET http://host/path`) forwarded, and CONNECT
tunnels for https. It records what it was asked, and can demand credentials
(answering 407 without them)."""

from __future__ import annotations

import base64
import select
import socket
import socketserver
import threading
from urllib.parse import urlsplit


class ProxyServer:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.requests: list[str] = []  # request lines, as received
        self.lock = threading.Lock()
        expected = (None if credentials is None else
                    "Basic " + base64.b64encode(":".join(credentials).encode()).decode())
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline().decode("latin-1").rstrip("\r\n")
                headers = []
                while (header := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    headers.append(header.decode("latin-1").rstrip("\r\n"))
                with proxy.lock:
                    proxy.requests.append(line)
                given = next((h.split(":", 1)[1].strip() for h in headers
                              if h.lower().startswith("proxy-authorization:")), None)
                if expected is not None and given != expected:
                    self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                     b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                method, target, _version = line.split(" ", 2)
                if method == "CONNECT":
                    self.tunnel(target)
                else:
                    self.forward(method, target, headers)

            def upstream(self, host: str, port: int) -> socket.socket | None:
                try:
                    return socket.create_connection((host, port), timeout=10)
                except OSError:
                    self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                                     b"Connection: close\r\n\r\n")
                    return None

            def tunnel(self, target: str) -> None:
                host, port = target.rsplit(":", 1)
                server = self.upstream(host, int(port))
                if server is None:
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.relay(server)

            def forward(self, method: str, target: str, headers: list[str]) -> None:
                parts = urlsplit(target)
                server = self.upstream(parts.hostname or "", parts.port or 80)
                if server is None:
                    return
                kept = [h for h in headers if not h.lower().startswith(
                    ("proxy-", "connection:"))]
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                request = "\r\n".join([f"{method} {path or '/'} HTTP/1.1", *kept,
                                       "Connection: close", "", ""])
                server.sendall(request.encode("latin-1"))
                # One request per connection, said as HTTP/1.1 says it, so that
                # the client does not send a second one down it.
                head = b""
                while b"\r\n\r\n" not in head and (chunk := server.recv(65536)):
                    head += chunk
                top, _, rest = head.partition(b"\r\n\r\n")
                lines = [h for h in top.split(b"\r\n") if not h.lower().startswith(b"connection:")]
                self.wfile.write(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest)
                self.relay(server)

            def relay(self, server: socket.socket) -> None:
                client = self.connection
                try:
                    while True:
                        readable, _, _ = select.select([client, server], [], [], 10)
                        if not readable:
                            return
                        for source in readable:
                            data = source.recv(65536)
                            if not data:
                                return
                            (server if source is client else client).sendall(data)
                finally:
                    server.close()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProxyServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
