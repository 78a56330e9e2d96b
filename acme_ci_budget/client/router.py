"""Task routing: which model a task goes to, how many output tokens it may ask for, and why.

Owns the routing rules of a workflow (``workflows.<id>.routing`` in the config), applied in
this order, the first that fires deciding the model and being reported as the reason:

1. explicit context: ``{"is_complex": True}`` -> complex model, ``{"is_simple": True}`` -> simple model;
2. input size: the request's input, measured with THE estimator (``acme_ci_budget.core.tokens``, the one
   the ledger holds against), above ``threshold_tokens`` -> complex model;
3. complexity keywords, matched as whole words, case-insensitively ("design" matches "Design the
   API" and "re-design", not "designated" or "designs") -> complex model;

   A change (a review) is routed on what it is, not on what its author writes about it: its
   context carries ``changed_paths`` (every path the change touches, old names of renames too)
   and ``change_tokens`` (the whole reviewable diff before clipping), and rules 2-3 become
   2a. a changed path matching ``routing.complex_paths`` (absent: the built-in security globs,
       ``diffs.SECURITY_GLOBS``) or ``review.escalate_globs`` -> complex model, the reason naming
       the path and the glob;
   2b. ``change_tokens`` above ``threshold_tokens`` -> complex model.
   Keywords never route a change, and neither does the prompt's size: the PR title and
   description are in the prompt, and an author could otherwise buy the dearer model with a word
   ("security") or a long description. Globs follow ``diffs.glob_regex``: ``**`` as a whole
   segment spans any number of directories, ``*``/``?``/``[...]`` stay within one, a glob with
   no ``/`` matches the file name at any depth, one with a ``/`` is anchored at the repository root.
4. budget pressure: the org budget in its reserve, or the workflow at or past
   ``budget_pressure_pct`` of its month -> the cheapest of the workflow's models (by input + output
   price); complex work that rules 1-3 recognised keeps its model, routine work gets cheaper;
5. otherwise the default model.

``max_tokens`` comes from the config's per-tier table (``routing.max_tokens.{simple,default,complex}``).
The router never reads Redis itself, so a ``TaskRouter()`` works without a ledger. Budget pressure
is either passed in (``pressure=``, e.g. from the ledger's ``pressure()`` read) or, with none, left
to the ledger: a decision that rule 4 could still change names its cheaper model in
``pressure_model``, the client offers that model to ``reserve``, which picks by the live counters
in the same script that holds the money, and ``under_pressure`` turns the decision into the
downgraded one with the same reason wording. It must not reserve, call a model or price a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from acme_ci_budget.catalog.pricing import price_for
from acme_ci_budget.client.result import CHANGE_TOKENS, CHANGED_PATHS
from acme_ci_budget.config import Config, Routing, load_config
from acme_ci_budget.core.tokens import estimate_tokens
from acme_ci_budget.diffs.policy import SECURITY_GLOBS, path_matches

# Machine-readable names of the rules, in the order they are tried.
RULE_CONTEXT_COMPLEX = "context_complex"
RULE_CONTEXT_SIMPLE = "context_simple"
RULE_THRESHOLD = "threshold"
RULE_KEYWORD = "keyword"
RULE_COMPLEX_PATH = "complex_path"
RULE_PRESSURE = "budget_pressure"
RULE_DEFAULT = "default"

# (org budget in its reserve, share of the workflow's monthly budget spent, 0..1+)
Pressure = tuple[bool, float]

# CHANGED_PATHS / CHANGE_TOKENS, the routing context keys of a change, live in client/result.py: the
# workflows that set them import only the client's result types.
_MAX_PATH_CHARS = 200


@dataclass(frozen=True)
class RouteDecision:
    """The model a task goes to, its output-token allowance, and the human-readable reason."""

    model: str
    max_tokens: int
    reason: str
    rule: str = RULE_DEFAULT
    tier: str = "default"
    # The cheaper model rule 4 would pick if the workflow were under budget pressure; set only on a
    # decision that rule 4 may still change (no explicit pressure given, rules 1-3 did not fire).
    pressure_model: str | None = None


@lru_cache(maxsize=256)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Word-character lookarounds rather than \b, so keywords that start or end with a symbol
    # ("c++", ".net") still match as whole words; inner spaces match any whitespace run.
    body = r"\s+".join(re.escape(part) for part in keyword.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def match_keyword(text: str, keywords: tuple[str, ...] | list[str]) -> str | None:
    """The first keyword found in ``text`` as a whole word (case-insensitive), or None."""
    lowered = None
    folds_alike = True
    for keyword in keywords:
        needle, needle_lower, plain = _needle(keyword)
        if not needle:
            continue
        if lowered is None:
            lowered = text.lower()
            # lower() and the regex's case folding agree on ASCII keywords except for these letters
            # ("ı" and "ſ" fold to i and s) and for text whose lower-casing changes its length ("İ")
            folds_alike = len(lowered) == len(text) and "\u0131" not in text and "\u017f" not in text
        if not (folds_alike and plain):
            if _keyword_pattern(needle).search(text):
                return keyword
            continue
        # A regex that starts with a lookbehind scans character by character (~170 us per keyword on
        # 8 KB); str.find jumps between candidates in C, and only those get the boundary check.
        if _find_whole_word(text, lowered, needle_lower):
            return keyword
    return None


@lru_cache(maxsize=1024)
def _needle(keyword: str) -> tuple[str, str, bool]:
    """(the keyword stripped, lower-cased, and whether str.find can match it: ASCII, one word)."""
    needle = keyword.strip()
    return needle, needle.lower(), needle.isascii() and len(needle.split()) == 1


def _find_whole_word(text: str, lowered: str, needle: str) -> bool:
    """``needle`` in ``lowered`` (``text`` lower-cased, same length) with no word character either side in ``text``."""
    start = 0
    while (at := lowered.find(needle, start)) != -1:
        end = at + len(needle)
        if (at == 0 or not _is_word(text[at - 1])) and (end == len(text) or not _is_word(text[end])):
            return True
        start = at + 1
    return False


def _is_word(ch: str) -> bool:
    # the same set as the regex \w: letters, digits and underscore (Unicode-aware)
    return ch.isalnum() or ch == "_"


def cheapest_model(routing: Routing, overrides: Mapping[str, object] | None = None) -> str:
    """The workflow's cheapest allowed model by per-token input + output price (ties keep config order)."""
    models = routing.models()
    return min(models, key=lambda m: price_for(m, overrides).input + price_for(m, overrides).output)


@dataclass(frozen=True)
class PathMatch:
    """A changed path that matched a complex-path glob, and where that glob is configured."""

    path: str
    glob: str
    source: str

    def describe(self) -> str:
        return f"changed path {_printable(self.path)!r} matches {self.glob!r} ({self.source})"


def _printable(path: str) -> str:
    """A path as one printable line (paths are the change author's text, and may hold newlines)."""
    text = "".join(c if c.isprintable() else "?" for c in path)
    return text if len(text) <= _MAX_PATH_CHARS else text[: _MAX_PATH_CHARS - 1] + "…"


def complex_path_globs(config: Config, workflow_id: str) -> tuple[tuple[str, str], ...]:
    """(glob, source) pairs that send a change of this workflow to the complex model, in match order."""
    routing = config.workflow(workflow_id).routing
    if routing.complex_paths is None:

        own = tuple((glob, "built-in security paths") for glob in SECURITY_GLOBS)
    else:
        own = tuple((glob, f"workflows.{workflow_id}.routing.complex_paths") for glob in routing.complex_paths)
    return own + tuple((glob, "review.escalate_globs") for glob in config.review.escalate_globs)


def complex_path_matches(paths: Iterable[str], globs: Sequence[tuple[str, str]]) -> list[PathMatch]:
    """Every path (in order) that matches one of ``globs``, with the first glob it matches."""

    patterns = tuple(glob for glob, _ in globs)
    if not patterns:
        return []
    found = []
    for path in dict.fromkeys(paths):
        # One combined regex per path; only a matching path pays for finding which glob matched.
        if path_matches(path, patterns):
            glob, source = next((g, s) for g, s in globs if path_matches(path, (g,)))
            found.append(PathMatch(path, glob, source))
    return found


class TaskRouter:
    """Picks a model and ``max_tokens`` for a task from its workflow's routing rules."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load_config()
        self._cheapest_models: dict[str, str] = {}

    def select_model(self, workflow_id: str, prompt: str, context: Mapping[str, Any] | None = None) -> str:
        """The lab's call: just the model name."""
        return self.route(workflow_id, prompt, context).model

    def get_max_tokens(self, workflow_id: str, model: str) -> int:
        """``max_tokens`` for ``model`` from the workflow's per-tier table.

        A model named by several tiers takes the first of default, complex, simple; a model the
        workflow does not route to gets the default tier's allowance.
        """
        routing = self.config.workflow(workflow_id).routing
        for tier in ("default", "complex", "simple"):
            if getattr(routing, f"{tier}_model") == model:
                return routing.max_tokens[tier]
        return routing.max_tokens["default"]

    def route(
        self,
        workflow_id: str,
        prompt: str,
        context: Mapping[str, Any] | None = None,
        pressure: Pressure | None = None,
        input_tokens: int | None = None,
    ) -> RouteDecision:
        """Apply the rules in order (module docstring); the first that fires decides.

        ``input_tokens`` is the whole request's estimate (system + all messages) when the caller
        has it; otherwise ``prompt`` alone is measured. ``pressure`` is ``(org_in_reserve,
        month_share)`` from the ledger; None leaves rule 4 to the ledger's reserve (the decision is
        the default one, naming the cheaper model in ``pressure_model``).
        """
        routing = self.config.workflow(workflow_id).routing
        ctx = context or {}
        tokens = input_tokens if input_tokens is not None else estimate_tokens(prompt or "")

        def decide(tier: str, rule: str, reason: str) -> RouteDecision:
            return RouteDecision(getattr(routing, f"{tier}_model"), routing.max_tokens[tier], reason, rule, tier)

        if ctx.get("is_complex"):
            return decide("complex", RULE_CONTEXT_COMPLEX, "context: is_complex")
        if ctx.get("is_simple"):
            return decide("simple", RULE_CONTEXT_SIMPLE, "context: is_simple")
        if CHANGED_PATHS in ctx:
            hit = self.change_rule(workflow_id, ctx[CHANGED_PATHS], int(ctx.get(CHANGE_TOKENS) or 0))
            if hit is not None:
                return decide("complex", *hit)
        else:
            if tokens > routing.threshold_tokens:
                return decide(
                    "complex", RULE_THRESHOLD, f"input ~{tokens:,} tokens > threshold {routing.threshold_tokens:,}"
                )
            keyword = match_keyword(prompt or "", routing.complexity_keywords)
            if keyword:
                return decide("complex", RULE_KEYWORD, f"keyword {keyword!r}")
        if pressure is None:  # left to the ledger's reserve, which knows the live counters
            cheapest = self._cheapest(workflow_id, routing)
            return RouteDecision(
                routing.default_model, routing.max_tokens["default"], "default", RULE_DEFAULT, pressure_model=cheapest
            )
        default = RouteDecision(routing.default_model, routing.max_tokens["default"], "default", RULE_DEFAULT)
        why = pressure_reason(workflow_id, routing, pressure)
        return _downgraded(default, self._cheapest(workflow_id, routing), why) if why else default

    def under_pressure(self, workflow_id: str, decision: RouteDecision, pressure: Pressure) -> RouteDecision:
        """``decision`` (one with a ``pressure_model``) as rule 4 makes it when the workflow is under ``pressure``.

        The ledger's reserve decides that from the live counters; this gives the model and reason.
        """
        if decision.pressure_model is None:
            raise ValueError(f"{workflow_id}: decision {decision.rule!r} is not one budget pressure may change")
        routing = self.config.workflow(workflow_id).routing
        why = pressure_reason(workflow_id, routing, pressure) or f"{workflow_id} under budget pressure"
        return _downgraded(decision, decision.pressure_model, why)

    def _cheapest(self, workflow_id: str, routing: Routing) -> str:
        # The config never changes under a router, so each workflow's cheapest model is priced once.
        if workflow_id not in self._cheapest_models:
            self._cheapest_models[workflow_id] = cheapest_model(routing, self.config.pricing)
        return self._cheapest_models[workflow_id]

    def change_rule(self, workflow_id: str, paths: Iterable[str], change_tokens: int) -> tuple[str, str] | None:
        """(rule, reason) when a change goes to the complex model on its paths or its size, else None."""
        matches = complex_path_matches(paths, complex_path_globs(self.config, workflow_id))
        if matches:
            more = f" (and {len(matches) - 1} more matching path(s))" if len(matches) > 1 else ""
            return RULE_COMPLEX_PATH, matches[0].describe() + more
        threshold = self.config.workflow(workflow_id).routing.threshold_tokens
        if change_tokens > threshold:
            return RULE_THRESHOLD, f"diff ~{change_tokens:,} tokens before clipping > threshold {threshold:,}"
        return None


def pressure_reason(workflow_id: str, routing: Routing, pressure: Pressure | None) -> str:
    """Why rule 4 fires for ``pressure`` (org in its reserve, or the month's share at its threshold), or ''."""
    if pressure is None:
        return ""
    org_in_reserve, share = pressure
    if org_in_reserve:
        return "org budget in its reserve"
    if share >= routing.budget_pressure_pct:
        return f"{workflow_id} at {share:.1%} of its monthly budget (>= {routing.budget_pressure_pct * 100:g}%)"
    return ""


def _downgraded(decision: RouteDecision, cheapest: str, why: str) -> RouteDecision:
    # The task is routine-sized, so it keeps the default tier's output allowance on the cheaper model.
    reason = f"budget pressure: {why}; cheapest allowed model"
    return RouteDecision(cheapest, decision.max_tokens, reason, RULE_PRESSURE)
