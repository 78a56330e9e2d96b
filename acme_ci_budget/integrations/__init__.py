"""Integrations: one module per outside system (a package once it outgrows one module), and nothing of the
budget domain.

``github`` (a package; PyGithub: the PR, its files, the sticky and inline comments), ``gha`` (the Actions runner's
files and workflow commands), ``slack`` (an incoming webhook), ``models_api`` (Anthropic's Models API),
``claude_code`` (Claude Code's result object, stream and execution file, its ``--max-budget-usd`` flag).
They import only ``core`` and the pure diff model (``diffs``: the GitHub files are ``FileChange``s); never
config, ledger, client or alerts. Their libraries (PyGithub, requests, anthropic) are imported lazily.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "GitHubError": "github",
        "PullRequestAPI": "github",
        "SlackPostError": "slack",
        "post_markdown": "slack",
        "ModelsAPI": "models_api",
        "ModelsAPIError": "models_api",
        "ModelInfo": "models_api",
        "Catalogue": "models_api",
        "RunResult": "claude_code",
    },
)
