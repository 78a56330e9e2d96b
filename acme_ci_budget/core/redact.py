"""Secrets out of printed text: the one Redis URL redactor and the shared secret scrubber.

Owns how a Redis URL's password is found and hidden, for every form redis-py accepts
(``redis://:pw@h``, ``redis://user:pw@h``, ``rediss://``, ``unix://:pw@/sock``,
``unix:///sock?password=pw``, ``redis+cluster://user:pw@h1:p,h2:p``, a ``?password=``
query parameter, percent-encoded or ``+``-spaced), and how known secret strings are
replaced by ``***`` in a text. The status header, errors, events, CI masks and the alert
log filter all call these functions; no other module parses a URL for its password.

It must stay import-light (stdlib only), never log, and never return anything that
contains the password: a URL it cannot split safely is shown as ``scheme://***``.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

REDACTED = "***"


def split_url(url: str) -> tuple[str, str, str, str] | None:
    """(``scheme://``, authority, path, rest from ``?`` or ``#``), or None when ``url`` has no ``://``.

    Split the way urllib (and so redis-py) does: the authority ends at the first ``/``, ``?`` or
    ``#``, and its userinfo is everything before the authority's last ``@``. Done by hand because
    urllib rejects cluster URLs with several ``host:port`` pairs.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    end = _first_of(rest, "/?#")
    authority, tail = rest[:end], rest[end:]
    cut = _first_of(tail, "?#")
    return scheme + sep, authority, tail[:cut], tail[cut:]


def _first_of(text: str, chars: str) -> int:
    found = [i for i in (text.find(ch) for ch in chars) if i != -1]
    return min(found) if found else len(text)


def _is_password_key(key: str) -> bool:
    # parse_qs (which redis-py uses) percent-decodes names too: `pass%77ord=` is a password.
    return unquote_plus(key).lower() == "password"


def query_values(rest: str, name: str) -> list[str]:
    """The raw (still encoded) values of query parameter ``name`` in ``rest`` (which starts at ``?``)."""
    query = rest[1:].split("#", 1)[0] if rest.startswith("?") else ""
    values = []
    for pair in query.split("&"):
        key, eq, value = pair.partition("=")
        if eq and value and unquote_plus(key).lower() == name:
            values.append(value)
    return values


def url_passwords(url: str | None) -> list[str]:
    """Every form of the password(s) in ``url``, as written and as decoded, for masking and scrubbing.

    Userinfo passwords are decoded with ``unquote`` (as redis-py does), query values with
    ``unquote_plus`` (as ``parse_qs`` does). A malformed URL whose password holds a raw ``/``,
    ``?`` or ``#`` also yields what sits between ``:`` and its last ``@``.
    """
    if not url:
        return []
    parts = split_url(url)
    if parts is None:
        return []
    _, authority, path, rest = parts
    found: list[str] = []

    def keep(*forms: str) -> None:
        for form in forms:
            if form and form not in found:
                found.append(form)

    userinfo, at, _ = authority.rpartition("@")
    if at:
        _, colon, password = userinfo.partition(":")
        if colon and password:
            keep(password, unquote(password))
    for value in query_values(rest, "password"):
        keep(value, unquote_plus(value))
    loose, at, _ = (authority + path + rest).rpartition("@")
    if at and loose != userinfo:
        _, colon, password = loose.partition(":")
        if colon and password:
            keep(password, unquote(password))
    return found


def redact_url(url: str | None) -> str:
    """``url`` with every password replaced by ``***`` (user, hosts, db and other parameters kept).

    No URL means the embedded ledger. A URL that keeps a raw ``@`` after its authority (a password
    with an unescaped ``/``, ``?`` or ``#``) cannot be split safely and is shown as ``scheme://***``.
    """
    if not url:
        return "embedded"
    parts = split_url(url)
    if parts is None:
        # Not a URL; it may still be `user:secret@host` typed without a scheme.
        return REDACTED if "@" in url or "password" in url.lower() else url
    prefix, authority, path, rest = parts
    query, _, fragment = rest.partition("#")
    if "@" in path or "@" in fragment or ("@" in query and "@" not in authority):
        return prefix + REDACTED
    userinfo, at, hosts = authority.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and password:
            authority = f"{user}:{REDACTED}@{hosts}"
    if query:
        pairs = []
        for pair in query[1:].split("&"):
            key, eq, value = pair.partition("=")
            if eq and value and _is_password_key(key):
                pair = f"{key}={REDACTED}"
            pairs.append(pair)
        query = "?" + "&".join(pairs)
    return prefix + authority + path + query + ("#" + fragment if "#" in rest else "")


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***`` (longest first, so no tail survives)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
