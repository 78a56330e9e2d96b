"""Path globs: one glob language for the config, the diff policy and the router.

Owns the translation of a glob (``**``, ``*``, ``?``, ``[...]``, .gitignore-style anchoring) into a
regex over a POSIX relative path, and matching a path against a list of globs. It sits in ``core`` because
``config`` validates globs and ``diffs`` and ``client.router`` match them; it must not know what the globs
are for (no default glob lists, no policy) and imports nothing from the project.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


class GlobError(ValueError):
    """A glob that cannot be a pattern (empty). The message names the pattern."""


def _segment_regex(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            while i < len(seg) and seg[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < len(seg) and seg[j] in "!^":
                j += 1
            if j < len(seg) and seg[j] == "]":
                j += 1
            j = seg.find("]", j)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = seg[i + 1 : j]
                negate = body[:1] in ("!", "^") and body != ""
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("[", "\\[")
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = j + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> str:
    """Regex source for one glob over a POSIX relative path.

    ``**`` as a whole segment matches zero or more directories; ``*``, ``?`` and ``[...]``
    stay within one segment. A pattern with no ``/`` matches the file name at any depth (as in
    .gitignore); a pattern with a ``/`` is anchored at the repository root; a trailing ``/``
    means everything under that directory.
    """
    if not isinstance(pattern, str) or not pattern.strip("/"):
        raise GlobError(f"empty glob pattern {pattern!r}")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern:
        pattern = "**/" + pattern
    segs = pattern.split("/")
    out: list[str] = []
    for idx, seg in enumerate(segs):
        last = idx == len(segs) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment_regex(seg) + ("" if last else "/"))
    return "".join(out)


@lru_cache(maxsize=512)
def compiled(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled regex matching any of ``patterns`` (None for no patterns); cached."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{glob_regex(p)})" for p in patterns), re.DOTALL)


def path_matches(path: str, patterns: Iterable[str]) -> bool:
    """True if ``path`` matches any of the globs (semantics: see ``glob_regex``)."""
    rx = compiled(tuple(patterns))
    return bool(rx is not None and rx.fullmatch(path))
