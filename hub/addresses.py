"""The client's address as the audit trail and rate limits see it.

``X-Forwarded-For`` is honoured only when the direct peer is one of the configured trusted proxies
(``GRIDHUB_TRUSTED_PROXIES``); the client is then the right-most address in the header that is not itself a
trusted proxy. Anyone else can write any header, so it is ignored for them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` → networks; ValueError on a malformed entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(connection: HTTPConnection, trusted: tuple[Network, ...] = ()) -> str | None:
    """The client's IP address: the peer, or, behind trusted proxies, the first untrusted hop of X-Forwarded-For."""
    peer = connection.client.host if connection.client else None
    if peer is None or not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(connection.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a garbled header from behind a trusted proxy: the proxy is all we know
    return hops[0] if hops else peer
