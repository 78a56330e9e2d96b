"""The fake Models API catalogue: model objects, the default catalogue, and GET /v1/models pages.

Owns: ``model_entry``, ``DEFAULT_MODELS``, ``catalogue_serving`` and the page logic. Must not: send
anything (http_handler.py does).

Fidelity notes:
- GET /v1/models lists a catalogue (``DEFAULT_MODELS`` or ``models=``) as the Models API does:
  newest first, pages of ``limit`` (default 20, 1..1000, else 400) after ``after_id`` / before
  ``before_id``, with ``data``, ``has_more``, ``first_id``, ``last_id``; each model carries
  ``lifecycle`` (active | deprecated | retired), ``deprecated_at`` and ``retires_at``; without a
  ``lifecycle[]`` filter retired models are left out, as in the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.anthropic_server.wire import Reply, error_body


def model_entry(
    model_id: str,
    display_name: str = "",
    *,
    created_at: str = "2026-01-01T00:00:00Z",
    lifecycle: str = "active",
    deprecated_at: str | None = None,
    retires_at: str | None = None,
) -> dict[str, Any]:
    """One Models API object (the fields the SDK's ``ModelInfo`` reads)."""
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name or model_id,
        "created_at": created_at,
        "lifecycle": lifecycle,
        "deprecated_at": deprecated_at,
        "retires_at": retires_at,
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    }


# Newest first, as the API lists them.
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    model_entry("claude-opus-5-5", "Claude Opus 5.5", created_at="2026-09-15T00:00:00Z"),
    model_entry("claude-sonnet-5-5", "Claude Sonnet 5.5", created_at="2026-09-15T00:00:00Z"),
    model_entry("claude-haiku-5-5", "Claude Haiku 5.5", created_at="2026-09-15T00:00:00Z"),
    model_entry(
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        created_at="2025-09-29T00:00:00Z",
        lifecycle="deprecated",
        deprecated_at="2026-09-15T00:00:00Z",
        retires_at="2026-11-30T00:00:00Z",
    ),
    model_entry(
        "claude-3-opus-20240229",
        "Claude Opus 3",
        created_at="2024-02-29T00:00:00Z",
        lifecycle="retired",
        deprecated_at="2025-06-30T00:00:00Z",
        retires_at="2026-01-05T00:00:00Z",
    ),
    model_entry(
        "claude-2.1",
        "Claude 2.1",
        created_at="2023-11-21T00:00:00Z",
        lifecycle="retired",
        deprecated_at="2025-01-21T00:00:00Z",
        retires_at="2025-07-21T00:00:00Z",
    ),
)
_DEFAULT_LIST_STATES = ("active", "deprecated")


def catalogue_serving(*model_ids: str) -> list[dict[str, Any]]:
    """``DEFAULT_MODELS`` plus each of ``model_ids`` it lacks, as an active model (listed first)."""
    known = {m["id"] for m in DEFAULT_MODELS}
    return [model_entry(m) for m in dict.fromkeys(model_ids) if m not in known] + [dict(m) for m in DEFAULT_MODELS]


def _models_page(catalogue: Sequence[Mapping[str, Any]], query: Mapping[str, list[str]]) -> Reply:
    """GET /v1/models: filter by lifecycle, then one page around the cursor."""
    raw_limit = (query.get("limit") or ["20"])[-1]
    try:
        limit = int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        return Reply(400, error_body("invalid_request_error", "limit: Input should be between 1 and 1000"))
    states = query.get("lifecycle[]") or query.get("lifecycle") or list(_DEFAULT_LIST_STATES)
    models = [m for m in catalogue if m.get("lifecycle", "active") in states]
    ids = [m["id"] for m in models]
    after, before = (query.get("after_id") or [None])[-1], (query.get("before_id") or [None])[-1]
    if before is not None:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        page, has_more = models[start:end], start > 0
    else:
        start = ids.index(after) + 1 if after in ids else 0
        page, has_more = models[start : start + limit], start + limit < len(models)
    return Reply(
        200,
        {
            "data": [dict(m) for m in page],
            "has_more": has_more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        },
    )
