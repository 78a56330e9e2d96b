"""Fake GitHub GraphQL: only minimizeComment / unminimizeComment.

Owns: POST /api/graphql. Must not: pretend to serve any other query (it answers an error instead).

Fidelity notes:
- GraphQL: only minimizeComment / unminimizeComment (what IssueComment.minimize() sends:
  `mutation Mutation($input: MinimizeCommentInput!) { minimizeComment(input: $input) {...} }`
  with variables {"input": {"subjectId": node_id, "classifier": "OUTDATED"}}). REST bodies do
  not show the minimized state (GitHub's don't either); read it with issue_comments().
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.github_server.handler_base import _HandlerBase

MINIMIZE_CLASSIFIERS = frozenset({"SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED"})


class _GraphQLRoutes(_HandlerBase):
    def _graphql(self, body: Any) -> dict[str, Any]:
        query = body.get("query", "") if isinstance(body, dict) else ""
        variables = (body.get("variables") or {}) if isinstance(body, dict) else {}
        match = re.search(r"\b(minimizeComment|unminimizeComment)\s*\(", query)
        if match is None:
            return {"errors": [{"message": "fake GitHub GraphQL supports only minimizeComment and unminimizeComment"}]}
        mutation = match.group(1)
        arguments = variables.get("input") or {}
        subject = arguments.get("subjectId")
        comment = next(
            (
                c
                for c in [*self.state.issue_comments.values(), *self.state.review_comments.values()]
                if c["node_id"] == subject
            ),
            None,
        )
        if comment is None:
            return {
                "data": {mutation: None},
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "path": [mutation],
                        "message": f"Could not resolve to a node with the global id of '{subject}'",
                    }
                ],
            }
        if mutation == "minimizeComment":
            classifier = arguments.get("classifier")
            if classifier not in MINIMIZE_CLASSIFIERS:
                message = (
                    f"Argument 'classifier' on InputObject 'MinimizeCommentInput' has an invalid "
                    f"value ({classifier}). Expected type 'ReportedContentClassifiers!'."
                )
                return {"errors": [{"message": message}]}
            comment["minimized_reason"] = classifier
            result = {"isMinimized": True, "minimizedReason": classifier.lower()}
            return {"data": {mutation: {"minimizedComment": result}}}
        comment["minimized_reason"] = None
        return {"data": {mutation: {"unminimizedComment": {"isMinimized": False, "minimizedReason": None}}}}
