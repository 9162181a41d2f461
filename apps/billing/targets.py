"""Where webhooks may go: public addresses only, unless an admin allow-lists networks.

Loopback, link-local (cloud metadata), private, shared (100.64/10), multicast, reserved and
unspecified addresses are refused, IPv4 or IPv6, including IPv4 inside IPv6 (mapped,
6to4, NAT64) and the short, decimal and octal IPv4 forms resolvers accept (`127.1`,
`2130706433`, `0177.0.0.1`). `settings.FABRIC_WEBHOOK_ALLOWED_NETWORKS` (CIDRs) lets some in.

A URL is checked when an endpoint is saved, and again at each delivery: the host is
resolved once, every address checked, and the connection made to a checked address
(`pinned_connection`), never to a second resolution that DNS could have changed.
"""

import http.client
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_LIKE = re.compile(r"[0-9a-fA-FxX.]+\Z")


class TargetRefused(Exception):
    """A webhook URL whose host is (or resolves to) an address that is not allowed."""


def allowed_networks() -> list:
    return [
        ipaddress.ip_network(network, strict=False)
        for network in getattr(settings, "FABRIC_WEBHOOK_ALLOWED_NETWORKS", [])
    ]


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: Address) -> str | None:
    """Why `address` may not receive webhooks, or None when it may."""
    if any(address in network for network in allowed_networks()):
        return None
    inner = _embedded_ipv4(address)
    if inner is not None:
        return refusal(inner)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> Address | None:
    """The address `host` is written as (any form a resolver accepts), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if _IPV4_LIKE.match(host):
        try:  # inet_aton reads 127.1, 2130706433, 0177.0.0.1 and 0x7f.1 as resolvers do
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def url_host_port(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise TargetRefused("The URL is not valid.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise TargetRefused("Give an http or https URL with a host.")
    return host, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (TargetRefused if none)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise TargetRefused(f"{host} is a loopback name")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve ({exc})") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    return addresses


def checked_addresses(url: str) -> tuple[str, int, list[Address]]:
    """The host, port and addresses of `url`, every one allowed (else TargetRefused)."""
    host, port = url_host_port(url)
    addresses = resolve(host, port)
    for address in addresses:
        reason = refusal(address)
        if reason:
            raise TargetRefused(
                f"{host} is not allowed as a webhook target: {reason} "
                "(an administrator can allow its network in FABRIC_WEBHOOK_ALLOWED_NETWORKS)."
            )
    return host, port, addresses


def check_on_save(url: str) -> None:
    """The check when an endpoint is saved: literal addresses and names that resolve now.
    A name that does not resolve yet is accepted: every delivery checks again."""
    try:
        checked_addresses(url)
    except TargetRefused as exc:
        if "does not resolve" not in str(exc):
            raise


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def pinned_post(url: str, *, body: bytes, headers: dict, timeout: float) -> int:
    """POST `body` to `url` at one of its checked addresses (TLS still verifies the
    name); returns the HTTP status. Redirects are answers like any other: not followed.

    Raises:
        TargetRefused: the URL's host is or resolves to an address that is not allowed.
        OSError, http.client.HTTPException: the connection or the exchange failed.
    """
    host, port, addresses = checked_addresses(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    error: Exception | None = None
    for address in addresses:
        connection = cls(host, port, address=str(address), timeout=timeout)
        try:
            connection.connect()
        except OSError as exc:
            error = exc
            connection.close()
            continue
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(65536)
            return response.status
        finally:
            connection.close()
    raise error or OSError(f"{host}: no address to connect to")
