"""The text we post on GitHub: hidden markers, finding keys, and model text made safe to post.

Owns the hidden markers (the sticky comment's workflow, the reviewed head, each inline finding's key),
``neutralize`` (model- or PR-written text that can neither fake a marker nor ping, nor load an image),
inline code for untrusted paths, and cutting a comment to GitHub's size limit. Pure text: it must not
call GitHub, nor lay out the comment (``templates/review_comment.md.j2`` does).
"""

from __future__ import annotations

import hashlib
import re

MARKER_PREFIX = "acme-ci-budget:"
# GitHub refuses issue comments longer than this many characters.
COMMENT_LIMIT = 65_536

STATE_RE = re.compile(r"<!-- acme-ci-budget:state reviewed=([A-Za-z0-9._-]{1,100}) -->")
FINDING_RE = re.compile(r"<!-- acme-ci-budget:finding ([0-9a-f]{12}) -->")


def sticky_marker(workflow_id: str) -> str:
    """The hidden line that identifies a workflow's sticky comment."""
    return f"<!-- {MARKER_PREFIX}review workflow={workflow_id} -->"


def state_marker(reviewed_head: str | None) -> str:
    """The hidden line recording the last head SHA that was actually reviewed ("-" for none yet)."""
    return f"<!-- {MARKER_PREFIX}state reviewed={reviewed_head or '-'} -->"


def reviewed_head(body: str) -> str | None:
    match = STATE_RE.search(body or "")
    if match is None or match.group(1) == "-":
        return None
    return match.group(1)


def finding_key(path: str, line: int | None, title: str) -> str:
    return hashlib.sha1(f"{path}\0{line}\0{title}".encode()).hexdigest()[:12]


def finding_marker(key: str) -> str:
    return f"<!-- {MARKER_PREFIX}finding {key} -->"


_MENTION = re.compile(r"(?<![\w`/])@(?=[A-Za-z0-9])")
_RISKY_TAGS = re.compile(r"<(?=/?\s*(?:img|picture|source|video|audio|iframe|object|embed|details|summary|a)\b)",
                         re.IGNORECASE)
_IMAGE = re.compile(r"!\[")
_MARKER_WORD = re.compile(re.escape(MARKER_PREFIX), re.IGNORECASE)


def neutralize(text: str) -> str:
    """Model-written (or PR-written) text made safe to put in a comment.

    HTML comments are escaped, so the text can never carry (or fake) a hidden marker; the marker
    prefix is broken as well. @mentions get a zero-width space after the "@", so nobody is
    notified or pinged by a model. Images and raw media/link tags are defused: an injected image
    URL would otherwise make every reader's browser fetch it.
    """
    text = text or ""
    text = text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")
    text = _MARKER_WORD.sub("acme-ci-budget&#58;", text)
    text = _MENTION.sub("@\u200b", text)
    text = _RISKY_TAGS.sub("&lt;", text)
    return _IMAGE.sub("!\\[", text)


def md_code(text: str, limit: int = 200) -> str:
    """Untrusted short text (a file path) as one inline code span."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text)).replace("`", "'")
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return f"`{clean}`"


def fit_comment(body: str, limit: int = COMMENT_LIMIT) -> str:
    """Cut a comment to GitHub's size limit, with a note, keeping the hidden markers at the top."""
    if len(body) <= limit:
        return body
    note = "\n\n_(comment cut to GitHub's 65,536-character limit)_\n"
    return body[: limit - len(note)] + note
