"""The Anthropic Models API: which models exist and where each is in its lifecycle.

Owns the one call that asks (``GET /v1/models``, every page, retired models included, through
the anthropic SDK's ``client.models.list()``; an id the list does not carry is looked up with
``GET /v1/models/{id}``, which also resolves aliases) and the translation of its answers and
errors into ``ModelInfo`` and ``ModelsAPIError``. The API key and base URL come from the
caller or, as in the SDK, ``$ANTHROPIC_API_KEY`` / ``$ANTHROPIC_BASE_URL``.

It must not know the budget config or decide what a lifecycle state means for it
(``catalog.lifecycle`` does); it never prints, and no message it builds carries the API key or
credentials in the base URL. The SDK is imported only when a call is made.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from acme_ci_budget.core.errors import AcmeError

ACTIVE, DEPRECATED, RETIRED = "active", "deprecated", "retired"
STATES = (ACTIVE, DEPRECATED, RETIRED)
DEFAULT_BASE_URL = "https://api.anthropic.com"
# The list's largest page (the API's default is 20): one request covers today's catalogue.
PAGE_LIMIT = 1000
DEFAULT_TIMEOUT = 30.0


class ModelsAPIError(AcmeError, RuntimeError):
    """The Models API could not be asked or refused to answer; the message is safe to print."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class ModelInfo:
    """One model as the Models API describes it. A model without lifecycle fields is active."""

    id: str
    display_name: str = ""
    state: str = ACTIVE
    deprecated_at: date | None = None
    retires_at: date | None = None


@dataclass(frozen=True)
class Catalogue:
    """The models the API answered for: every listed one by id, and ``wanted`` ids resolved one by one."""

    base_url: str
    models: Mapping[str, ModelInfo]
    resolved: Mapping[str, ModelInfo]  # an id (alias or not) the list lacked -> what GET /v1/models/{id} said

    def get(self, model: str) -> ModelInfo | None:
        return self.models.get(model) or self.resolved.get(model)


def safe_base_url(url: str | None) -> str:
    """The base URL without user info, query or fragment (a proxy URL may carry credentials)."""
    text = (url or DEFAULT_BASE_URL).strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<base URL>"
    if not parts.scheme or not parts.hostname:
        return "<base URL>"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
    except ValueError:
        return None


def model_info(raw: Any) -> ModelInfo:
    """A ``ModelInfo`` from the SDK's object or a plain dict. Older SDKs lack the lifecycle fields (the
    pydantic model keeps unknown fields as extras, so getattr still finds them when the API sends them)."""
    get = raw.get if isinstance(raw, Mapping) else lambda name: getattr(raw, name, None)
    state = str(get("lifecycle") or ACTIVE).lower()
    return ModelInfo(
        id=str(get("id")),
        display_name=str(get("display_name") or ""),
        state=state if state in STATES else ACTIVE,
        deprecated_at=_as_date(get("deprecated_at")),
        retires_at=_as_date(get("retires_at")),
    )


class ModelsAPI:
    """``catalogue(wanted)``: every model the key can see, in every lifecycle state.

    ``client`` is an ``anthropic.Anthropic`` (tests pass one aimed at the loopback fake); without
    one it is built from ``api_key``/``base_url`` or the SDK's environment variables.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._base_url = base_url
        self.timeout = timeout

    @property
    def base_url(self) -> str:
        if self._client is not None:
            return safe_base_url(str(getattr(self._client, "base_url", "") or ""))
        return safe_base_url(self._base_url or os.environ.get("ANTHROPIC_BASE_URL"))

    def client(self) -> Any:
        if self._client is None:
            key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise ModelsAPIError("no API key: set ANTHROPIC_API_KEY (the Models API needs one)")
            import anthropic

            # The SDK's retries cover 429/5xx/529 and connection drops; a listing is idempotent.
            self._client = anthropic.Anthropic(
                api_key=key, base_url=self._base_url or None, max_retries=2, timeout=self.timeout
            )
        return self._client

    def catalogue(self, wanted: Iterable[str] = ()) -> Catalogue:
        """Every listed model, then each ``wanted`` id the list lacks resolved by id (None: unknown)."""
        client = self.client()
        try:
            # `lifecycle` filters the list: without it retired models are left out, and a retired model
            # would look unknown. Sent as extra_query so SDKs older than the parameter send it too.
            pages = client.models.list(limit=PAGE_LIMIT, extra_query={"lifecycle": list(STATES)})
            models = {info.id: info for info in (model_info(m) for m in pages)}
            resolved: dict[str, ModelInfo] = {}
            for model in dict.fromkeys(wanted):
                if model not in models:
                    found = self._retrieve(client, model)
                    if found is not None:
                        resolved[model] = found
        except ModelsAPIError:
            raise
        except Exception as exc:
            raise self._translate(exc) from None
        return Catalogue(self.base_url, models, resolved)

    def check_key(self) -> None:
        """One cheap authenticated call (``GET /v1/models?limit=1``) to learn whether the key is good before
        anyone types a prompt; raises ``ModelsAPIError`` (``status_code`` 401/403 for a refused key)."""
        client = self.client()
        try:
            client.models.list(limit=1)
        except Exception as exc:
            raise self._translate(exc) from None

    def _retrieve(self, client: Any, model: str) -> ModelInfo | None:
        import anthropic

        try:
            return model_info(client.models.retrieve(model))
        except anthropic.NotFoundError:
            return None

    def _translate(self, exc: BaseException) -> BaseException:
        try:
            import anthropic
        except ImportError:  # pragma: no cover - anthropic is a dependency
            return exc
        where = f"the Models API at {self.base_url}"
        if isinstance(exc, anthropic.APIStatusError):
            code = exc.status_code
            kind = getattr(exc, "type", None) or ""
            detail = _api_message(exc)
            hint = ""
            if code == 401:
                hint = " (check ANTHROPIC_API_KEY)"
            elif code == 403:
                hint = " (the key may not read models: check its workspace and permissions)"
            return ModelsAPIError(
                f"{where} answered {code} {kind}{': ' + detail if detail else ''}{hint}".replace("  ", " "),
                status_code=code,
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return ModelsAPIError(f"{where} did not answer within {self.timeout:g} s")
        if isinstance(exc, anthropic.APIConnectionError):
            return ModelsAPIError(f"could not reach {where} ({type(exc.__cause__ or exc).__name__})")
        return exc


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return error["message"][:300]
    return ""
