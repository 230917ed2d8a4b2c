"""The client's address, believing forwarding headers only from trusted proxies.

daphne runs without ``--proxy-headers``: it would believe ``X-Forwarded-For``
from any peer, so anyone could pick a fresh address per request and escape
the per-address rate limits. Here the address is the direct peer unless that
peer is listed in ``CHAT_TRUSTED_PROXIES``; then it is the right-most
``X-Forwarded-For`` entry that is not itself a trusted proxy (entries to its
left were written by the client and prove nothing).

``TrustedProxyMiddleware`` applies the same rule to ``X-Forwarded-Proto``, so a
request that reached the TLS-terminating proxy over https is secure for
Django (SSL redirect, CSRF origin checks, secure cookies).
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


def parse_networks(entries: list[str] | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``["10.0.0.0/8", "::1"]`` into networks; ValueError names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {entry!r}") from None
    return tuple(networks)


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_networks(entries)


def _parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:80``, ``::1``, ``[::1]:80``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def _peer_and_forwarded(request_or_scope) -> tuple[str, str]:
    if hasattr(request_or_scope, "META"):  # a Django request, not a scope
        meta = request_or_scope.META
        return meta.get("REMOTE_ADDR") or "", meta.get("HTTP_X_FORWARDED_FOR", "")
    client = request_or_scope.get("client")
    values = [
        value.decode("latin-1") for name, value in request_or_scope.get("headers", []) if name == b"x-forwarded-for"
    ]
    return (client[0] if client else "") or "", ",".join(values)


def peer_is_trusted(request_or_scope) -> bool:
    peer_text, _ = _peer_and_forwarded(request_or_scope)
    peer = _parse_address(peer_text)
    return peer is not None and _is_trusted(peer, _trusted_networks(tuple(settings.CHAT_TRUSTED_PROXIES)))


def client_ip(request_or_scope) -> str:
    """The address to hold a client to (rate limits), from a Django/DRF request or an ASGI scope."""
    peer_text, forwarded = _peer_and_forwarded(request_or_scope)
    peer = _parse_address(peer_text)
    if peer is None:
        return peer_text or UNKNOWN
    networks = _trusted_networks(tuple(settings.CHAT_TRUSTED_PROXIES))
    client = peer
    # Walk from the proxy nearest to us outwards; stop at the first hop we do not trust.
    for entry in reversed([e for e in forwarded.split(",") if e.strip()]):
        if not _is_trusted(client, networks):
            break
        hop = _parse_address(entry)
        if hop is None:
            # Garbage written by (or passed on by) a trusted proxy: hold it to that proxy's address.
            break
        client = hop
    return str(client)


class TrustedProxyMiddleware:
    """ASGI: a trusted proxy's ``X-Forwarded-Proto: https`` makes the scope's scheme https (wss)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and peer_is_trusted(scope):
            proto = next((v for n, v in scope.get("headers", []) if n == b"x-forwarded-proto"), None)
            if proto is not None:
                # The right-most value is the one our own proxy wrote.
                secure = proto.decode("latin-1").split(",")[-1].strip().lower() in ("https", "wss")
                plain, tls = ("http", "https") if scope["type"] == "http" else ("ws", "wss")
                scope = {**scope, "scheme": tls if secure else plain}
        return await self.app(scope, receive, send)
