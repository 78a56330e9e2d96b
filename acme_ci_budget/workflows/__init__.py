"""The four agent workflows and their prompt templates.

Each workflow is a module here (``review``, ``qa_testgen``, ``dev_assistant``,
``pm_assistant``): a thin layer on the budgeted client (typed as ``client.result.Completer``
where a ``complete`` is all it needs; it never imports ``client.budgeted`` at run time, nor
the ledger, alerts or runs) that owns its system prompt
and the shaping of its task (what goes into the messages, what comes back); the
one-shot tasks (review, QA) send their built ``_task.TaskRequest`` through ``_task.complete``. The
prompts are Jinja templates under ``templates/prompts/`` so that teams edit them
without touching code; this module owns finding and rendering them.

``PromptTemplates`` renders a template by name from, in order, the overrides it
was given (the GitHub layer passes the copies read from the pull request's base
branch, so a PR cannot rewrite its own reviewer) and the packaged templates.
Rendering is sandboxed and strict (an undefined variable is an error, not an
empty string). This module must not call a model, GitHub or Redis.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.resources import templates_dir
from acme_ci_budget.core.templating import environment

# Workflow module name -> the budget config's workflow id it charges by default.
WORKFLOW_IDS: Mapping[str, str] = {
    "review": "ci_cd_review",
    "qa_testgen": "qa_test_gen",
    "dev_assistant": "dev_assistant",
    "pm_assistant": "pm_assistant",
}

REVIEW_SYSTEM = "prompts/review_system.md.j2"
REVIEW_TASK = "prompts/review_task.md.j2"
QA_SYSTEM = "prompts/qa_testgen_system.md.j2"
QA_TASK = "prompts/qa_testgen_task.md.j2"
DEV_SYSTEM = "prompts/dev_assistant_system.md.j2"
PM_SYSTEM = "prompts/pm_assistant_system.md.j2"
REVIEW_COMMENT = "review_comment.md.j2"

# Every template a review run may render: what the GitHub layer reads from the base branch.
REVIEW_TEMPLATES: tuple[str, ...] = (REVIEW_SYSTEM, REVIEW_TASK, REVIEW_COMMENT)
ALL_TEMPLATES: tuple[str, ...] = (REVIEW_SYSTEM, REVIEW_TASK, QA_SYSTEM, QA_TASK, DEV_SYSTEM, PM_SYSTEM, REVIEW_COMMENT)


def data_delimiters() -> tuple[str, str]:
    """Begin/end markers for untrusted text in a prompt; the random token means the text cannot close them."""
    token = secrets.token_hex(8)
    return f"<<<DATA {token}>>>", f"<<<END DATA {token}>>>"


class TemplateError(UsageError):
    """A prompt or comment template is missing or does not render; the message names it and where it came from."""


class PromptTemplates:
    """Templates by name (relative to ``templates/``): ``overrides`` first, then the packaged files.

    ``origins`` says, for display, where each override came from (e.g. ``acme/app@main:templates/...``).
    """

    def __init__(
        self,
        overrides: Mapping[str, str] | None = None,
        directory: str | Path | None = None,
        origins: Mapping[str, str] | None = None,
    ) -> None:
        self.overrides = dict(overrides or {})
        self.directory = Path(directory) if directory is not None else templates_dir()
        self.origins = dict(origins or {})
        self._compiled: dict[str, Any] = {}

    def origin(self, name: str) -> str:
        if name in self.overrides:
            return self.origins.get(name, f"override {name}")
        return str(self.directory / name)

    def _template(self, name: str) -> Any:
        if name in self._compiled:
            return self._compiled[name]
        from jinja2 import TemplateError as JinjaError
        from jinja2 import TemplateNotFound

        # core.templating's one environment: sandboxed, as an override template comes from a repository.
        env = environment(self.directory)
        try:
            overridden = name in self.overrides
            template = env.from_string(self.overrides[name]) if overridden else env.get_template(name)
        except TemplateNotFound:
            raise TemplateError(f"template {name!r} not found under {self.directory}") from None
        except JinjaError as exc:
            line = getattr(exc, "lineno", None)
            where = f" line {line}" if line else ""
            raise TemplateError(f"{self.origin(name)}{where}: template error: {exc.message}") from None
        self._compiled[name] = template
        return template

    def render(self, name: str, **context: Any) -> str:
        """Render ``name``; a missing variable or a template bug raises ``TemplateError`` naming the template."""
        from jinja2 import TemplateError as JinjaError

        template = self._template(name)
        try:
            return template.render(**context)
        except JinjaError as exc:
            raise TemplateError(f"{self.origin(name)}: cannot render: {exc.message}") from None


def default_templates() -> PromptTemplates:
    """The packaged templates, no overrides."""
    return PromptTemplates()
