"""The budget config and prompt templates a review runs on: the PR's base branch, never its head.

Owns where a review's config and templates come from: for a PR, the base branch's copy of the config
file and of each review template (a PR cannot raise its own budget or rewrite its own prompt), a file
outside the checkout as it is on the runner, and, when the base branch has no config, the starter
config with a notice naming the command that writes one; for a local diff, the config on disk and the
packaged templates. It must not decide budgets, skips or scope, and must not post or print: the
notice is returned for the caller to report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acme_ci_budget.config import Config, load_config, parse_config
from acme_ci_budget.core.resources import starter_config_path
from acme_ci_budget.runs.options import DEFAULT_CONFIG, INIT_COMMAND, ReviewOptions
from acme_ci_budget.workflows import REVIEW_TEMPLATES, PromptTemplates, default_templates


@dataclass(frozen=True)
class BaseConfig:
    """The config, where it came from (for the comment), the starter notice ("" if none) and the templates."""

    config: Config
    source: str
    templates: Any
    notice: str = ""


def repo_path(path: str) -> str | None:
    """``path`` relative to the repository checkout, or None when it points outside it (then it is not the PR's)."""
    root = Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd())
    candidate = Path(path)
    # abspath, not resolve: a symlink the PR adds must not decide where the config comes from.
    full = Path(os.path.abspath(candidate if candidate.is_absolute() else root / candidate))
    try:
        relative = full.relative_to(Path(os.path.abspath(root)))
    except ValueError:
        return None
    return relative.as_posix()


def local_config(options: ReviewOptions) -> BaseConfig:
    """A local diff: the config on disk and the packaged templates."""
    config = load_config(options.config_path)
    return BaseConfig(config, config.path, default_templates())


def base_config(api: Any, ctx: Any, options: ReviewOptions, workflow_id: str) -> BaseConfig:
    """The budget config and the templates as the base branch has them: the PR's head cannot change either."""
    path = options.config_path or DEFAULT_CONFIG
    in_repo = repo_path(path)
    where = f"{ctx.repo}@{ctx.base_ref}"
    notice = ""
    if in_repo is None:
        # A file outside the checkout (e.g. provisioned on the runner) is not the PR's to edit.
        config = load_config(path)
        source = config.path
    else:
        text = api.base_file(in_repo, ctx.base_ref)
        if text is None:
            config, source, notice = _starter(where, in_repo, ctx.base_ref, workflow_id)
        else:
            source = f"{where}:{in_repo}"
            config = parse_config(text, source)
    return BaseConfig(config, source, _base_templates(api, ctx, options.templates_dir, where), notice)


def _base_templates(api: Any, ctx: Any, templates_dir: str, where: str) -> PromptTemplates:
    overrides, origins = {}, {}
    for name in REVIEW_TEMPLATES:
        repo_name = f"{templates_dir.strip('/')}/{name}"
        text = api.base_file(repo_name, ctx.base_ref)
        if text is not None:
            overrides[name] = text
            origins[name] = f"{where}:{repo_name}"
    return PromptTemplates(overrides, origins=origins)


def _starter(where: str, in_repo: str, base_ref: str, workflow_id: str) -> tuple[Config, str, str]:
    """No config on the base branch: the starter config (small budgets, its own ledger namespace), never
    another team's; the notice says so and names the command that writes one."""
    config = load_config(starter_config_path())
    wf = config.workflows.get(workflow_id)
    budget = f"${wf.monthly_usd:,.2f}/month and ${wf.daily_usd:,.2f}/day" if wf else "the starter budgets"
    notice = (
        f"{where} has no {in_repo}, so this review ran on the starter budget config ({budget}, ledger "
        f"namespace {config.namespace!r}), not on budgets this repository set. Write one with "
        f"`{INIT_COMMAND}`, edit it and commit it to {base_ref}."
    )
    return config, f"starter config ({where} has no {in_repo})", notice
