"""The client's address and scheme behind a reverse proxy, believed only from trusted ones.

A proxy that terminates TLS connects to StreamForge itself, so the direct peer is the
proxy and the scheme is ``http``. It says who the client was in ``X-Forwarded-For`` and
how they came in ``X-Forwarded-Proto``. Anyone can send those headers, so they count only
when the direct peer is one of ``[server] trusted_proxies``; from anyone else they change
nothing. With them, the ASGI scope's ``client`` and ``scheme`` are corrected before Quart
sees the request, so everything downstream (``request.remote_addr`` for login throttling,
``request.scheme`` for ``Secure`` cookies and same-origin checks, ``websocket.scheme`` for
the events socket's Origin check) sees the client, not the proxy.

``X-Forwarded-For`` is read from the right: each proxy appends the address it received
the request from, so the rightmost entries were written by proxies we trust, and the first
entry that is not a trusted proxy is the client (entries to its left are whatever the
client sent, and are ignored). ``X-Forwarded-Host`` is not used: the Host header passed
through by the proxy (nginx ``proxy_set_header Host $host``, Caddy by default) is already
right, and a header the client could slip through a proxy that does not overwrite it
would only add a way to lie. ``Forwarded`` (RFC 7239) is not read either: nginx cannot
write it without hand-made maps, and one format is easier to get right than two.

Hypercorn's own ``ProxyFixMiddleware`` is not used: it believes the headers from every
peer (it trusts a number of hops, not addresses), so a client reaching the port directly
could pick its own address and scheme.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    Scope,
    WWWScope,
)

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def parse_address(text: str) -> Address | None:
    """An address as a proxy writes it (``203.0.113.9``, ``2001:db8::1``, also with a port:
    ``203.0.113.9:4711``, ``[2001:db8::1]:4711``); None when it is not one. IPv4-mapped IPv6
    addresses (``::ffff:10.0.0.1``, from a server listening on ``::``) become IPv4."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The networks whose forwarding headers are believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: Address, forwarded_for: list[str]) -> Address:
        """The client's address, from a trusted ``peer`` and its ``X-Forwarded-For`` entries
        (left to right). If every entry is a trusted proxy, the leftmost one is the client;
        an entry that is not an address ends the walk at the proxy that wrote it."""
        client = peer
        for entry in reversed(forwarded_for):
            if not self.trusts(client):
                break
            hop = parse_address(entry)
            if hop is None:
                break
            client = hop
        return client


def _header_values(scope: WWWScope, name: bytes) -> list[str]:
    """Every comma-separated value of a header, over all of its lines, in order."""
    values: list[str] = []
    for key, value in scope["headers"]:
        if key.lower() == name:
            values.extend(v.strip() for v in value.decode("latin-1").split(","))
    return [v for v in values if v]


class ProxyHeaders:
    """ASGI middleware: corrects ``client`` and ``scheme`` of HTTP and WebSocket scopes
    whose direct peer is a trusted proxy; passes everything else through untouched."""

    def __init__(self, app: ASGIFramework, trusted: Iterable[str]) -> None:
        self.app = app
        self.proxies = TrustedProxies(trusted)

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        # (two comparisons, not `in`: that narrows the scope's type)
        if self.proxies and (scope["type"] == "http" or scope["type"] == "websocket"):
            scope = self.corrected(scope)
        await self.app(scope, receive, send)

    def corrected(self, scope: WWWScope) -> WWWScope:
        """``scope`` as the client made it, when its peer is trusted; else ``scope``."""
        client = scope.get("client")
        peer = parse_address(str(client[0])) if client else None
        if peer is None or not self.proxies.trusts(peer):
            return scope
        fixed = copy.copy(scope)
        address = self.proxies.client(peer, _header_values(scope, b"x-forwarded-for"))
        fixed["client"] = (str(address), 0)
        # the nearest proxy's word (the rightmost value): it is the one we trust
        protos = _header_values(scope, b"x-forwarded-proto")
        proto = protos[-1].lower() if protos else ""
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                fixed["scheme"] = "wss" if secure else "ws"
            else:
                fixed["scheme"] = proto
        return fixed
