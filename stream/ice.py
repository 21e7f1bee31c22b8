"""Which local addresses WebRTC offers as ICE host candidates.

aioice gathers host candidates from every interface except loopback, and neither it nor aiortc has an
option to change that. A hub on a closed network, or a test that must stay on 127.0.0.1, needs to say
which addresses to offer: :func:`use_host_addresses` replaces aioice's host-address function (looked
up at gathering time, so it applies to every peer connection made afterwards in this process);
``None`` or an empty list restores aioice's own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import aioice.ice

_AIOICE_DEFAULT: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def _validated(addresses: Sequence[str]) -> list[str]:
    out: list[str] = []
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            raise ValueError(f"not an IP address: {address!r}") from None
        out.append(str(ip))
    return out


def use_host_addresses(addresses: Sequence[str] | None) -> None:
    """Offer exactly these addresses (IPv4 and/or IPv6 literals) as host candidates; None: aioice's default."""
    if not addresses:
        aioice.ice.get_host_addresses = _AIOICE_DEFAULT
        return
    chosen = _validated(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


def host_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    """The addresses the next peer connection will offer (what aioice will call)."""
    return aioice.ice.get_host_addresses(use_ipv4, use_ipv6)
