"""The loopback fake GitHub API (tests/fakes/github_server) answers REAL PyGithub as GitHub does.

Other tests rely on this fake to stand in for GitHub, so what is checked here is the contract those
tests lean on: shapes PyGithub parses, errors it raises, pagination, refs, comments, reviews.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import github
import pytest

from tests.fakes.github_server import FakeGitHubServer, pr_file

TOKEN = "ghs_token_must_not_leak"


@pytest.fixture
def fake_github() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer() as server:
        server.add_repo("acme/app")
        yield server


def _gh(server: FakeGitHubServer, **kwargs: Any) -> github.Github:
    # PyGithub throttles to one request per 0.25 s by default; pointless against loopback.
    return github.Github(
        base_url=server.url,
        auth=github.Auth.Token(TOKEN),
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
        **kwargs,
    )


PATCH = "@@ -10,3 +10,4 @@ def f():\n     a = 1\n-    b = 2\n+    b = 3\n+    c = 4\n     return a"


def test_get_repo_and_pull(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull(
        "acme/app",
        42,
        title="Add budget",
        body="Please review",
        draft=True,
        labels=["ai-review", "small"],
        head_sha="abc123",
        head_ref="feature/x",
        head_repo="contrib/app",
        base_sha="def456",
        base_ref="main",
        files=[pr_file("src/a.py", PATCH)],
    )
    repo = _gh(fake_github).get_repo("acme/app")
    assert (repo.full_name, repo.default_branch, repo.fork) == ("acme/app", "main", False)
    pull = repo.get_pull(42)
    assert (pull.number, pull.title, pull.body, pull.draft, pull.state) == (
        42,
        "Add budget",
        "Please review",
        True,
        "open",
    )
    assert [label.name for label in pull.labels] == ["ai-review", "small"]
    assert (pull.head.sha, pull.head.ref, pull.head.repo.full_name) == ("abc123", "feature/x", "contrib/app")
    assert pull.head.repo.fork is True
    assert (pull.base.sha, pull.base.ref, pull.base.repo.full_name) == ("def456", "main", "acme/app")
    assert (pull.additions, pull.deletions, pull.changed_files) == (2, 1, 1)
    assert pull.user.login == "dev"


def test_unknown_repo_and_pull_are_404(fake_github: FakeGitHubServer) -> None:
    client = _gh(fake_github)
    with pytest.raises(github.UnknownObjectException):
        client.get_repo("acme/missing")
    with pytest.raises(github.UnknownObjectException):
        client.get_repo("acme/app").get_pull(999)


def test_pull_files_paginate_fully(fake_github: FakeGitHubServer) -> None:
    files = [pr_file(f"src/module_{i:04d}.py", PATCH) for i in range(350)]
    fake_github.add_pull("acme/app", 1, files=files)
    pull = _gh(fake_github).get_repo("acme/app").get_pull(1)
    fake_github.clear_requests()
    listed = list(pull.get_files())
    assert [f.filename for f in listed] == [f["filename"] for f in files]
    assert listed[0].patch == PATCH
    assert (listed[0].additions, listed[0].deletions, listed[0].changes, listed[0].status) == (2, 1, 3, "modified")
    pages = [r for r in fake_github.requests if r.path == "/repos/acme/app/pulls/1/files"]
    assert len(pages) == 12  # 350 files at GitHub's default 30 a page


def test_pull_files_stop_at_githubs_3000_cap(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 2, files=[pr_file(f"f{i}.txt", "@@ -1 +1 @@\n-a\n+b") for i in range(5000)])
    pull = _gh(fake_github, per_page=100).get_repo("acme/app").get_pull(2)
    assert pull.changed_files == 5000  # the true count, so a client can tell the list was cut
    fake_github.clear_requests()
    listed = list(pull.get_files())
    assert len(listed) == 3000
    assert listed[-1].filename == "f2999.txt"
    assert len(fake_github.requests) == 30
    assert {r.query["per_page"] for r in fake_github.requests} == {"100"}


def test_link_header_and_per_page_cap(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 3, files=[pr_file(f"f{i}", None, status="added") for i in range(250)])
    url = f"{fake_github.url}/repos/acme/app/pulls/3/files?per_page=500&page=2"
    with urllib.request.urlopen(urllib.request.Request(url), timeout=5) as response:
        link = response.headers["link"]
        body = json.load(response)
    assert [f["filename"] for f in body] == [f"f{i}" for i in range(100, 200)]
    assert "patch" not in body[0]  # binary/too-large files carry no patch
    assert 'page=3>; rel="next"' in link and 'page=3>; rel="last"' in link
    assert 'page=1>; rel="first"' in link and 'page=1>; rel="prev"' in link


def test_pull_commits(fake_github: FakeGitHubServer) -> None:
    fake_github.add_commit("acme/app", "c1", "first step")
    fake_github.add_commit("acme/app", "c2", "second step", parents=["c1"])
    fake_github.add_pull("acme/app", 4, head_sha="c2", commits=["c1", "c2"])
    commits = list(_gh(fake_github).get_repo("acme/app").get_pull(4).get_commits())
    assert [(c.sha, c.commit.message) for c in commits] == [("c1", "first step"), ("c2", "second step")]
    assert [p.sha for p in commits[1].parents] == ["c1"]


def test_contents_differ_per_ref(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 5, head_sha="headsha", head_ref="feature", base_sha="basesha")
    fake_github.set_file("acme/app", "main", ".github/acme-budget.yml", "org_monthly_usd: 100\n")
    fake_github.set_file("acme/app", "headsha", ".github/acme-budget.yml", "org_monthly_usd: 999999\n")
    repo = _gh(fake_github).get_repo("acme/app")
    on_base = repo.get_contents(".github/acme-budget.yml", ref="main")
    on_head = repo.get_contents(".github/acme-budget.yml", ref="headsha")
    assert on_base.decoded_content == b"org_monthly_usd: 100\n"
    assert on_head.decoded_content == b"org_monthly_usd: 999999\n"
    assert on_base.sha != on_head.sha
    # A branch name and the SHA it points to read the same tree; no ref means the default branch.
    assert repo.get_contents(".github/acme-budget.yml", ref="feature").decoded_content == on_head.decoded_content
    assert repo.get_contents(".github/acme-budget.yml").decoded_content == on_base.decoded_content
    assert [c.path for c in repo.get_contents(".github", ref="main")] == [".github/acme-budget.yml"]
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("missing.yml", ref="main")
    # GitHub words this 404 differently, so PyGithub raises a plain GithubException, not UnknownObject.
    with pytest.raises(github.GithubException) as caught:
        repo.get_contents(".github/acme-budget.yml", ref="nosuchref")
    assert caught.value.status == 404
    assert caught.value.data["message"] == "No commit found for the ref nosuchref"


def test_fork_head_resolves_in_the_base_repo(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 6, head_sha="forkhead", head_repo="stranger/app")
    fake_github.set_file("stranger/app", "forkhead", "README.md", "from the fork")
    repo = _gh(fake_github).get_repo("acme/app")
    assert repo.get_contents("README.md", ref="forkhead").decoded_content == b"from the fork"
    assert repo.get_contents("README.md", ref="refs/pull/6/head").decoded_content == b"from the fork"


def test_issue_comments_create_list_edit_delete(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 7)
    for i in range(40):
        fake_github.add_issue_comment("acme/app", 7, f"chatter {i}", user="human")
    pull = _gh(fake_github).get_repo("acme/app").get_pull(7)
    created = pull.create_issue_comment("<!-- acme-ci-budget -->\nCost: $0.01")
    assert created.user.login == "github-actions[bot]"
    assert created.user.type == "Bot"
    assert created.html_url.endswith(f"#issuecomment-{created.id}")
    assert created.created_at is not None

    listed = list(pull.get_issue_comments())  # 41 comments: two pages
    assert len(listed) == 41
    assert listed[-1].id == created.id
    pages = [r for r in fake_github.requests if r.method == "GET" and r.path == "/repos/acme/app/issues/7/comments"]
    assert len(pages) == 2

    created.edit("<!-- acme-ci-budget -->\nCost: $0.02")
    assert created.body.endswith("$0.02")
    assert pull.get_issue_comment(created.id).body.endswith("$0.02")
    created.delete()
    assert [c["body"] for c in fake_github.issue_comments("acme/app", 7) if c["user"] != "human"] == []
    with pytest.raises(github.UnknownObjectException):
        pull.get_issue_comment(created.id).body  # noqa: B018 - the attribute access is the request


def test_minimize_comment_via_graphql(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 8)
    pull = _gh(fake_github).get_repo("acme/app").get_pull(8)
    old = pull.create_issue_comment("old report")
    assert old.minimize() is True
    [graphql] = [r for r in fake_github.requests if r.path == "/api/graphql"]
    assert graphql.method == "POST"
    assert "minimizeComment(input: $input)" in graphql.json["query"]
    assert graphql.json["variables"] == {"input": {"subjectId": old.node_id, "classifier": "OUTDATED"}}
    assert fake_github.issue_comments("acme/app", 8)[0]["minimized_reason"] == "OUTDATED"
    assert old.unminimize() is True
    assert fake_github.issue_comments("acme/app", 8)[0]["minimized_reason"] is None


def test_minimize_unknown_node_fails(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 9)
    comment = _gh(fake_github).get_repo("acme/app").get_pull(9).create_issue_comment("x")
    with pytest.raises(github.GithubException):
        comment.minimize(reason="NOT_A_CLASSIFIER")
    comment.delete()
    with pytest.raises(github.UnknownObjectException):
        comment.minimize()


def test_compare_and_rewritten_history(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 10, head_sha="new1", base_sha="base1")
    fake_github.add_commit("acme/app", "old1", "reviewed last time")
    fake_github.set_compare("acme/app", "old1", "new1", files=[pr_file("src/a.py", PATCH)], commits=["new1"])
    repo = _gh(fake_github).get_repo("acme/app")
    comparison = repo.compare("old1", "new1")
    assert comparison.status == "ahead"
    assert comparison.total_commits == 1
    assert [f.filename for f in comparison.files] == ["src/a.py"]
    assert comparison.files[0].patch == PATCH
    assert [c.sha for c in comparison.commits] == ["new1"]
    fake_github.forget_commit("acme/app", "old1")  # force-push: the old head is gone
    with pytest.raises(github.UnknownObjectException):
        repo.compare("old1", "new1").files  # noqa: B018 - the attribute access is the request


def test_compare_caps_files_at_300(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull(
        "acme/app", 11, head_sha="h", base_sha="b", files=[pr_file(f"f{i}", PATCH) for i in range(400)]
    )
    comparison = _gh(fake_github).get_repo("acme/app").compare("b", "h")
    assert len(comparison.files) == 300


def test_review_comments_must_target_the_diff(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 12, head_sha="h12", files=[pr_file("src/a.py", PATCH)])
    pull = _gh(fake_github).get_repo("acme/app").get_pull(12)
    added = pull.create_review_comment("use a constant", "h12", "src/a.py", line=11)
    assert (added.path, added.line, added.commit_id) == ("src/a.py", 11, "h12")
    removed = pull.create_review_comment("why?", "h12", "src/a.py", line=11, side="LEFT")
    assert removed.line == 11
    for bad in ({"line": 99}, {"line": 10, "side": "LEFT", "start_line": 12}):
        with pytest.raises(github.GithubException) as caught:
            pull.create_review_comment("x", "h12", "src/a.py", **bad)
        assert caught.value.status == 422
    with pytest.raises(github.GithubException):
        pull.create_review_comment("x", "h12", "not/in/pr.py", line=1)
    with pytest.raises(github.GithubException):
        pull.create_review_comment("x", "stale-sha", "src/a.py", line=11)
    assert [c["line"] for c in fake_github.review_comments("acme/app", 12)] == [11, 11]


def test_review_with_comments(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 13, head_sha="h13", files=[pr_file("src/a.py", PATCH)])
    pull = _gh(fake_github).get_repo("acme/app").get_pull(13)
    review = pull.create_review(
        body="Budget review", event="COMMENT", comments=[{"path": "src/a.py", "line": 12, "body": "c = 4 is new"}]
    )
    assert review.state == "COMMENTED"
    assert review.body == "Budget review"
    [stored] = fake_github.review_comments("acme/app", 13)
    assert (stored["review_id"], stored["line"], stored["commit_id"]) == (review.id, 12, "h13")
    assert [c.body for c in pull.get_review_comments()] == ["c = 4 is new"]
    with pytest.raises(github.GithubException) as caught:
        pull.create_review(body="x", event="COMMENT", comments=[{"path": "src/a.py", "line": 1, "body": "?"}])
    assert caught.value.status == 422
    assert len(fake_github.reviews("acme/app", 13)) == 1


def test_diff_media_type_and_its_limit(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 14, files=[pr_file("src/a.py", PATCH)])
    fake_github.add_pull("acme/app", 15, files=[pr_file(f"f{i}", PATCH) for i in range(301)])

    def get_diff(number: int) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{fake_github.url}/repos/acme/app/pulls/{number}", headers={"Accept": "application/vnd.github.diff"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    status, text = get_diff(14)
    assert status == 200
    assert text.startswith("diff --git a/src/a.py b/src/a.py\n--- a/src/a.py\n+++ b/src/a.py\n@@ -10,3")
    status, text = get_diff(15)
    assert status == 406
    assert json.loads(text)["errors"][0]["code"] == "too_large"


def test_token_never_recorded_and_user_endpoint_like_actions(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 16)
    client = _gh(fake_github)
    client.get_repo("acme/app").get_pull(16).create_issue_comment("hi")
    with pytest.raises(github.GithubException) as caught:
        client.get_user().login  # noqa: B018 - the attribute access is the request
    assert caught.value.status == 403
    fake_github.authenticated_user = "octocat"
    assert _gh(fake_github).get_user().login == "octocat"
    recorded = json.dumps([dict(r.headers) for r in fake_github.requests])
    assert TOKEN not in recorded
    assert all(r.headers.get("authorization") == "<redacted>" for r in fake_github.requests)


def test_writes_need_authentication(fake_github: FakeGitHubServer) -> None:
    fake_github.add_pull("acme/app", 17)
    anonymous = github.Github(
        base_url=fake_github.url, seconds_between_requests=0, seconds_between_writes=0, retry=None
    )
    pull = anonymous.get_repo("acme/app").get_pull(17)
    with pytest.raises(github.GithubException) as caught:
        pull.create_issue_comment("x")
    assert caught.value.status == 401
    assert fake_github.issue_comments("acme/app", 17) == []
