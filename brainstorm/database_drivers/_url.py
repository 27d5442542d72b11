"""Database URLs: their scheme, and a form safe to show anywhere (credentials hidden).

Credentials are found the way pymongo's `uri_parser` reads a connection string, and then some:

- pymongo takes as user information everything before the LAST '@' of the part before the first
  '/' or '?' (`user:pass@hosts/db?options`), and checks no other character: a password may hold
  '#', and an unescaped '@' or ':' in it is refused only after the split;
- a password with an unescaped '/' or '?' (`mongodb://u:pa/ss@host/db`) is misread by pymongo (as
  hosts and a database, or options), but it is still a password the user typed. So here the user
  information is everything between '://' (or the start, for a URL without a scheme) and the last
  '@' of the URL. An '@' inside an option value then hides the hosts as well: showing less is the
  price of never showing a password. A URL whose part after '://' starts with '/' (`sqlite:////a@b.db`)
  has no hosts, hence no user information, for pymongo or here.
- option values are masked when the option's name holds `pass`, `secret`, `token` or `key`, and the
  values inside `authMechanismProperties` (`AWS_SESSION_TOKEN:<token>`), with options separated by
  '&' or ';' as pymongo accepts, and no fragment ('#' is part of a value, as pymongo reads it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from ._errors import InvalidInput

_MASK = "***"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+._-]*")
_SECRET_OPTION = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_PROPERTIES_OPTION = "authmechanismproperties"
_PROPERTY_NAME = re.compile(r"[A-Za-z0-9_]+")
_OPTION_SEPARATOR = re.compile(r"([&;])(?=[^=&;]*=)")  # a separator that starts another `name=`
_PIECE_SEPARATOR = re.compile(r"[/?#@:,;&=]")  # where pymongo may cut misread user information
_WORD = "A-Za-z0-9"


@dataclass(frozen=True)
class _Parts:
    """A URL cut where credentials may hide: `prefix` + [`userinfo` '@'] + `hosts_path` + ['?' `query`]."""

    prefix: str
    userinfo: str | None
    hosts_path: str
    query: str | None


def scheme_of(url: object) -> str:
    """The URL's scheme, lower-cased (`mongodb+srv`, `sqlite`...)."""
    if not isinstance(url, str):
        raise InvalidInput(f"a database URL must be a string, not {type(url).__name__}")
    scheme = _scheme(url)
    if scheme is None:
        raise InvalidInput(f"database URL {redact(url)!r} has no scheme (like mongodb:// or sqlite://)")
    return scheme.lower()


def redact(url: str) -> str:
    """The URL with its user information and secret option values replaced by '***'.

    Only those parts change: the rest is returned exactly as given (see the module's docstring for
    what counts as user information).
    """
    parts = _split(url)
    text = parts.prefix + ("" if parts.userinfo is None else _MASK + "@") + parts.hosts_path
    return text if parts.query is None else text + "?" + _redact_query(parts.query)


def scrub(text: str, url: str) -> str:
    """`text` (a library's error message, say) with `url` redacted and every credential of it masked.

    Masked: the user information, the user name and the password, each piece of them that
    pymongo may have misread as a host, port, database or option, and secret option values, both
    as written and percent-decoded. A secret is masked where it is not part of a longer word, so
    that a one-letter user name does not mask every letter of the message.
    """
    text = text.replace(url, redact(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = re.sub(rf"(?<![{_WORD}]){re.escape(secret)}(?![{_WORD}])", _MASK, text)
    return text


def _scheme(url: str) -> str | None:
    """The part before '://' when it is a scheme (a letter, then letters, digits, '+', '.', '_', '-')."""
    scheme, sep, _ = url.partition("://")
    return scheme if sep and _SCHEME.fullmatch(scheme) else None


def _split(url: str) -> _Parts:
    """Cut `url` as described in the module's docstring."""
    scheme = _scheme(url)
    prefix = "" if scheme is None else scheme + "://"
    rest = url[len(prefix) :]
    userinfo: str | None = None
    if "@" in rest and not rest.startswith("/"):
        userinfo, _, rest = rest.rpartition("@")
    hosts_path, sep, query = rest.partition("?")
    return _Parts(prefix, userinfo, hosts_path, query if sep else None)


def _options(query: str) -> list[str]:
    """The query cut into `name=value` items and their separators, alternately (joined, the query)."""
    return _OPTION_SEPARATOR.split(query)


def _redact_query(query: str) -> str:
    items = _options(query)
    return "".join(item if index % 2 else _redact_option(item) for index, item in enumerate(items))


def _redact_option(option: str) -> str:
    name, sep, value = option.partition("=")
    if not sep:
        return option
    if name.lower() == _PROPERTIES_OPTION:
        return f"{name}={','.join(map(_redact_property, value.split(',')))}"
    return f"{name}={_MASK}" if _SECRET_OPTION.search(name) else option


def _redact_property(item: str) -> str:
    """`NAME:value` -> `NAME:***`; anything else (a name pymongo would decode differently) -> `***`."""
    name, sep, _ = item.partition(":")
    return f"{name}:{_MASK}" if sep and _PROPERTY_NAME.fullmatch(name) else _MASK


def _secrets(url: str) -> set[str]:
    """Every credential substring of `url`, as written and percent-decoded, that a message may show."""
    parts = _split(url)
    found: set[str] = set()
    if parts.userinfo is not None:
        user, _, password = parts.userinfo.partition(":")
        found |= {parts.userinfo, user, password, *_PIECE_SEPARATOR.split(parts.userinfo)}
    for option in _options(parts.query or "")[::2]:
        name, _, value = option.partition("=")
        if name.lower() == _PROPERTIES_OPTION:
            found |= {value, *(item.partition(":")[2] for item in unquote_plus(value).split(","))}
        elif _SECRET_OPTION.search(name):
            found.add(value)
    return {form for secret in found for form in (secret, unquote_plus(secret)) if form}
