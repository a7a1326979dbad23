"""Cloudflare's rules for a widget hostname, as the emulator enforces them.

Written apart from the tool's own checker (``turnstile_sync.hostnames``) on purpose, the way moto
keeps its models apart from the clients it serves: if both sides shared one function, a bug in
it would be agreed on by construction and no test could see it. A test feeds both the same
corpus and requires the same verdicts.

The rules: an FQDN or an IPv4/IPv6 address; no scheme, port, path or wildcard ("are not valid
and will not be accepted", Turnstile hostname-management docs). Cloudflare stores hostnames
lower-cased; internationalised names must arrive as punycode (the API takes ASCII).
"""

from __future__ import annotations

import ipaddress
import re

from turnstile_sync.quoting import quoted

_NAME = re.compile(
    r"""\A(?=[^\n]{1,253}\Z)                  # 253 characters at most, all on one line
        (?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)*     # labels: 1-63 of a-z 0-9 -, no edge hyphen
        (?!-)[a-z0-9-]{1,63}(?<!-)\Z""",
    re.VERBOSE,
)
_DOTTED_DIGITS = re.compile(r"\A[0-9.]+\Z")


class HostnameRefused(ValueError):
    """A hostname Cloudflare would not store; the message says which rule it breaks."""


def canonical_hostname(raw: str) -> str:
    """The form Cloudflare stores (lower case, IPv6 compressed), or HostnameRefused."""
    if raw == "" or raw.isspace():
        raise HostnameRefused("hostname is empty")
    if raw != raw.strip():
        raise HostnameRefused(f"{quoted(raw)}: leading or trailing whitespace")
    if not raw.isascii():
        # Checked before lower-casing: a few non-ASCII letters (the Kelvin sign) lower-case
        # to ASCII ones, which would smuggle them past the check.
        raise HostnameRefused(f"{quoted(raw)}: internationalised names must be sent as punycode")
    value = raw.lower()
    for marker, what in (("://", "a scheme"), ("/", "a path"), ("*", "a wildcard")):
        if marker in value:
            raise HostnameRefused(f"{quoted(raw)}: hostnames must not contain {what}")
    if ":" in value:
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError:
            what = "hostnames must not contain a port" if value.count(":") == 1 else "not IPv6"
            raise HostnameRefused(f"{quoted(raw)}: {what}") from None
        if address.scope_id is not None:
            raise HostnameRefused(
                f"{quoted(raw)}: an IPv6 zone (%...) only means something locally"
            )
        return address.compressed
    if _DOTTED_DIGITS.match(value):
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise HostnameRefused(f"{quoted(raw)}: not a valid IPv4 address") from None
    if not _NAME.match(value):
        raise HostnameRefused(f"{quoted(raw)}: not a valid hostname")
    return value
