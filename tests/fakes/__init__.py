"""Loopback fakes of the outside services the tests must never call for real.

Owns the fake Anthropic Messages API (anthropic_server) and the fake GitHub REST/GraphQL API
(github_server); each runs on 127.0.0.1 and is driven by the REAL client (anthropic SDK, PyGithub).
Must not contain product logic, and must never forward a request to the network.
"""

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.github_server import FakeGitHubServer

__all__ = ["FakeAnthropicServer", "FakeGitHubServer"]
