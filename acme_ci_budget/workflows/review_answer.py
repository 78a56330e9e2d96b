"""The review's answer: the model's JSON (fenced or not, whole or cut) read into ``Review`` / ``Finding``.

Owns the answer's types and reading it: fenced blocks first, then the whole text, then any object found
by scanning; severities and their aliases; findings capped and sorted, anchored only to files that were
in the diff; a reply cut mid-way read for what arrived whole (never a half finding); text that is not
the JSON asked for becomes the summary. It must not build prompts or call the model (``review`` does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
_SEVERITY_ALIASES = {"blocker": "critical", "major": "high", "error": "high", "warning": "medium", "minor": "low",
                     "nit": "low", "note": "info", "suggestion": "info"}
MAX_FINDINGS = 25
MAX_FINDING_TITLE = 200
MAX_FINDING_BODY = 4000


@dataclass(frozen=True)
class Finding:
    path: str
    line: int | None
    severity: str
    title: str
    body: str


@dataclass(frozen=True)
class Review:
    """The parsed answer. ``structured`` is False when the model did not answer with the JSON asked for:
    ``summary`` then holds its text and there are no findings."""

    summary: str
    findings: tuple[Finding, ...] = ()
    structured: bool = True


def clip_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def _json_objects(text: str) -> Iterable[Any]:
    """JSON objects in the text: fenced blocks first, then the whole text, then any object found by scanning."""
    for match in _FENCE.finditer(text):
        try:
            yield json.loads(match.group(1))
        except ValueError:
            pass
    stripped = text.strip()
    try:
        yield json.loads(stripped)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        yield obj


def _as_line(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def _severity(value: Any) -> str:
    text = str(value or "").strip().lower()
    if text in SEVERITIES:
        return text
    return _SEVERITY_ALIASES.get(text, "info")


def _finding(raw: Any, known_paths: frozenset[str] | None) -> Finding | None:
    if not isinstance(raw, Mapping):
        return None
    title = str(raw.get("title") or "").strip()
    body = str(raw.get("body") or raw.get("comment") or raw.get("message") or "").strip()
    if not title and not body:
        return None
    path = raw.get("path") or raw.get("file") or ""
    path = str(path).strip().removeprefix("b/") if path else ""
    line = _as_line(raw.get("line"))
    if known_paths is not None and path not in known_paths:
        # A finding about a file that was not in the diff cannot be anchored anywhere.
        line = None
    return Finding(
        path=path,
        line=line if path else None,
        severity=_severity(raw.get("severity")),
        title=clip_text(" ".join(title.split()) or clip_text(" ".join(body.split()), 80), MAX_FINDING_TITLE),
        body=clip_text(body, MAX_FINDING_BODY),
    )


_SUMMARY_KEY = re.compile(r'"summary"\s*:\s*')
_FINDINGS_KEY = re.compile(r'"findings"\s*:\s*\[')


def _cut_object(text: str) -> Mapping[str, Any] | None:
    """What a JSON review cut mid-way still holds whole: its summary string and the findings before the
    cut (each one decoded complete, so a half finding is never shown). None when neither arrived."""
    decoder = json.JSONDecoder()
    obj: dict[str, Any] = {}
    match = _SUMMARY_KEY.search(text)
    try:
        summary = decoder.raw_decode(text, match.end())[0] if match else None
    except ValueError:
        summary = None  # the cut fell inside the summary
    if isinstance(summary, str):
        obj["summary"] = summary
    match = _FINDINGS_KEY.search(text)
    findings: list[Any] = []
    at = match.end() if match else len(text)
    while at < len(text):
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        try:
            item, at = decoder.raw_decode(text, at)
        except ValueError:
            break  # the end of the list, or the half finding the cut left
        findings.append(item)
    if findings:
        obj["findings"] = findings
    return obj or None


def _review_from(obj: Any, known: frozenset[str] | None) -> Review | None:
    if not isinstance(obj, Mapping) or not ("summary" in obj or "findings" in obj):
        return None
    summary = obj.get("summary")
    findings_raw = obj.get("findings") or []
    if not isinstance(summary, (str, type(None))) or not isinstance(findings_raw, list):
        return None
    findings = [f for f in (_finding(item, known) for item in findings_raw) if f is not None]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order[f.severity])
    return Review((summary or "").strip(), tuple(findings[:MAX_FINDINGS]), True)


def parse_review(text: str, known_paths: Iterable[str] | None = None, *, partial: bool = False) -> Review:
    """The model's answer as a ``Review``; text that is not the JSON asked for becomes the summary.

    ``partial``: the reply was cut (or refused) mid-way, so when no whole JSON object parses, the
    summary and the findings that arrived complete are read out of the cut one."""
    known = frozenset(known_paths) if known_paths is not None else None
    for obj in _json_objects(text or ""):
        review = _review_from(obj, known)
        if review is not None:
            return review
    if partial:
        review = _review_from(_cut_object(text or ""), known)
        if review is not None:
            return review
    return Review((text or "").strip() or "(the model returned no text)", (), False)
