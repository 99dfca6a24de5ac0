"""The caller's address, believing X-Forwarded-For only from trusted proxies.

Works on anything with `remote` and `headers` (an aiohttp request), so the relay and the
edge share it without the relay importing the edge."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Protocol

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Peer(Protocol):
    """What `client_ip` reads from a request."""

    @property
    def remote(self) -> str | None: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(text: str, trusted: tuple[Network, ...]) -> bool:
    ip = _address(text)
    return ip is not None and any(ip in net for net in trusted)


def client_ip(request: Peer, trusted: tuple[Network, ...]) -> str | None:
    """The peer address; behind trusted proxies, the right-most X-Forwarded-For hop
    that is not itself a trusted proxy (hops further left are the client's claims)."""
    peer = request.remote
    if not trusted or peer is None or not _trusted(peer, trusted):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop if _address(hop) is not None else peer
    return hops[0] if hops else peer
