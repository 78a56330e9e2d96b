"""PagerDuty Events API v2 (``POST https://events.pagerduty.com/v2/enqueue``) behind ``responses``.

Owns the answers PagerDuty documents (developer docs "Events API v2 Overview" and the
events-v2 OpenAPI schema in PagerDuty/api-schema):

- 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}``: accepted;
- 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``:
  do not retry (a routing key that is not 32 characters, an unknown ``event_action``, a trigger
  without ``payload.summary``/``source``/``severity``, a severity outside critical/error/warning/
  info, a summary over 1,024 or a dedup_key over 255 characters); a body that is not JSON gets
  ``{"status": "Unrecognized object", "message": "Event object format is unrecognized", ...}``;
- 429: too many events, retry later (the schema documents no body; ``Retry-After`` only when a
  test asks for one); 500/502/503: retry later, with the schema's error object.

It also keeps PagerDuty's alert state per dedup_key (a trigger opens or re-triggers it, a resolve
closes it), so a test can ask whether a page is open. Failures are scripted with ``throttle``,
``server_error`` and ``disconnect``. Must not reach the network or contain product logic.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import requests
import responses

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
_JSON = {"Content-Type": "application/json"}


class FakePagerDutyEvents:
    """The enqueue endpoint on a ``responses.RequestsMock``; ``events`` holds every accepted event."""

    def __init__(self, mock: responses.RequestsMock, url: str = EVENTS_URL) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.alerts: dict[str, str] = {}  # dedup_key -> "triggered" | "acknowledged" | "resolved"
        self.requests = 0
        self._script: deque[tuple[str, int, float | None]] = deque()
        mock.add_callback(responses.POST, url, callback=self._answer)

    def throttle(self, times: int = 1, *, retry_after: float | None = None) -> None:
        """The next ``times`` events get 429 (optionally with ``Retry-After`` seconds)."""
        self._script.extend([("throttle", 429, retry_after)] * times)

    def server_error(self, times: int = 1, status: int = 500) -> None:
        self._script.extend([("error", status, None)] * times)

    def disconnect(self, times: int = 1) -> None:
        """The next ``times`` requests get no HTTP answer (a network error)."""
        self._script.extend([("disconnect", 0, None)] * times)

    def is_open(self, dedup_key: str) -> bool:
        return self.alerts.get(dedup_key) in ("triggered", "acknowledged")

    def _answer(self, request: Any) -> Any:
        self.requests += 1
        if self._script:
            kind, status, retry_after = self._script.popleft()
            if kind == "disconnect":
                return requests.exceptions.ConnectionError("Connection aborted.")
            if kind == "throttle":
                return 429, ({"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}), ""
            body = {"status": "Internal Server Error", "message": "An error occurred while processing the event"}
            return status, _JSON, json.dumps(body)
        try:
            event = json.loads(request.body or b"")
        except ValueError:
            event = None
        if not isinstance(event, dict):
            body = {
                "status": "Unrecognized object",
                "message": "Event object format is unrecognized",
                "errors": ["JSON parse error"],
            }
            return 400, _JSON, json.dumps(body)
        errors = _validate(event)
        if errors:
            return 400, _JSON, json.dumps({"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        key = str(event.get("dedup_key") or f"generated-{len(self.events) + 1}")
        action = event["event_action"]
        if action == "trigger":
            self.alerts[key] = "triggered"
        elif key in self.alerts and self.alerts[key] != "resolved":  # follow-ups to no open alert are dropped
            self.alerts[key] = "acknowledged" if action == "acknowledge" else "resolved"
        self.events.append(event)
        return 202, _JSON, json.dumps({"status": "success", "message": "Event processed", "dedup_key": key})


def _validate(event: dict[str, Any]) -> list[str]:
    errors = []
    if len(str(event.get("routing_key") or "")) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is missing or blank" if not action else "'event_action' is invalid")
    if len(str(event.get("dedup_key") or "")) > 255:
        errors.append("'dedup_key' is too long (maximum 255 characters)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        for name in ("summary", "source", "severity"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if payload.get("severity") and payload["severity"] not in SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        if len(str(payload.get("summary") or "")) > 1024:
            errors.append("'payload.summary' is too long (maximum 1024 characters)")
    return errors


__all__ = ["EVENTS_URL", "FakePagerDutyEvents"]
