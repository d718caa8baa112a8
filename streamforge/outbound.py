"""Outbound HTTP for notifier plugins, guarded against server-side request forgery.

A notifier posts to a URL from the config, and whoever can change that URL (or the DNS
of its host) must not be able to make StreamForge reach the machine's own services, the
LAN, or a cloud metadata endpoint. So, unless the plugin's config allows it:

* every address a host name resolves to is checked, and the connection goes to exactly
  the checked addresses (a custom resolver of the connection pool: no second lookup that
  DNS rebinding could answer differently);
* an IP literal in a URL is checked the same way;
* redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each one re-checked
  like the first URL; ``Authorization`` is dropped when a redirect leaves the origin,
  and a redirect from https to http is refused;
* proxies from the environment (``HTTP_PROXY``…) are ignored, since a proxy would
  resolve the name itself.

Refused targets raise :class:`~streamforge.errors.DeliveryRefused` (not retried);
network trouble raises :class:`~streamforge.errors.NotifierError` (retried).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from pydantic import Field, field_validator
from yarl import URL

from streamforge.errors import DeliveryRefused, NotifierError
from streamforge.notifiers import NotifierConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
#: Bytes of a response body kept for error messages.
MAX_BODY = 64 * 1024
REDIRECTS = frozenset({301, 302, 307, 308})

_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; also Tailscale
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
#: What ``allow_private`` opens: the kinds of address a LAN service has.
PRIVATE_KINDS = frozenset({"loopback", "private", "unique-local", "shared (CGNAT)"})


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, Teredo, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return ip.sixtofour


def address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public internet address ("loopback", "private", …), or None."""
    embedded = embedded_ipv4(ip)
    if embedded is not None and (kind := address_kind(embedded)) is not None:
        return kind  # the packets end up at that IPv4 address
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip in _NAT64):
        return None  # the IPv6 form itself is only a wrapper
    if ip in _METADATA:
        return "link-local (cloud metadata service)"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "unique-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (CGNAT)"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "not publicly routable"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses outbound requests may reach.

    Public addresses always; with ``allow_private``, loopback, private (RFC 1918),
    unique-local and CGNAT ones too; and anything inside a network of ``allow``.
    """

    allow_private: bool = False
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, *, allow_private: bool = False, allow: Iterable[str] = ()) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(c, strict=False) for c in allow))

    def check(self, address: str, host: str) -> None:
        """Raise DeliveryRefused unless ``address`` (what ``host`` resolved to) is allowed."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise DeliveryRefused(f"{host}: {address!r} is not an IP address") from None
        if any(ip in net for net in self.allow if net.version == ip.version):
            return
        kind = address_kind(ip)
        if kind is None or (self.allow_private and kind in PRIVATE_KINDS):
            return
        embedded = embedded_ipv4(ip)
        target = host if host == address else f"{host} ({address})"
        if embedded is not None:
            target += f" = {embedded}"
        hint = "allow it with allow_private = true or an allow entry"
        if kind not in PRIVATE_KINDS:
            hint = "allow it with an allow entry (CIDR) if you really mean it"
        raise DeliveryRefused(f"refused to connect to {target}: {kind} address; {hint}")


class OutboundConfig(NotifierConfig):
    """Config keys of every notifier that makes HTTP requests (subclass it)."""

    #: Also allow loopback, private (10/8, 172.16/12, 192.168/16), unique-local (fc00::/7)
    #: and CGNAT (100.64/10) targets.
    allow_private: bool = False
    #: Networks (CIDR) always allowed, e.g. ["192.168.1.20/32"]; the narrow alternative.
    allow: list[str] = Field(default_factory=list)
    #: Seconds for the whole request, redirects included.
    timeout: float = Field(10, gt=0, le=300)

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP network like 10.0.0.0/8") from None
        return value

    def policy(self) -> AddressPolicy:
        return AddressPolicy.build(allow_private=self.allow_private, allow=self.allow)


def http_url(value: str) -> str:
    """Validate a notifier target URL (for ``field_validator``s of plugin configs)."""
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL")
    if url.user or url.password:
        raise ValueError("must not carry credentials; use the plugin's own keys")
    return value


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver, then refuses the name if any address is not
    allowed; the connection pool connects only to the addresses returned here."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self.policy.check(result["host"].split("%", 1)[0], host)
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: URL, policy: AddressPolicy) -> None:
    """Refuse a URL that is not http(s), or whose host is a disallowed IP literal (host
    names are checked after resolution, by :class:`GuardedResolver`)."""
    if url.scheme not in ("http", "https") or not url.host:
        raise DeliveryRefused(f"{url}: only http:// and https:// URLs can be notified")
    host = url.host
    # the same test aiohttp uses to skip DNS: anything it would treat as an IP literal
    if ":" in host or host.replace(".", "").isdigit():
        policy.check(host, host)


@dataclass(frozen=True)
class Reply:
    """What the server answered (the final response, after redirects)."""

    status: int
    url: str
    text: str
    headers: Mapping[str, str]


async def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    policy: AddressPolicy,
    time_limit: float,
) -> Reply:
    """POST ``body`` to ``url`` under ``policy``, following redirects (re-checked).

    A 303 answer is final (the request was taken; the new location is for reading).
    """
    current = URL(url)
    sent = dict(headers)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=time_limit),
        trust_env=False,
        auto_decompress=True,
    ) as session:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, policy)
            try:
                async with session.post(
                    current, data=body, headers=sent, allow_redirects=False
                ) as response:
                    text = (await response.content.read(MAX_BODY)).decode("utf-8", "replace")
                    location = response.headers.get("Location")
                    reply = Reply(response.status, str(current), text, dict(response.headers))
            except DeliveryRefused:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise NotifierError(f"{current.host}: {_describe(exc)}") from exc
            if reply.status not in REDIRECTS or not location:
                return reply
            target = current.join(URL(location))
            if current.scheme == "https" and target.scheme == "http":
                raise DeliveryRefused(f"{current} redirected from https to http: {target}")
            if target.origin() != current.origin():
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            current = target
    raise DeliveryRefused(f"{url}: more than {MAX_REDIRECTS} redirects")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def raise_for_status(reply: Reply) -> None:
    """Success for 2xx (and 303); retry later for 408, 429 and 5xx; give up on the rest."""
    if 200 <= reply.status < 300 or reply.status == 303:
        return
    detail = " ".join(reply.text.split())[:200]
    message = f"{reply.url} answered HTTP {reply.status}" + (f": {detail}" if detail else "")
    if reply.status in (408, 429) or reply.status >= 500:
        raise NotifierError(message)
    raise DeliveryRefused(message)
