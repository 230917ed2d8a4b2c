"""Where the server may POST: a push endpoint must be https on a public host (SSRF).

The server sends requests to an address a client chose, so that address must
never be inside the server's own network: ``http``, loopback, private,
link-local, reserved and multicast addresses are refused, and so is a name
that resolves to any of them (every address it resolves to is checked). The
check runs when a subscription is stored and again before each delivery, so
a name that later moves to a private address is refused then too.
CHAT_WEBPUSH_ALLOW_LOOPBACK lets a local test push service on 127.0.0.1/::1
(``http`` or ``https``) through; it is off unless set.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from chat_project.common.errors import InvalidInput

MAX_ENDPOINT_LENGTH = 2048


def check_endpoint(field: str, value: object) -> str:
    """The endpoint URL, or InvalidInput on ``field``."""
    if not isinstance(value, str) or not value:
        raise InvalidInput.field(field, "Must be a URL.")
    if len(value) > MAX_ENDPOINT_LENGTH:
        raise InvalidInput.field(field, f"At most {MAX_ENDPOINT_LENGTH} characters.")
    problem = endpoint_problem(value)
    if problem:
        raise InvalidInput.field(field, problem)
    return value


def endpoint_problem(url: str) -> str | None:
    """Why the server must not POST to ``url``; None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Must be a URL."
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return "Must be an https URL with a host and no user name."
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "Must be a URL without spaces or control characters."
    if parts.scheme != "https" and not (settings.CHAT_WEBPUSH_ALLOW_LOOPBACK and parts.scheme == "http"):
        return "Must be an https URL."
    addresses = _addresses(host, port or 443)
    if addresses is None:
        return "The host name does not resolve."
    loopback_allowed = settings.CHAT_WEBPUSH_ALLOW_LOOPBACK and all(a.is_loopback for a in addresses)
    if parts.scheme != "https" and not loopback_allowed:
        return "Must be an https URL."
    if not loopback_allowed and not all(_public(a) for a in addresses):
        return "Must name a public host: not a loopback, private or link-local address."
    return None


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address] | None:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    if settings.CHAT_WEBPUSH_LOCAL_ONLY and not host.lower().endswith((".test", "localhost")):
        # The test suite asks no outside resolver (RFC 6761's .test names are its own).
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    # An IPv6 scope (fe80::1%eth0) is link-local anyway; drop it to parse.
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return found or None
