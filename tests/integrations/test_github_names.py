"""integrations/github became a package (issue 18): every name the single module had still resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import acme_ci_budget.integrations.github as gh

OLD_NAMES = (
    "ACTIONS_BOT_LOGIN", "BEHAVIORS", "BOT_LOGIN_ENV", "CLIENT_OPTIONS", "COMMENT_LIMIT", "COMPARE_FILES_CAP",
    "DEFAULT_API_URL", "EventPullRequest", "GitHubError", "InlineResult", "MARKER_PREFIX", "PullContext",
    "PullFiles", "PullRequestAPI", "Sticky", "changed_paths", "connect", "finding_key", "finding_marker",
    "fit_comment", "md_code", "neutralize", "pull_request_from_event", "read_event", "reviewed_head",
    "state_marker", "sticky_marker",
)


@pytest.mark.parametrize("name", OLD_NAMES)
def test_every_old_name_resolves(name):
    assert getattr(gh, name) is not None
    assert name in gh.__all__


def test_pull_request_api_keeps_its_comment_methods_and_the_package_stays_lazy():
    for method in ("context", "files", "files_since", "base_file", "own_login", "find_sticky", "write_sticky",
                   "post_inline"):
        assert callable(getattr(gh.PullRequestAPI, method)), method
    probe = ("import sys, acme_ci_budget.integrations.github as g; g.PullRequestAPI; g.neutralize; "
             "print('github' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
