"""The monthly budget and ROI report: built from the ledger (``monthly``, parsing the stats hash in
``stats``; ``savings`` from the month's events when asked), its model (``model``) and JSON shape
(``json_shape``), its advice (``advice``), its renderers (``render``: text, Markdown, HTML, JSON) and
the dashboard's SVG charts (``charts``).

It reads the ledger's counters (one round trip per report; the events once for the savings), never
writes; it imports ``ledger``, ``budget``, ``config``, ``catalog`` and ``core``, never ``client``,
``alerts`` or ``runs``.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

# ``render`` (the function) is not re-exported here: it would be shadowed by the ``render`` submodule.
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "Report": "monthly",
        "ReportError": "monthly",
        "build_report": "monthly",
        "resolve_month": "monthly",
        "render_html": "render",
        "render_json": "render",
        "render_markdown": "render",
        "render_text": "render",
    },
)
