"""API base URLs: which are usable, and the one form of a URL that may be shown.

Cloudflare's API takes neither a user name and password in the URL nor a query string on the
base URL, and with httpx both are harmful rather than ignored: userinfo becomes an HTTP Basic
``Authorization`` header that replaces the API token, and a query string swallows the API
path (``/client/v4?token=x`` + ``accounts/...`` becomes ``/client/v4?page=1``). Yet people do
paste such URLs, and whatever is printed ends up in CI logs and uploaded artifacts. So a base
URL with userinfo, a query or a fragment is refused, without echoing it, and everything that
prints, logs or records a URL passes it through ``public_url`` as well, so a URL given to the
library directly cannot leak either.
"""

from __future__ import annotations

import re

import httpx

from turnstile_sync.errors import ConfigError
from turnstile_sync.quoting import quoted

BASE_URL_VARIABLE = "CLOUDFLARE_BASE_URL"
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
MAX_URL_LENGTH = 2_048
"""Longer than any real API address; keeps every message that names the URL short."""
_EXAMPLE = "for example https://api.cloudflare.com/client/v4"
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def public_url(url: str) -> str:
    """``url`` with any user name, password, query string and fragment removed: what may be
    printed, logged or written to a file.

    Works on the text, not on a parse, so that a malformed URL or a password holding ``/``,
    ``?`` or ``#`` cannot make part of a credential look like the host or the path: everything
    up to the last ``@`` of the URL goes, and everything from the first ``?`` or ``#``.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    if "@" in rest:
        rest = rest.rsplit("@", 1)[1]
    for mark in "?#":
        rest = rest.split(mark, 1)[0]
    return f"{scheme}://{rest}" if separator else rest


def redact_urls(text: str) -> str:
    """Free text (an exception's message) with every URL in it reduced to ``public_url``."""
    return _URL_IN_TEXT.sub(lambda match: public_url(match.group()), text)


def checked_base_url(url: str, source: str = BASE_URL_VARIABLE) -> str:
    """``url`` without a trailing slash if it is an http(s) URL the client can use; otherwise
    a ConfigError that says what is wrong without repeating any credential it may hold."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ConfigError(
            f"{source} is {len(url):,} characters long; a base URL longer than "
            f"{MAX_URL_LENGTH:,} characters is refused, {_EXAMPLE}"
        )
    if "@" in url:
        raise ConfigError(
            f"{source} contains '@' (a user name or password?); Cloudflare's API does not take "
            "credentials in the URL: remove them and set CLOUDFLARE_API_TOKEN instead"
        )
    if "?" in url or "#" in url:
        raise ConfigError(
            f"{source} has a query string or fragment ('?' or '#'); Cloudflare's API takes "
            f"neither (a token belongs in CLOUDFLARE_API_TOKEN): give the base URL only, {_EXAMPLE}"
        )
    shown = quoted(url)
    if not url.isprintable() or " " in url:
        raise ConfigError(f"{source} {shown} contains spaces or control characters")
    if not url.lower().startswith(("https://", "http://")):
        raise ConfigError(f"{source} {shown} is not an http(s) URL, {_EXAMPLE}")
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes IDNA: 'xn--' labels that are not punycode fail here
    except (httpx.InvalidURL, ValueError) as error:  # idna's errors are ValueErrors too
        raise ConfigError(f"{source} {shown} is not a valid URL ({quoted(str(error))})") from None
    if not host:
        raise ConfigError(f"{source} {shown} has no host name, {_EXAMPLE}")
    if parsed.port is not None and not 1 <= parsed.port <= 65_535:
        raise ConfigError(
            f"{source} {shown} has port {parsed.port:,}; a port is a number from 1 to 65535"
        )
    return url.rstrip("/")
