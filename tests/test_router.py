"""TaskRouter: each rule, their order, whole-word keywords, budget pressure, max_tokens per tier."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acme_ci_budget.config import ConfigError
from acme_ci_budget.pricing import price_for
from acme_ci_budget.router import (
    RULE_CONTEXT_COMPLEX,
    RULE_CONTEXT_SIMPLE,
    RULE_DEFAULT,
    RULE_KEYWORD,
    RULE_PRESSURE,
    RULE_THRESHOLD,
    TaskRouter,
    cheapest_model,
    match_keyword,
)
from acme_ci_budget.tokens import estimate_tokens

HAIKU = "claude-3-5-haiku-20241022"
SONNET = "claude-3-5-sonnet-20241022"
HAIKU3 = "claude-3-haiku-20240307"


@pytest.fixture
def router(default_config) -> TaskRouter:
    return TaskRouter(default_config)


def test_lab_examples(router: TaskRouter) -> None:
    assert router.select_model("dev_assistant", "extract the function name from this code") == HAIKU
    assert router.select_model("dev_assistant", "design the architecture for our microservices") == SONNET


def test_router_without_arguments_uses_the_default_config(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("ACME_BUDGET_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.github/acme-budget.yml here: the packaged default
    router = TaskRouter()
    assert router.select_model("dev_assistant", "design the architecture for our microservices") == SONNET


def test_default_rule(router: TaskRouter) -> None:
    decision = router.route("dev_assistant", "extract the function name from this code")
    assert (decision.model, decision.max_tokens, decision.rule, decision.reason) == (
        HAIKU,
        2048,
        RULE_DEFAULT,
        "default",
    )


def test_explicit_context_wins_over_everything(router: TaskRouter) -> None:
    long_prompt = "design " * 10_000
    simple = router.route("dev_assistant", long_prompt, {"is_simple": True}, pressure=(True, 2.0))
    assert (simple.model, simple.max_tokens, simple.rule) == (HAIKU3, 1024, RULE_CONTEXT_SIMPLE)
    assert simple.reason == "context: is_simple"
    complex_ = router.route("dev_assistant", "hi", {"is_complex": True}, pressure=(True, 2.0))
    assert (complex_.model, complex_.max_tokens, complex_.rule) == (SONNET, 4096, RULE_CONTEXT_COMPLEX)
    assert complex_.reason == "context: is_complex"
    # both set: is_complex is checked first
    assert router.route("dev_assistant", "hi", {"is_complex": True, "is_simple": True}).model == SONNET
    # falsy flags are no signal
    assert router.route("dev_assistant", "hi", {"is_complex": False, "is_simple": 0}).rule == RULE_DEFAULT


def test_threshold_uses_the_shared_estimator(router: TaskRouter) -> None:
    threshold = 6000  # dev_assistant.routing.threshold_tokens
    chars_at = int(threshold * 3.5)  # estimate_tokens is ceil(len / 3.5)
    at_threshold = "x" * chars_at
    above = "x" * (chars_at + 4)
    assert estimate_tokens(at_threshold) == threshold
    assert estimate_tokens(above) > threshold
    assert router.route("dev_assistant", at_threshold).rule == RULE_DEFAULT
    decision = router.route("dev_assistant", above)
    assert (decision.model, decision.rule) == (SONNET, RULE_THRESHOLD)
    assert decision.reason == f"input ~{estimate_tokens(above):,} tokens > threshold 6,000"


def test_threshold_prefers_the_whole_request_estimate(router: TaskRouter) -> None:
    # a short prompt inside a long conversation is still a big input
    decision = router.route("dev_assistant", "and now?", input_tokens=6001)
    assert decision.rule == RULE_THRESHOLD
    assert router.route("dev_assistant", "x" * 50_000, input_tokens=10).rule == RULE_DEFAULT


def test_threshold_comes_before_keywords(router: TaskRouter) -> None:
    decision = router.route("dev_assistant", "design " + "x" * 30_000)
    assert decision.rule == RULE_THRESHOLD


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Design the API", "design"),
        ("DESIGN", "design"),
        ("please re-design this", "design"),
        ("(design)", "design"),
        ("design.", "design"),
        ("we need to refactor, then optimize", "refactor"),
        ("the designated driver", None),
        ("designs and redesigned", None),
        ("undebuggable", None),
        ("securityteam", None),
        ("", None),
    ],
)
def test_keywords_match_whole_words_only(router: TaskRouter, prompt: str, expected: str | None) -> None:
    decision = router.route("dev_assistant", prompt)
    if expected is None:
        assert decision.rule == RULE_DEFAULT, decision
        assert decision.model == HAIKU
    else:
        assert decision.rule == RULE_KEYWORD
        assert decision.model == SONNET
        assert decision.max_tokens == 4096
        assert decision.reason == f"keyword {expected!r}"


def test_keyword_helper_edge_cases() -> None:
    assert match_keyword("we use C++ here", ["c++"]) == "c++"
    assert match_keyword("we use C++11 here", ["c++"]) is None
    assert match_keyword("a data  model change", ["data model"]) == "data model"
    assert match_keyword("a datamodel change", ["data model"]) is None
    assert match_keyword("anything", ["", "  "]) is None
    assert match_keyword("Roadmap for Q3", ["strategy", "roadmap"]) == "roadmap"


def test_keywords_are_per_workflow(router: TaskRouter) -> None:
    assert router.route("pm_assistant", "draft the roadmap").rule == RULE_KEYWORD
    assert router.route("dev_assistant", "draft the roadmap").rule == RULE_DEFAULT
    # qa_test_gen has no keywords
    assert router.route("qa_test_gen", "design security architecture").rule == RULE_DEFAULT


def test_budget_pressure_org_reserve_picks_the_cheapest_model(router: TaskRouter) -> None:
    decision = router.route("dev_assistant", "extract the function name", pressure=(True, 0.1))
    assert decision.model == HAIKU3
    assert decision.rule == RULE_PRESSURE
    assert decision.max_tokens == 2048  # routine work keeps the default allowance
    assert "budget pressure" in decision.reason and "reserve" in decision.reason
    assert "cheapest allowed model" in decision.reason


def test_budget_pressure_month_share(router: TaskRouter) -> None:
    below = router.route("dev_assistant", "extract the function name", pressure=(False, 0.899))
    assert below.rule == RULE_DEFAULT and below.model == HAIKU
    at = router.route("dev_assistant", "extract the function name", pressure=(False, 0.90))
    assert at.rule == RULE_PRESSURE and at.model == HAIKU3
    assert "dev_assistant at 90.0% of its monthly budget (>= 90%)" in at.reason


def test_budget_pressure_threshold_is_configurable(make_config) -> None:
    cfg = make_config({"workflows": {"dev_assistant": {"routing": {"budget_pressure_pct": 0.5}}}})
    router = TaskRouter(cfg)
    assert router.route("dev_assistant", "hi", pressure=(False, 0.49)).rule == RULE_DEFAULT
    assert router.route("dev_assistant", "hi", pressure=(False, 0.5)).rule == RULE_PRESSURE


def test_pressure_comes_after_complexity_rules(router: TaskRouter) -> None:
    # the order: recognised complex work keeps its model; only routine work is downgraded
    assert router.route("dev_assistant", "design it", pressure=(True, 1.5)).model == SONNET


def test_cheapest_model_is_by_price_and_honours_overrides(default_config, make_config) -> None:
    routing = default_config.workflows["dev_assistant"].routing
    prices = {m: price_for(m).input + price_for(m).output for m in routing.models()}
    assert cheapest_model(routing) == min(prices, key=prices.get) == HAIKU3
    # a negotiated price makes Sonnet the cheapest
    cfg = make_config({"pricing": {SONNET: {"input": 0.01, "output": 0.01}}})
    assert cheapest_model(cfg.workflows["dev_assistant"].routing, cfg.pricing) == SONNET
    assert TaskRouter(cfg).route("dev_assistant", "hi", pressure=(True, 0.0)).model == SONNET


def test_qa_pressure_uses_its_own_cheapest(router: TaskRouter) -> None:
    # qa_test_gen routes between Sonnet and 3.5 Haiku only
    assert router.route("qa_test_gen", "write tests", pressure=(True, 0.0)).model == HAIKU


def test_get_max_tokens_by_tier(router: TaskRouter) -> None:
    assert router.get_max_tokens("dev_assistant", HAIKU) == 2048
    assert router.get_max_tokens("dev_assistant", SONNET) == 4096
    assert router.get_max_tokens("dev_assistant", HAIKU3) == 1024
    # a model named by two tiers takes the default tier first
    assert router.get_max_tokens("qa_test_gen", SONNET) == 8192
    assert router.get_max_tokens("qa_test_gen", HAIKU) == 4096
    # a model the workflow does not route to: the default tier
    assert router.get_max_tokens("pm_assistant", "claude-opus-4-1") == 2048


def test_max_tokens_table_comes_from_config(make_config) -> None:
    cfg = make_config({"workflows": {"dev_assistant": {"routing": {"max_tokens": {"complex": 777}}}}})
    router = TaskRouter(cfg)
    assert router.route("dev_assistant", "design it").max_tokens == 777
    assert router.get_max_tokens("dev_assistant", SONNET) == 777


def test_unknown_workflow_is_a_config_error(router: TaskRouter) -> None:
    with pytest.raises(ConfigError, match="unknown workflow 'nope'"):
        router.route("nope", "hi")


@given(
    st.lists(st.sampled_from(["design", "Design", "designated", "re-design", "_design", "design_", "DESIGN!", " ",
                              "\n", "x", "é", "c++", "C++x", "İ", "ı", "ſ", "K", "ς", "Σ", "ß", "de  sign"]), max_size=8).map("".join),
    st.sampled_from(["design", "c++", "de sign", "ss", "σ", "is", "k8s"]),
)
def test_fast_keyword_match_agrees_with_the_whole_word_regex(text, keyword):
    from acme_ci_budget.router import _keyword_pattern

    assert (match_keyword(text, [keyword]) is not None) == (_keyword_pattern(keyword).search(text) is not None)


def test_without_pressure_the_default_decision_names_the_model_pressure_would_pick(router: TaskRouter) -> None:
    # The client leaves rule 4 to the ledger's reserve: the decision says which cheaper model to offer it.
    decision = router.route("dev_assistant", "extract the function name")
    assert (decision.model, decision.rule, decision.pressure_model) == (HAIKU, RULE_DEFAULT, HAIKU3)
    assert router.route("qa_test_gen", "write tests").pressure_model == HAIKU
    # Rules 1-3 are final: budget pressure never changes them, so there is nothing to offer.
    assert router.route("dev_assistant", "design it").pressure_model is None
    assert router.route("dev_assistant", "hi", {"is_simple": True}).pressure_model is None
    assert router.route("dev_assistant", "x" * 40_000).pressure_model is None
    # Pressure given explicitly (the dry run's read): decided here, nothing left to the ledger.
    assert router.route("dev_assistant", "hi", pressure=(False, 0.1)).pressure_model is None


@pytest.mark.parametrize("pressure", [(True, 0.1), (False, 0.9), (False, 0.95), (True, 1.2)])
def test_under_pressure_is_rule_4_as_route_makes_it(router: TaskRouter, pressure) -> None:
    left = router.route("dev_assistant", "extract the function name")
    decided = router.under_pressure("dev_assistant", left, pressure)
    direct = router.route("dev_assistant", "extract the function name", pressure=pressure)
    assert decided.rule == RULE_PRESSURE
    assert (decided.model, decided.max_tokens, decided.reason, decided.rule, decided.tier) == (
        direct.model,
        direct.max_tokens,
        direct.reason,
        direct.rule,
        direct.tier,
    )
    with pytest.raises(ValueError, match="not one budget pressure may change"):
        router.under_pressure("dev_assistant", router.route("dev_assistant", "design it"), pressure)
