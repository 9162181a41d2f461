"""Routing rules shared by validation (apps) and rendering (workers): no Django here.

One list of martian prefixes feeds both the model validators and the RR's BIRD filter,
so what the portal accepts is exactly what the route reflectors let through.
"""

import netaddr

MAX_ASN = 4_294_967_295

# Prefixes a public VM network may never fall into (the article's list, plus the rest of
# RFC 6890's non-global space). The documentation ranges stay allowed: the lab uses them.
MARTIANS_V4: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared carrier-grade NAT space (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
)
MARTIANS_V6: tuple[tuple[str, str], ...] = (
    ("::/8", "reserved (::/8, includes loopback and unspecified)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("fc00::/7", "unique-local (private)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
# Shorter prefixes than these are refused, as the article's 0.0.0.0/0{0,7} does.
MIN_PREFIXLEN = {4: 8, 6: 16}


def martian_reason(network: netaddr.IPNetwork) -> str | None:
    """Return why `network` cannot be a public VM network, or None if it can."""
    if network.prefixlen < MIN_PREFIXLEN[network.version]:
        if network.prefixlen == 0:
            return "it is the default route"
        return f"prefixes shorter than /{MIN_PREFIXLEN[network.version]} are not accepted"
    martians = MARTIANS_V4 if network.version == 4 else MARTIANS_V6
    for prefix, reason in martians:
        martian = netaddr.IPNetwork(prefix)
        if network in martian or martian in network:
            return reason
    return None
