"""Validators for values that end up inside device configs (bird.conf, Junos set lines).

Every name, description, prefix and community typed by a user is rendered into a config
that a router parses. These validators are whitelists: what they accept cannot close a
string, open a block, end a statement or start a comment in BIRD or Junos syntax.
"""

import ipaddress
import re

import netaddr
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from workers.fabric_rules import MAX_ASN, martian_reason

DIGITS_RE = re.compile(r"^[0-9]{1,10}\Z")
MAC_RE = re.compile(
    r"^([0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\2[0-9A-Fa-f]{2}){4}|([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4})\Z"
)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
DESCRIPTION_RE = re.compile(r"^[A-Za-z0-9 _.,:/()@+=-]*\Z")

validate_config_name = RegexValidator(
    NAME_RE,
    "Use 1-63 letters, digits, dots, dashes or underscores, starting with a letter or digit.",
    code="invalid_name",
)

validate_config_description = RegexValidator(
    DESCRIPTION_RE,
    "Use letters, digits, spaces and . , : / ( ) @ + = - _ only "
    "(quotes, braces, semicolons and line breaks would break the device config).",
    code="invalid_description",
)


ASN_RE = re.compile(r"^([0-9]{1,10})(?:\.([0-9]{1,5}))?\Z")


def validate_asn(value: int) -> None:
    if value is None or not 1 <= int(value) <= MAX_ASN:
        raise ValidationError(
            f"AS number must be between 1 and {MAX_ASN} (4-byte range).", code="invalid_asn"
        )


def parse_asn(value) -> int:
    """An AS number typed plain (64512) or asdot (1.10 = 1 * 65536 + 10), checked.

    Raises:
        ValidationError: one message, whatever is wrong with it.
    """
    match = ASN_RE.match(str(value).strip()) if isinstance(value, (int, str)) else None
    if match is None or isinstance(value, bool):
        raise ValidationError(
            "AS number: plain (e.g. 64512) or asdot (e.g. 1.10).", code="invalid_asn"
        )
    high, low = match.groups()
    if low is None:
        asn = int(high)
    elif int(high) <= 65535 and int(low) <= 65535:
        asn = int(high) * 65536 + int(low)
    else:
        raise ValidationError(
            "AS number in asdot: both parts between 0 and 65535 (e.g. 1.10).", code="invalid_asn"
        )
    validate_asn(asn)
    return asn


def parse_community(value: str) -> tuple[int, ...]:
    """Parse a BGP community: standard "A:B" (16-bit each) or large "A:B:C" (32-bit each)."""
    parts = value.strip().split(":") if value else []
    if len(parts) not in (2, 3) or not all(DIGITS_RE.match(p) for p in parts):
        raise ValidationError(
            'Community must be "ASN:VALUE" (e.g. 65000:100) or a large community '
            '"ASN:DATA1:DATA2".',
            code="invalid_community",
        )
    numbers = tuple(int(p) for p in parts)
    limit = 65535 if len(numbers) == 2 else MAX_ASN
    if any(n > limit for n in numbers):
        kind = "standard community" if len(numbers) == 2 else "large community"
        raise ValidationError(
            f"Each part of a {kind} must be between 0 and {limit}.", code="invalid_community"
        )
    return numbers


def validate_community(value: str) -> None:
    parse_community(value)


def validate_public_prefix(value: str) -> None:
    """A network address (host bits zero) that is routable on the Internet."""
    try:
        network = netaddr.IPNetwork(value, expand_partial=False)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(
            "Enter a prefix such as 203.0.113.0/24 or 2001:db8::/48.", code="invalid_prefix"
        ) from None
    if "/" not in str(value):
        raise ValidationError("Give the prefix length, e.g. /24.", code="invalid_prefix")
    if network.ip != network.network:
        raise ValidationError(
            f"{value} is not a network address; did you mean {network.cidr}?",
            code="not_network_address",
        )
    reason = martian_reason(network)
    if reason:
        raise ValidationError(
            f"{network.cidr} cannot be a public network: {reason}.", code="martian_prefix"
        )


def validate_mac_unicast(value: str) -> None:
    try:
        if not MAC_RE.match(value or ""):
            raise ValueError(value)
        mac = netaddr.EUI(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(
            "Enter a MAC address such as 02:00:0a:00:00:01.", code="invalid_mac"
        ) from None
    if mac.version != 48:
        raise ValidationError("Enter a 48-bit MAC address.", code="invalid_mac")
    if mac.words[0] & 0x01:
        raise ValidationError(
            "This is a multicast MAC (lowest bit of the first octet set); a gateway needs "
            "a unicast MAC.",
            code="multicast_mac",
        )
    if int(mac) == 0:
        raise ValidationError("The all-zero MAC cannot be a gateway MAC.", code="invalid_mac")


def parse_ip(value) -> netaddr.IPAddress | None:
    """The address, or None when `value` is not one (its field validator reports that)."""
    try:
        return netaddr.IPAddress(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def device_address_kind(value) -> str:
    """What keeps `value` from being a device's own unicast address ("loopback"...), or ""
    when it can be one (or is no address: its field validator reports that)."""
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return ""
    kinds = [
        ("unspecified", address.is_unspecified),
        ("broadcast", address == ipaddress.IPv4Address("255.255.255.255")),
        ("loopback", address.is_loopback),
        ("multicast", address.is_multicast),
        ("link-local", address.is_link_local),
        ("reserved", address.is_reserved),
    ]
    return next((kind for kind, matches in kinds if matches), "")


def validate_device_address(value) -> None:
    """A device's underlay or peering address: unicast, not 0.0.0.0, 255.255.255.255,
    loopback, multicast, link-local or reserved (BGP sessions run to it)."""
    kind = device_address_kind(value)
    if kind:
        raise ValidationError(
            f"{value} is a {kind} address; give the device's unicast address.",
            code="not_unicast",
        )


def is_config_name(value) -> bool:
    return isinstance(value, str) and bool(NAME_RE.match(value))


def normalize_mac(value: str) -> str:
    mac = netaddr.EUI(value)
    mac.dialect = netaddr.mac_unix_expanded
    return str(mac).lower()


validate_host = RegexValidator(
    re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252})\Z"),
    "Enter a host name or IP address.",
    code="invalid_host",
)

validate_absolute_path = RegexValidator(
    re.compile(r"^/[A-Za-z0-9._/-]{1,250}\Z"),
    "Enter an absolute path of letters, digits, dots, dashes, underscores and slashes.",
    code="invalid_path",
)

validate_name_prefix = RegexValidator(
    re.compile(r"^[a-z][a-z0-9-]{0,15}\Z"),
    "Enter up to 16 lowercase letters, digits and dashes, starting with a letter.",
    code="invalid_prefix",
)

validate_username = RegexValidator(
    re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z"),
    "Enter a login name of letters, digits, dots, dashes and underscores.",
    code="invalid_username",
)


def validate_bird_path(value: str, prefixes: list[str]) -> None:
    """An absolute, normalised path inside one of `prefixes` (directories ending in /).

    The product writes BIRD configs there as root: `/etc/shadow` or `/etc/bird/../passwd`
    are refused, whatever the characters.
    """
    validate_absolute_path(value)
    parts = value.split("/")[1:]
    if any(part in ("", ".", "..") for part in parts):
        raise ValidationError(
            "Give a normalised path: no empty, '.' or '..' parts, no trailing slash.",
            code="path_not_normalised",
        )
    if not any(value.startswith(prefix) and len(value) > len(prefix) for prefix in prefixes):
        raise ValidationError(
            f"BIRD files must be under {' or '.join(prefixes)} (FABRIC_BIRD_PATH_PREFIXES).",
            code="path_not_allowed",
        )


def validate_ssh_host_key(value: str) -> None:
    """One OpenSSH public key line (`ssh-ed25519 AAAA... [comment]`), as ssh-keyscan or a
    host's /etc/ssh/ssh_host_*_key.pub gives it."""
    import asyncssh

    if not value:
        return
    if "\n" in value.strip() or "\r" in value:
        raise ValidationError("Give one public key line.", code="invalid_host_key")
    try:
        asyncssh.import_public_key(value.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise ValidationError(
            "Enter an OpenSSH public key line, e.g. `ssh-ed25519 AAAA...` (ssh-keyscan -t "
            "ed25519 HOST, or the host's /etc/ssh/ssh_host_ed25519_key.pub).",
            code="invalid_host_key",
        ) from None
