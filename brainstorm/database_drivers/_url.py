"""Database URLs: their scheme, and a form safe to show anywhere (credentials hidden)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from ._errors import InvalidInput

_SECRET_OPTION = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_MASK = "***"
_SECRET_QUERY_VALUE = re.compile(r"([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*", re.IGNORECASE)


def scheme_of(url: object) -> str:
    """The URL's scheme, lower-cased (`mongodb+srv`, `sqlite`...)."""
    if not isinstance(url, str):
        raise InvalidInput(f"a database URL must be a string, not {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise InvalidInput(f"database URL {redact(url)!r} has no scheme (like mongodb:// or sqlite://)")
    return scheme.lower()


def redact(url: str) -> str:
    """The URL with its user name, password and secret-looking options replaced by '***'.

    Only those parts change: the rest is returned exactly as given.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority = rest[:authority_end]
        if "@" in authority:
            rest = _MASK + "@" + authority.rpartition("@")[2] + rest[authority_end:]
        url = scheme + sep + rest
    return _SECRET_QUERY_VALUE.sub(lambda m: m.group(1) + _MASK, url)


def scrub(text: str, url: str) -> str:
    """`text` (a library's error message, say) with any credential of `url` in it masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    secrets = [parts.netloc.rpartition("@")[0]] if "@" in parts.netloc else []
    secrets += [parts.username or "", parts.password or ""]
    secrets += [v for k, v in parse_qsl(parts.query) if _SECRET_OPTION.search(k)]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text.replace(url, redact(url))
