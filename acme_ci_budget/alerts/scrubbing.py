"""Secrets out of every alert log line, error and event: webhook URLs, routing keys, Redis passwords.

Owns the process-wide log filter (``REDACTOR``) on the alerts' logger and on the HTTP libraries'
(urllib3 logs request paths at DEBUG), the forms of a secret a library might log on its own (a
webhook's path and query), how a webhook is named where it must be named (scheme and host only),
and how an exception is described safely. Matching is ``core.redact.scrub``'s. It must not decide
what is a secret beyond the values it is given, nor send or evaluate anything.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from acme_ci_budget.core.redact import scrub

LOGGER = "acme_ci_budget.alerts"  # every alert module logs here, so the filter sees every line


class RedactSecrets(logging.Filter):
    """Rewrites any record that contains a registered secret."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        with self._lock:
            self.secrets.update(v for v in values if v and len(v) >= 4)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = tuple(self.secrets)
        return scrub(text, secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:
            return True
        scrubbed = self.scrub(text)
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
        return True


REDACTOR = RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "requests", LOGGER):
    logging.getLogger(_name).addFilter(REDACTOR)


def secret_forms(url_or_key: str | None) -> list[str]:
    """The secret and the parts of it a library might log on its own (a webhook's path and query)."""
    if not url_or_key:
        return []
    forms = [url_or_key]
    try:
        parts = urlsplit(url_or_key)
    except ValueError:
        return forms
    if parts.scheme and parts.netloc:
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(tail) > 1:
            forms += [tail, parts.path]
    return forms


def webhook_where(url: str) -> str:
    """A webhook URL safe to show: scheme and host only."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}/***" if parts.hostname else "<webhook>"
    except ValueError:
        return "<webhook>"


def describe(exc: BaseException) -> str:
    """An exception for a log line: its class, and its text scrubbed (none for requests' and urllib3's,
    whose text carries the URL)."""
    text = str(exc)
    if type(exc).__module__.split(".")[0] in ("requests", "urllib3") or not text:
        return exc.__class__.__name__
    return f"{exc.__class__.__name__}: {REDACTOR.scrub(text)[:200]}"


__all__ = ["LOGGER", "REDACTOR", "RedactSecrets", "describe", "secret_forms", "webhook_where"]
