"""Loopback fake of the GitHub REST (and a sliver of GraphQL) API, for real PyGithub in tests.

Owns: a loopback server (tests/fakes/loopback.py: 127.0.0.1, free port, one thread per connection) serving a GitHub
Enterprise style API under /api/v3 (GraphQL at /api/graphql), in-memory repositories, pull
requests, files per ref, commits, issue comments, review comments and reviews, seeding helpers,
and a record of every request with the Authorization value redacted. This package re-exports its
public names, so ``from tests.fakes.github_server import FakeGitHubServer, pr_file`` keeps working.

Must not: reach the network, know anything about acme_ci_budget, or keep tokens.

Usage::

    with FakeGitHubServer() as gh:
        gh.add_repo("acme/app")
        gh.add_pull("acme/app", 7, head_sha="h1", base_sha="b1",
                    files=[pr_file("a.py", "@@ -1 +1 @@\\n-x\\n+y")])
        g = github.Github(base_url=gh.url, auth=github.Auth.Token("t"))   # or GITHUB_API_URL=gh.url
        pr = g.get_repo("acme/app").get_pull(7)

Modules (one job each; each module's docstring carries the fidelity notes for what it implements):
- state: API paths and limits, the in-memory records, RecordedRequest.
- replies: GitHub's error body (_HttpError) and raw replies.
- diffs: pr_file and the lines a review comment may target.
- shapes: the JSON bodies (users, repos, pulls, files, commits, comments, reviews).
- seeding / server: FakeGitHubServer (seeding helpers; lifecycle, configuration, inspection).
- handler_base: GitHub's headers, pagination, repo/pull lookup, ref resolution.
- handler: the routing table, dispatch, recording, 401 for anonymous writes.
- repos, pulls, issue_comments, reviews, contents, graphql: the routes, one resource family each.
Only pull requests exist as issues; plain issues, labels edits, checks and statuses are not served.
"""

from tests.fakes.github_server.diffs import pr_file
from tests.fakes.github_server.server import FakeGitHubServer
from tests.fakes.github_server.state import API_PREFIX, GRAPHQL_PATH, REDACTED, RecordedRequest

__all__ = ["API_PREFIX", "GRAPHQL_PATH", "REDACTED", "FakeGitHubServer", "RecordedRequest", "pr_file"]
