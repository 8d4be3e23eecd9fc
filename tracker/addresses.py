"""Which network addresses tracker may contact.

A feed URL comes from a config file or an OPML import, and a redirect can point
anywhere; without a check, a feed could make the daemon read the cloud metadata
service or a router's admin page (SSRF). The check runs on the address actually
connected to, after DNS, on every hop, so DNS rebinding and redirects to
`127.0.0.1` are refused the same way.
"""

from __future__ import annotations

import ipaddress
import socket

from tracker.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def forbidden_reason(address: IPAddress) -> str | None:
    """Why `address` must not be contacted, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden_reason(address.ipv4_mapped)
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
    )
    return next((name for flagged, name in checks if flagged), None)


UNRESOLVED_HOST = "cannot resolve host"  # how a failed DNS look-up is reported


def resolve(host: str, port: int, allow_private: bool,
            exempt: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """Resolve `host` and return (family, address) pairs safe to connect to.

    Every address the name resolves to is checked, not only the first: a name
    that mixes a public and a private address is refused outright, since the
    connection could land on either.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"{UNRESOLVED_HOST} {host!r}: {exc.strerror}") from None
    results: list[tuple[int, str]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        reason = None if allow_private or text in exempt else forbidden_reason(address)
        if reason:
            raise BlockedAddressError(
                f"refused to connect to {host} ({address}): it is a {reason} address; "
                "set allow_private_networks = true in the config to allow it"
            )
        if (family, text) not in results:
            results.append((family, text))
    return results
