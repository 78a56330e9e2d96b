"""``acme-ci-budget review``: a budgeted Claude review of a pull request (or a local diff).

Parses options (each also read from the environment variable the GitHub Action sets; an empty
variable means the default), calls ``runs.review.run_review`` and exits with its code. All logic
is in ``acme_ci_budget.runs`` (``review`` orders the run).
"""

from __future__ import annotations

import click

from acme_ci_budget.commands._options import (
    anthropic_key_option,
    check_models_option,
    config_option,
    dry_run_option,
    ephemeral_ledger_option,
    fail_on_block_option,
    max_retries_option,
    redis_option,
    timeout_seconds_option,
    workflow_id_option,
)

BEHAVIORS = ("update", "new", "hide-and-new", "delete-and-new")


@click.command()
@click.option(
    "--repo",
    metavar="OWNER/NAME",
    help="Repository of the PR (outside Actions; with --pr); with --diff-file, the repository the call is "
    "attributed to [default: $GITHUB_REPOSITORY, else none].",
)
@click.option("--pr", "pr", type=click.IntRange(min=1), metavar="N", help="Pull request number (with --repo).")
@click.option(
    "--diff-file",
    type=click.Path(dir_okay=False),
    help="Review a local unified diff instead (no GitHub); the comment is printed.",
)
@workflow_id_option("ci_cd_review")
@dry_run_option("Do everything but the model call and the posting; print the request and its worst-case cost.")
@fail_on_block_option("review")
@click.option(
    "--comment-behavior",
    envvar="ACB_COMMENT_BEHAVIOR",
    type=click.Choice(BEHAVIORS),
    default="update",
    show_default=True,
    help="Sticky comment: edit in place, always new, hide old + new, delete old + new.",
)
@click.option(
    "--incremental/--no-incremental",
    envvar="ACB_INCREMENTAL",
    default=True,
    show_default=True,
    help="Review only the commits since the last reviewed head.",
)
@timeout_seconds_option
@max_retries_option
@check_models_option
@click.option(
    "--inline-comments/--no-inline-comments",
    envvar="ACB_INLINE_COMMENTS",
    default=None,
    help="Also post findings as inline comments on added lines [default: review.inline_comments].",
)
@click.option(
    "--summary-review/--no-summary-review",
    envvar="ACB_SUMMARY_REVIEW",
    default=False,
    help="Put the model's review text in the job summary too (default: the cost table only).",
)
@ephemeral_ledger_option
@click.option(
    "--templates-dir",
    envvar="ACB_TEMPLATES_DIR",
    default="templates",
    show_default=True,
    help="Where the base branch keeps prompt/comment template overrides.",
)
@click.option("--github-api-url", "api_url", envvar="GITHUB_API_URL", help="GitHub API [env GITHUB_API_URL].")
@click.option(
    "--github-token", envvar="GITHUB_TOKEN", show_envvar=True, help="GitHub token (prefer the env var)."
)
@anthropic_key_option
@config_option
@redis_option
@click.pass_context
def review(ctx: click.Context, **params: object) -> None:
    """Review a pull request with Claude under the ci_cd_review budget and post one sticky comment.

    \b
    In GitHub Actions the PR comes from the event (GITHUB_EVENT_PATH); outside it,
    --repo OWNER/NAME --pr N, or --diff-file F for a local diff. The budget config and the
    prompt templates are read from the PR's base branch, never from its head.
    Exit codes: 0 reviewed or skipped (with a notice), 1 blocked with --fail-on-block or the
    model call failed, 2 bad input or config.
    """
    from acme_ci_budget.runs.options import ReviewOptions
    from acme_ci_budget.runs.review import run_review

    options = ReviewOptions(
        workflow_id=params["workflow_id"],
        config_path=params["config_path"],
        redis_url=params["redis_url"],
        api_key=params["api_key"],
        github_token=params["github_token"],
        api_url=params["api_url"],
        repo=params["repo"],
        pr=params["pr"],
        diff_file=params["diff_file"],
        dry_run=bool(params["dry_run"]),
        fail_on_block=bool(params["fail_on_block"]),
        comment_behavior=str(params["comment_behavior"]),
        incremental=bool(params["incremental"]),
        timeout_seconds=params["timeout_seconds"],
        max_retries=int(params["max_retries"]),
        inline_comments=params["inline_comments"],
        summary_review=bool(params["summary_review"]),
        ephemeral_ledger=bool(params["ephemeral_ledger"]),
        check_models=bool(params["check_models"]),
        templates_dir=str(params["templates_dir"]),
    )
    outcome = run_review(options)
    if outcome.exit_code:
        ctx.exit(outcome.exit_code)
