"""Hostname rules shared by the spec loader and the emulator.

Cloudflare accepts a widget hostname as an FQDN or an IPv4/IPv6 address, and documents that
schemes, ports, paths and wildcards "are not valid and will not be accepted". Catching these
offline, with a message that says which rule was broken, beats a 400 in the middle of an apply.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from turnstile_sync.quoting import quoted

MAX_HOSTNAME_LENGTH = 253
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@functools.lru_cache(maxsize=65_536)
def normalise_hostname(raw: str) -> str:
    """Return the canonical (lower-case) form of a widget hostname, or raise ValueError why not."""
    value = raw.lower()
    _refuse_url_parts(raw, value)
    if "%" in value:
        raise ValueError(
            f"{quoted(raw)} includes an IPv6 zone (%...), which only means something locally"
        )
    if ":" in value or value.strip("0123456789.") == "":
        # Only these can be IP addresses; parsing every name as one first would be slow.
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    if ":" in value:
        raise ValueError(f"{quoted(raw)} includes a port; write the hostname only")
    if not raw.isascii():  # raw: the Kelvin sign lower-cases to an ASCII "k"
        raise ValueError(
            f"{quoted(raw)} is not ASCII; write internationalised names in punycode (xn--)"
        )
    if value.endswith("."):
        raise ValueError(f"{quoted(raw)} ends with a dot; write it without the trailing dot")
    if len(value) > MAX_HOSTNAME_LENGTH:
        raise ValueError(f"{quoted(raw)} is longer than {MAX_HOSTNAME_LENGTH} characters")
    labels = value.split(".")
    if all(label.isdigit() for label in labels):
        raise ValueError(f"{quoted(raw)} is not a valid IP address")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(
                f"{quoted(raw)} is not a valid hostname: each dot-separated part must be 1-63 "
                "letters, digits or hyphens, not starting or ending with a hyphen"
            )
    return value


def _refuse_url_parts(raw: str, value: str) -> None:
    """The mistakes people make when they paste a URL where a hostname belongs."""
    if not raw.strip():
        raise ValueError("a hostname must not be empty")
    if raw != raw.strip():
        raise ValueError(f"{quoted(raw)} has leading or trailing whitespace")
    if "://" in value:
        raise ValueError(f"{quoted(raw)} includes a scheme; write the hostname only")
    if "/" in value:
        raise ValueError(f"{quoted(raw)} includes a path; write the hostname only")
    if "*" in value:
        raise ValueError(
            f"{quoted(raw)} is a wildcard; Turnstile hostnames cover subdomains already"
        )
