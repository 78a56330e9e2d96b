"""acme_ci_budget.integrations.github against the loopback fake GitHub, through REAL PyGithub.

What is checked: the event is read as Actions writes it (forks included), PR context and files
(GitHub's 3,000-file list cap is detected), the incremental file list (and its fallback when
history was rewritten), base-branch reads, the sticky comment found by its marker and only when
it is ours (a pasted marker does not count), the four comment behaviours, inline comments only
on added lines (deduplicated, with a per-comment fallback), and neutralising model text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github as pygithub
import pytest

from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.integrations import github as gh_mod
from acme_ci_budget.integrations.github import (
    COMMENT_LIMIT,
    GitHubError,
    PullRequestAPI,
    Sticky,
    connect,
    finding_key,
    fit_comment,
    md_code,
    neutralize,
    pull_request_from_event,
    read_event,
    reviewed_head,
    state_marker,
    sticky_marker,
)
from acme_ci_budget.workflows.review import Finding
from tests.fakes.github_server import FakeGitHubServer, pr_file

TOKEN = "ghs_github_test_token_never_logged"
PATCH = "@@ -10,3 +10,4 @@ def f():\n     a = 1\n-    b = 2\n+    b = 3\n+    c = 4\n     return a"
REPO = "acme/app"


@pytest.fixture
def server(fake_github: FakeGitHubServer) -> Iterator[FakeGitHubServer]:
    fake_github.add_repo(REPO)
    yield fake_github


def _api(server: FakeGitHubServer, number: int) -> PullRequestAPI:
    gh = connect(TOKEN, server.url, seconds_between_requests=0, seconds_between_writes=0, retry=None)
    return PullRequestAPI(gh, REPO, number)


def _marker_body(workflow: str = "ci_cd_review", head: str | None = "h1") -> str:
    return f"{sticky_marker(workflow)}\n{state_marker(head)}\nold review"


# --- the event -----------------------------------------------------------------------------------


def _event(tmp_path: Path, payload: dict[str, Any]) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return {"GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": REPO, "GITHUB_EVENT_NAME": "pull_request"}


def _pr_payload(head_repo: str | None = REPO, **pr: Any) -> dict[str, Any]:
    head: dict[str, Any] = {"sha": "h1", "ref": "feature", "repo": {"full_name": head_repo} if head_repo else None}
    return {
        "number": 7,
        "pull_request": {
            "number": 7,
            "draft": False,
            "labels": [{"name": "bug"}],
            "head": head,
            "base": {"ref": "main", "sha": "b1", "repo": {"full_name": REPO}},
            **pr,
        },
        "repository": {"full_name": REPO},
    }


def test_event_of_a_same_repo_pull_request(tmp_path: Path) -> None:
    env = _event(tmp_path, _pr_payload(draft=True))
    info = pull_request_from_event(read_event(env), env)
    assert (info.repo, info.number, info.draft, info.labels, info.is_fork, info.head_sha) == (
        REPO, 7, True, ("bug",), False, "h1",
    )


def test_event_of_a_fork_and_of_a_deleted_fork(tmp_path: Path) -> None:
    env = _event(tmp_path, _pr_payload("forker/app"))
    assert pull_request_from_event(read_event(env), env).is_fork is True
    env = _event(tmp_path, _pr_payload(None))
    assert pull_request_from_event(read_event(env), env).is_fork is True


def test_non_pr_event_and_no_event(tmp_path: Path) -> None:
    env = _event(tmp_path, {"ref": "refs/heads/main", "repository": {"full_name": REPO}})
    assert pull_request_from_event(read_event(env), env) is None
    assert read_event({}) is None


def test_unreadable_event_is_one_line_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match=r"GITHUB_EVENT_PATH .*cannot read the event"):
        read_event({"GITHUB_EVENT_PATH": str(bad)})


# --- context, files, base files ------------------------------------------------------------------


def test_context_and_fork_detection(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 3, title="T", body="B", user="alice", head_sha="h3", base_sha="b3", labels=["x"],
                    files=[pr_file("a.py", PATCH)])
    ctx = _api(server, 3).context()
    assert (ctx.title, ctx.body, ctx.author, ctx.head_sha, ctx.base_ref, ctx.base_sha) == ("T", "B", "alice", "h3", "main", "b3")
    assert ctx.labels == ("x",) and ctx.is_fork is False and ctx.changed_files == 1
    server.add_pull(REPO, 4, head_repo="forker/app", head_sha="f4")
    assert _api(server, 4).context().is_fork is True


def test_files_detects_githubs_3000_file_cap(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 5, files=[pr_file(f"src/f{i}.py", PATCH) for i in range(3100)])
    listed = _api(server, 5).files()
    assert len(listed.files) == 3000
    assert listed.total == 3100 and listed.not_listed == 100
    assert listed.files[0].path == "src/f0.py" and listed.files[0].patch == PATCH
    assert listed.files[0].additions == 2 and listed.files[0].deletions == 1


def test_files_since_incremental_identical_and_rewritten(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 6, head_sha="h2", files=[pr_file("a.py", PATCH), pr_file("b.py", PATCH)])
    server.add_commit(REPO, "h1")
    server.set_compare(REPO, "h1", "h2", files=[pr_file("b.py", PATCH)], commits=["h2"])
    api = _api(server, 6)
    assert [f.path for f in api.files_since("h1", "h2")] == ["b.py"]
    server.set_compare(REPO, "h2", "h2", files=[], commits=["h2"])
    assert api.files_since("h2", "h2") == ()
    server.forget_commit(REPO, "h1")  # force-push: the reviewed head no longer exists
    assert api.files_since("h1", "h2") is None


BASE_PATCH = "@@ -30,3 +30,3 @@ def g():\n     x = 1\n-    y = 2\n+    y = 20\n     return x"


def test_files_since_after_the_author_merged_the_base_branch_in(server: FakeGitHubServer) -> None:
    # reviewed at h1; then main (m2) merged in as m3: compare h1...m3 lists main's files, the PR's list does not
    server.add_pull(REPO, 20, head_sha="h1", base_sha="m1", files=[pr_file("src/a.py", PATCH)])
    server.merge_base_into_pull(
        REPO, 20, merge_sha="m3", base_sha="m2",
        base_files=[pr_file("src/main_only.py", "@@ -0,0 +1 @@\n+x = 1", status="added"), pr_file("src/a.py", BASE_PATCH)],
    )
    api = _api(server, 20)
    assert [f.filename for f in api.repo.compare("h1", "m3").files] == ["src/main_only.py", "src/a.py"]
    assert api.files_since("h1", "m3") == ()  # nothing of the PR's own: nothing to review or pay for

    # one more PR commit on top: compare spans the merge and the push
    pushed = "@@ -10,3 +10,5 @@ def f():\n     a = 1\n-    b = 2\n+    b = 3\n+    c = 4\n+    d = 5\n     return a"
    server.update_pull(REPO, 20, head_sha="h4", files=[pr_file("src/a.py", pushed)])
    since_push = "@@ -12,2 +12,3 @@ def f():\n     c = 4\n+    d = 5\n     return a"
    server.set_compare(REPO, "h1", "h4", commits=["m3", "h4"], files=[
        pr_file("src/main_only.py", "@@ -0,0 +1 @@\n+x = 1", status="added"),
        pr_file("src/a.py", since_push + "\n" + BASE_PATCH),
    ])
    api = _api(server, 20)
    (own,) = api.files_since("h1", "h4")
    assert own.path == "src/a.py" and own.patch == since_push and (own.additions, own.deletions) == (1, 0)
    # an inline comment on main's line is refused with GitHub's body; on the PR's own line it lands
    result = api.post_inline([_finding(31, "src/a.py", "main's line"), _finding(13, "src/a.py", "d")], "h4",
                             {"src/a.py": since_push + "\n" + BASE_PATCH}, lambda f: f.title)
    assert (result.posted, result.skipped) == (1, 1)
    assert "pull_request_review_thread.line could not be resolved" in result.error
    assert [c["line"] for c in server.review_comments(REPO, 20)] == [13]
    with_scope = api.post_inline([_finding(31, "src/a.py", "main again")], "h4", {"src/a.py": own.patch}, str)
    assert (with_scope.posted, with_scope.skipped, with_scope.error) == (0, 1, "")  # never asked: not in scope


def test_a_review_with_a_line_outside_the_diff_gets_githubs_422(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 21, head_sha="h21", files=[pr_file("src/a.py", PATCH)])
    pull = _api(server, 21).pull
    commit = _api(server, 21).repo.get_commit("h21")
    with pytest.raises(pygithub.GithubException) as caught:
        pull.create_review(commit=commit, body="b", event="COMMENT",
                           comments=[{"path": "src/a.py", "line": 31, "side": "RIGHT", "body": "x"}])
    assert caught.value.status == 422
    assert caught.value.data["errors"] == [
        "Pull request review thread line must be part of the diff and Pull request review thread diff hunk can't be blank"
    ]


def test_files_since_falls_back_when_compare_is_capped(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 8, head_sha="h2")
    server.set_compare(REPO, "h1", "h2", files=[pr_file(f"f{i}.py", PATCH) for i in range(300)], commits=["h2"])
    assert _api(server, 8).files_since("h1", "h2") is None


def test_base_file_reads_the_base_ref_only(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 9, head_sha="h9")
    server.set_file(REPO, "main", ".github/acme-budget.yml", "base: true\n")
    server.set_file(REPO, "h9", ".github/acme-budget.yml", "head: true\n")
    api = _api(server, 9)
    assert api.base_file(".github/acme-budget.yml", "main") == "base: true\n"
    assert api.base_file("missing.yml", "main") is None
    with pytest.raises(GitHubError, match="is a directory"):
        api.base_file(".github", "main")
    reads = [r for r in server.requests if r.path.startswith(f"/repos/{REPO}/contents")]
    assert reads and all(r.query.get("ref") == "main" for r in reads)


def test_api_errors_are_one_line_without_the_token(server: FakeGitHubServer) -> None:
    with pytest.raises(GitHubError) as caught:
        _api(server, 404).context()
    assert "GET pull request #404 failed (404" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.status == 404


# --- the sticky comment --------------------------------------------------------------------------


def test_find_sticky_by_marker_newest_first_and_only_ours(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 10)
    server.add_issue_comment(REPO, 10, "unrelated bot comment")
    older = server.add_issue_comment(REPO, 10, _marker_body(head="h0"))
    newest = server.add_issue_comment(REPO, 10, _marker_body(head="h1"))
    # Anyone can paste the marker; a human's copy must not be taken for ours.
    server.add_issue_comment(REPO, 10, _marker_body(head="forged"), user="mallory")
    server.add_issue_comment(REPO, 10, _marker_body("qa_test_gen", "zz"))
    sticky = _api(server, 10).find_sticky("ci_cd_review")
    assert sticky.comment.id == newest
    assert sticky.reviewed_head == "h1"
    assert [c.id for c in sticky.others] == [older]


def test_find_sticky_with_a_token_that_can_read_its_login(server: FakeGitHubServer) -> None:
    server.authenticated_user = "acme-bot"
    server.comment_author = "acme-bot"
    server.add_pull(REPO, 11)
    mine = server.add_issue_comment(REPO, 11, _marker_body(head="h5"))
    server.add_issue_comment(REPO, 11, _marker_body(head="h6"), user="renovate[bot]")
    sticky = _api(server, 11).find_sticky("ci_cd_review")
    assert sticky.comment.id == mine and sticky.reviewed_head == "h5"


def test_under_actions_only_the_actions_bots_marker_comments_are_ours(server: FakeGitHubServer) -> None:
    # GET /user is 403 for a GITHUB_TOKEN; another bot pasting our marker must not be edited or hidden
    server.add_pull(REPO, 30)
    ours = server.add_issue_comment(REPO, 30, _marker_body(head="h1"))  # by github-actions[bot]
    theirs = server.add_issue_comment(REPO, 30, _marker_body(head="h9"), user="renovate[bot]")
    api = _api(server, 30)
    sticky = api.find_sticky("ci_cd_review")
    assert api.own_login() is None
    assert sticky.comment.id == ours and sticky.reviewed_head == "h1" and sticky.others == ()
    api.write_sticky(_marker_body(head="h2"), sticky, "hide-and-new")
    comments = {c["id"]: c for c in server.issue_comments(REPO, 30)}
    assert comments[ours]["minimized_reason"] == "OUTDATED"
    assert comments[theirs]["minimized_reason"] is None and reviewed_head(comments[theirs]["body"]) == "h9"


def test_a_github_apps_bot_login_is_configurable(server: FakeGitHubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.comment_author = "acme-reviewer[bot]"  # an App installation token posts as the App's bot
    server.add_pull(REPO, 31)
    server.add_issue_comment(REPO, 31, _marker_body(head="h0"), user="github-actions[bot]")
    mine = server.add_issue_comment(REPO, 31, _marker_body(head="h1"))
    assert _api(server, 31).find_sticky("ci_cd_review").comment.id != mine  # not configured: not ours
    monkeypatch.setenv("ACB_BOT_LOGIN", "acme-reviewer[bot]")
    sticky = _api(server, 31).find_sticky("ci_cd_review")
    assert sticky.comment.id == mine and sticky.others == ()
    assert PullRequestAPI(None, REPO, 31, bot_login="Acme-Reviewer[bot]").bot_login == "Acme-Reviewer[bot]"


def test_write_sticky_update_edits_in_place(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 12)
    api = _api(server, 12)
    url = api.write_sticky(_marker_body(head="h1"), Sticky(), "update")
    [first] = server.issue_comments(REPO, 12)
    assert url.endswith(f"#issuecomment-{first['id']}")
    api.write_sticky(_marker_body(head="h2"), api.find_sticky("ci_cd_review"), "update")
    [after] = server.issue_comments(REPO, 12)
    assert after["id"] == first["id"] and reviewed_head(after["body"]) == "h2"


@pytest.mark.parametrize(
    ("behavior", "expected"),
    [
        ("new", [(None, "h1"), (None, "h2")]),
        ("hide-and-new", [("OUTDATED", "h1"), (None, "h2")]),
        ("delete-and-new", [(None, "h2")]),
    ],
)
def test_write_sticky_other_behaviors(server: FakeGitHubServer, behavior: str, expected: list) -> None:
    server.add_pull(REPO, 13)
    api = _api(server, 13)
    api.write_sticky(_marker_body(head="h1"), Sticky(), behavior)
    api.write_sticky(_marker_body(head="h2"), api.find_sticky("ci_cd_review"), behavior)
    comments = server.issue_comments(REPO, 13)
    assert [(c["minimized_reason"], reviewed_head(c["body"])) for c in comments] == expected


def test_write_sticky_refuses_unknown_behavior(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 14)
    with pytest.raises(UsageError, match="comment behavior 'replace'"):
        _api(server, 14).write_sticky("x", Sticky(), "replace")
    assert server.issue_comments(REPO, 14) == []


def test_fit_comment_keeps_markers_and_the_limit() -> None:
    body = _marker_body() + "x" * (COMMENT_LIMIT * 2)
    cut = fit_comment(body)
    assert len(cut) <= COMMENT_LIMIT
    assert cut.startswith(sticky_marker("ci_cd_review")) and reviewed_head(cut) == "h1"
    assert fit_comment("short") == "short"


# --- inline comments -----------------------------------------------------------------------------


def _finding(line: int | None, path: str = "src/a.py", title: str = "c is new") -> Finding:
    return Finding(path, line, "medium", title, "body")


def test_inline_only_on_added_lines_and_not_twice(server: FakeGitHubServer) -> None:
    server.add_pull(REPO, 15, head_sha="h15", files=[pr_file("src/a.py", PATCH)])
    api = _api(server, 15)
    patches = {"src/a.py": PATCH}
    findings = [_finding(12), _finding(10, title="context line"), _finding(None), _finding(3, "other.py")]
    result = api.post_inline(findings, "h15", patches, lambda f: f"**{f.title}**")
    assert (result.posted, result.skipped, result.duplicates) == (1, 3, 0)
    [stored] = server.review_comments(REPO, 15)
    assert (stored["path"], stored["line"], stored["commit_id"]) == ("src/a.py", 12, "h15")
    assert stored["body"].startswith("**c is new**")
    assert finding_key("src/a.py", 12, "c is new") in stored["body"]
    again = api.post_inline([_finding(12)], "h15", patches, lambda f: f.title)
    assert (again.posted, again.duplicates) == (0, 1)
    assert len(server.review_comments(REPO, 15)) == 1
    assert len(server.reviews(REPO, 15)) == 1


def test_inline_falls_back_to_single_comments_when_the_review_is_refused(server: FakeGitHubServer) -> None:
    # The PR's own diff (what GitHub checks) lacks line 11 that our local patch claims: the review is 422.
    server.add_pull(REPO, 16, head_sha="h16", files=[pr_file("src/a.py", "@@ -1 +1 @@\n-x\n+y")])
    api = _api(server, 16)
    local = {"src/a.py": "@@ -1,2 +1,3 @@\n-x\n+y\n+z\n+w"}
    result = api.post_inline([_finding(2, title="two"), _finding(1, title="y")], "h16", local, lambda f: f.title)
    assert (result.posted, result.skipped) == (1, 1)
    # GitHub's own body for a single comment outside the diff
    assert "422 Validation Failed: pull_request_review_thread.line could not be resolved" in result.error
    assert [c["line"] for c in server.review_comments(REPO, 16)] == [1]
    assert server.reviews(REPO, 16) == []


# --- safe text -----------------------------------------------------------------------------------


def test_neutralize_defuses_markers_mentions_and_images() -> None:
    hostile = (
        "Hi @alice and @acme/security-team, email a@b.c\n"
        f"{state_marker('evil')}\n{sticky_marker('ci_cd_review')}\n"
        "![x](https://evil.example/?leak=1) <img src=https://evil.example/p.png> </details>\n"
        "`@code` stays code"
    )
    safe = neutralize(hostile)
    assert "<!--" not in safe and "-->" not in safe
    assert reviewed_head(safe) is None
    assert "acme-ci-budget:" not in safe
    assert "@alice" not in safe and "@acme/security-team" not in safe
    assert "@\u200balice" in safe
    assert "a@b.c" in safe  # an e-mail address is not a mention
    assert "![" not in safe and "<img" not in safe.lower() and "</details>" not in safe
    assert "`@code`" in safe


def test_md_code_keeps_one_line_and_no_backticks() -> None:
    assert md_code("a`b\nc.py") == "`a'b?c.py`"
    assert len(md_code("x" * 500)) <= 202


def test_client_options_hook_reaches_pygithub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gh_mod.CLIENT_OPTIONS, "per_page", 7)
    client = connect(None, "http://127.0.0.1:9/api/v3/")
    assert isinstance(client, pygithub.Github)
    assert client.per_page == 7
