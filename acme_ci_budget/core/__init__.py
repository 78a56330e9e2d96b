"""The bottom layer: money, tokens, errors, redaction, bounded file reads, packaged data paths,
strict YAML, path globs, message text, frozen records built by field copy.

Every other layer may import ``core``; ``core`` imports no other part of the project and no heavy
library at import time. Import the modules directly (``acme_ci_budget.core.money``); the names below
are re-exported lazily for convenience.
"""

from __future__ import annotations

from acme_ci_budget.core.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "AcmeError": "errors",
        "UsageError": "errors",
        "NANO_PER_USD": "money",
        "fmt_usd": "money",
        "usd_to_nano": "money",
        "nano_to_usd": "money",
        "estimate_tokens": "tokens",
        "estimate_messages_tokens": "tokens",
        "redact_url": "redact",
        "scrub": "redact",
        "glob_regex": "globs",
        "path_matches": "globs",
        "content_text": "text",
        "reply_text": "text",
    },
)
