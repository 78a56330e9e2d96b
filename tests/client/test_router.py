"""TaskRouter: each rule, their order, whole-word keywords, budget pressure, max_tokens per tier."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acme_ci_budget.catalog.pricing import price_for
from acme_ci_budget.client.router import (
    CHANGE_TOKENS,
    CHANGED_PATHS,
    RULE_COMPLEX_PATH,
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
from acme_ci_budget.config import ConfigError, load_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.core.tokens import estimate_tokens

# The lab's two model roles, read from the shipped config (dev_assistant routes between them) rather than named
# here, so a model migration changes the config, not the tests.
_DEFAULT = load_config(default_config_path())
HAIKU = _DEFAULT.workflows["dev_assistant"].routing.default_model  # the Haiku role
SONNET = _DEFAULT.workflows["dev_assistant"].routing.complex_model  # the Sonnet role


@pytest.fixture
def router(default_config) -> TaskRouter:
    return TaskRouter(default_config)


def test_the_roles_are_todays_haiku_and_sonnet(default_config) -> None:
    # the lab's Haiku and Sonnet roles, on models the API serves today (not the lab's retired 2024 ones)
    assert "haiku" in HAIKU and "sonnet" in SONNET and "2024" not in HAIKU + SONNET
    for wid, wf in default_config.workflows.items():
        routing = wf.routing
        assert routing.simple_model == HAIKU, wid  # the lab's "simple" (QA) or, where it names none, the default
        expected_default = SONNET if wid == "qa_test_gen" else HAIKU
        assert (routing.default_model, routing.complex_model) == (expected_default, SONNET), wid


def test_lab_examples(router: TaskRouter) -> None:
    # Phase 6: test_router_selects_haiku_for_simple_task / test_router_escalates_to_sonnet_for_architecture_task
    simple = router.select_model("dev_assistant", "extract the function name from this code")
    assert "haiku" in simple and simple == HAIKU
    complex_ = router.select_model("dev_assistant", "design the architecture for our microservices")
    assert "sonnet" in complex_ and complex_ == SONNET


def test_labs_max_tokens_table(router: TaskRouter, default_config) -> None:
    # Phase 3's get_max_tokens: per workflow, by model tier
    lab = {
        "ci_cd_review": {"haiku": 1024, "sonnet": 2048},
        "dev_assistant": {"haiku": 2048, "sonnet": 4096},
        "qa_test_gen": {"haiku": 3000, "sonnet": 6000},
        "pm_assistant": {"haiku": 1500, "sonnet": 3000},
    }
    for wid, table in lab.items():
        routing = default_config.workflows[wid].routing
        for model in routing.models():
            assert router.get_max_tokens(wid, model) == table["sonnet" if model == SONNET else "haiku"], (wid, model)


def test_router_without_arguments_uses_the_default_config(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("ACME_BUDGET_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.github/acme-budget.yml here: the packaged default
    router = TaskRouter()
    assert router.select_model("dev_assistant", "design the architecture for our microservices") == SONNET


def test_default_rule(router: TaskRouter) -> None:
    decision = router.route("dev_assistant", "extract the function name from this code")
    assert (decision.model, decision.max_tokens, decision.rule, decision.reason, decision.tier) == (
        HAIKU,
        2048,
        RULE_DEFAULT,
        "default",
        "default",
    )


def test_explicit_context_wins_over_everything(router: TaskRouter) -> None:
    long_prompt = "design " * 10_000
    # qa_test_gen: the lab's "simple" model (the Haiku role) is not its default (the Sonnet role)
    simple = router.route("qa_test_gen", long_prompt, {"is_simple": True}, pressure=(True, 2.0))
    assert (simple.model, simple.max_tokens, simple.rule, simple.tier) == (HAIKU, 3000, RULE_CONTEXT_SIMPLE, "simple")
    assert simple.reason == "context: is_simple"
    dev_simple = router.route("dev_assistant", long_prompt, {"is_simple": True}, pressure=(True, 2.0))
    assert (dev_simple.model, dev_simple.rule, dev_simple.tier) == (HAIKU, RULE_CONTEXT_SIMPLE, "simple")
    complex_ = router.route("dev_assistant", "hi", {"is_complex": True}, pressure=(True, 2.0))
    assert (complex_.model, complex_.max_tokens, complex_.rule) == (SONNET, 4096, RULE_CONTEXT_COMPLEX)
    assert complex_.reason == "context: is_complex"
    # both set: is_complex is checked first
    assert router.route("dev_assistant", "hi", {"is_complex": True, "is_simple": True}).model == SONNET
    # falsy flags are no signal
    assert router.route("dev_assistant", "hi", {"is_complex": False, "is_simple": 0}).rule == RULE_DEFAULT


def test_labs_review_threshold_is_6000(default_config) -> None:
    assert default_config.workflows["ci_cd_review"].routing.threshold_tokens == 6000


@pytest.mark.parametrize("workflow_id", ["ci_cd_review", "dev_assistant"])
def test_threshold_uses_the_shared_estimator(router: TaskRouter, default_config, workflow_id: str) -> None:
    threshold = default_config.workflows[workflow_id].routing.threshold_tokens
    chars_at = int(threshold * 3.5)  # estimate_tokens is ceil(len / 3.5)
    at_threshold = "x" * chars_at
    above = "x" * (chars_at + 4)
    assert estimate_tokens(at_threshold) == threshold
    assert estimate_tokens(above) > threshold
    assert router.route(workflow_id, at_threshold).rule == RULE_DEFAULT
    decision = router.route(workflow_id, above)
    assert (decision.model, decision.rule) == (SONNET, RULE_THRESHOLD)
    assert decision.reason == f"input ~{estimate_tokens(above):,} tokens > threshold {threshold:,}"


def test_threshold_prefers_the_whole_request_estimate(router: TaskRouter, default_config) -> None:
    # a short prompt inside a long conversation is still a big input
    threshold = default_config.workflows["dev_assistant"].routing.threshold_tokens
    decision = router.route("dev_assistant", "and now?", input_tokens=threshold + 1)
    assert decision.rule == RULE_THRESHOLD
    assert router.route("dev_assistant", "x" * 50_000, input_tokens=10).rule == RULE_DEFAULT


def test_threshold_comes_before_keywords(router: TaskRouter) -> None:
    decision = router.route("dev_assistant", "design " + "x" * 40_000)
    assert decision.rule == RULE_THRESHOLD


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Design the API", "design"),
        ("DESIGN", "design"),
        ("please re-design this", "design"),
        ("(design)", "design"),
        ("design.", "design"),
        ("we need to check performance, then security", "performance"),
        ("the System is slow", "system"),
        ("ask the architect", "architect"),
        ("the designated driver", None),
        ("systems and subsystem", None),
        ("architecture", None),  # the lab matched substrings; this router matches the keyword as a whole word
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
    # qa_test_gen's default is the Sonnet role; under pressure routine work goes to its cheapest, the Haiku role
    decision = router.route("qa_test_gen", "write tests for the login form", pressure=(True, 0.1))
    assert decision.model == HAIKU
    assert decision.rule == RULE_PRESSURE
    assert decision.max_tokens == 6000  # routine work keeps the default allowance
    assert "budget pressure" in decision.reason and "reserve" in decision.reason
    assert "cheapest allowed model" in decision.reason
    # where the default is already the cheapest, the rule still fires and says so, on the same model
    dev = router.route("dev_assistant", "extract the function name", pressure=(True, 0.1))
    assert (dev.model, dev.rule, dev.max_tokens) == (HAIKU, RULE_PRESSURE, 2048)


def test_budget_pressure_month_share(router: TaskRouter) -> None:
    below = router.route("qa_test_gen", "write tests", pressure=(False, 0.899))
    assert below.rule == RULE_DEFAULT and below.model == SONNET
    at = router.route("qa_test_gen", "write tests", pressure=(False, 0.90))
    assert at.rule == RULE_PRESSURE and at.model == HAIKU
    assert "qa_test_gen at 90.0% of its monthly budget (>= 90%)" in at.reason


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
    assert cheapest_model(routing) == min(prices, key=prices.get) == HAIKU
    # a negotiated price makes Sonnet the cheapest
    cfg = make_config({"pricing": {SONNET: {"input": 0.01, "output": 0.01}}})
    assert cheapest_model(cfg.workflows["dev_assistant"].routing, cfg.pricing) == SONNET
    assert TaskRouter(cfg).route("dev_assistant", "hi", pressure=(True, 0.0)).model == SONNET


def test_qa_pressure_uses_its_own_cheapest(router: TaskRouter, make_config) -> None:
    # qa_test_gen routes between the Sonnet and Haiku roles only: a cheaper model elsewhere is not its to pick
    assert router.route("qa_test_gen", "write tests", pressure=(True, 0.0)).model == HAIKU
    cfg = make_config({"pricing": {"claude-opus-5-5": {"input": 0.01, "output": 0.01}},
                       "workflows": {"pm_assistant": {"routing": {"complex_model": "claude-opus-5-5"}}}})
    assert TaskRouter(cfg).route("qa_test_gen", "write tests", pressure=(True, 0.0)).model == HAIKU
    assert TaskRouter(cfg).route("pm_assistant", "draft it", pressure=(True, 0.0)).model == "claude-opus-5-5"


def test_get_max_tokens_by_tier(router: TaskRouter, make_config) -> None:
    assert router.get_max_tokens("dev_assistant", HAIKU) == 2048
    assert router.get_max_tokens("dev_assistant", SONNET) == 4096
    # a model named by two tiers takes the default tier first
    assert router.get_max_tokens("qa_test_gen", SONNET) == 6000
    assert router.get_max_tokens("qa_test_gen", HAIKU) == 3000
    cfg = make_config({"workflows": {"dev_assistant": {"routing": {"max_tokens": {"simple": 512}}}}})
    assert TaskRouter(cfg).get_max_tokens("dev_assistant", HAIKU) == 2048  # default and simple: default first
    # a model the workflow does not route to: the default tier
    assert router.get_max_tokens("pm_assistant", "claude-opus-5-5") == 1500


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
    from acme_ci_budget.client.router import _keyword_pattern

    assert (match_keyword(text, [keyword]) is not None) == (_keyword_pattern(keyword).search(text) is not None)


def test_without_pressure_the_default_decision_names_the_model_pressure_would_pick(router: TaskRouter) -> None:
    # The client leaves rule 4 to the ledger's reserve: the decision says which cheaper model to offer it.
    decision = router.route("dev_assistant", "extract the function name")
    assert (decision.model, decision.rule, decision.pressure_model) == (HAIKU, RULE_DEFAULT, cheapest_model(_DEFAULT.workflows["dev_assistant"].routing))
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


# --- a change (a review) is routed on its paths and size, never on its author's words -----------

COMPLEX_PATHS = ["**/auth/**", ".github/workflows/**", "**/*crypto*"]


def _review_routing(**routing) -> dict:
    # Pinned here, not taken from Acme's file: keywords a PR text could hit, and the size threshold.
    base = {"complexity_keywords": ["security", "architecture"], "threshold_tokens": 8000}
    return {"workflows": {"ci_cd_review": {"routing": {**base, **routing}}}}


@pytest.fixture
def path_router(make_config) -> TaskRouter:
    return TaskRouter(make_config(_review_routing(complex_paths=COMPLEX_PATHS)))


def _change_context(*paths: str, tokens: int = 100) -> dict:
    return {CHANGED_PATHS: paths, CHANGE_TOKENS: tokens}


def test_a_word_in_the_pr_text_does_not_buy_the_dearer_model(path_router: TaskRouter) -> None:
    # Before: "security" (a ci_cd_review keyword) in the description routed to Sonnet, ~3.8x per review.
    prompt = "Title: small fix\n\nThis touches security and architecture, please be careful."
    assert path_router.route("ci_cd_review", prompt).rule == RULE_KEYWORD  # a task that is not a change: as before
    long_prompt = prompt + "x" * 40_000
    assert path_router.route("ci_cd_review", long_prompt).rule == RULE_THRESHOLD
    decision = path_router.route("ci_cd_review", long_prompt, _change_context("src/app.py"), input_tokens=12_000)
    assert (decision.model, decision.rule, decision.reason) == (HAIKU, RULE_DEFAULT, "default")


@pytest.mark.parametrize(
    ("path", "glob"),
    [
        ("src/auth/login.py", "**/auth/**"),
        ("auth/tokens.py", "**/auth/**"),  # ** also matches zero directories
        ("services/api/v2/auth/deep/er/x.go", "**/auth/**"),  # ... and many
        (".github/workflows/ci.yml", ".github/workflows/**"),
        (".github/workflows/nested/dir/x.yml", ".github/workflows/**"),
        ("lib/cryptography.py", "**/*crypto*"),
        ("crypto_utils.go", "**/*crypto*"),
        ("a/b/c/my_crypto.rs", "**/*crypto*"),
    ],
)
def test_complex_paths_route_to_the_complex_model_naming_path_and_glob(
    path_router: TaskRouter, path: str, glob: str
) -> None:
    decision = path_router.route("ci_cd_review", "Title: typo", _change_context("README.md", path))
    complex_cap = _DEFAULT.workflows["ci_cd_review"].routing.max_tokens["complex"]
    assert (decision.model, decision.rule, decision.max_tokens) == (SONNET, RULE_COMPLEX_PATH, complex_cap)
    assert decision.reason == f"changed path {path!r} matches {glob!r} (workflows.ci_cd_review.routing.complex_paths)"


@pytest.mark.parametrize(
    "path",
    [
        "src/authz/policy.py",  # a segment must equal "auth"
        "src/author.py",
        "docs/.github/workflows/ci.yml",  # a glob with a "/" is anchored at the repository root
        ".github/workflow.yml",
        "src/crypto/aes.py",  # "*crypto*" is the last segment: a crypto/ directory needs "**/crypto/**"
        "src/app.py",
    ],
)
def test_paths_the_globs_do_not_match_stay_on_the_default_model(path_router: TaskRouter, path: str) -> None:
    assert path_router.route("ci_cd_review", "security security", _change_context(path)).rule == RULE_DEFAULT


def test_a_rename_away_from_a_complex_path_still_counts(path_router: TaskRouter) -> None:
    # fit_request lists the old name of a rename among the changed paths
    decision = path_router.route("ci_cd_review", "", _change_context("src/login.py", "src/auth/login.py"))
    assert decision.rule == RULE_COMPLEX_PATH and "'src/auth/login.py'" in decision.reason


def test_several_matches_are_counted_and_the_first_is_named(path_router: TaskRouter) -> None:
    decision = path_router.route("ci_cd_review", "", _change_context("a/auth/x.py", "b/auth/y.py", "c/crypto.c"))
    assert decision.reason.startswith("changed path 'a/auth/x.py' matches '**/auth/**'")
    assert decision.reason.endswith("(and 2 more matching path(s))")


def test_without_complex_paths_the_built_in_security_globs_apply_and_an_empty_list_turns_them_off(
    make_config,
) -> None:
    router = TaskRouter(make_config(_review_routing(complex_paths=None)))
    built_in = router.route("ci_cd_review", "", _change_context("deploy/Dockerfile"))
    assert built_in.rule == RULE_COMPLEX_PATH
    assert built_in.reason == "changed path 'deploy/Dockerfile' matches 'Dockerfile' (built-in security paths)"
    off = TaskRouter(make_config(_review_routing(complex_paths=[])))
    assert off.route("ci_cd_review", "", _change_context("deploy/Dockerfile", ".github/workflows/x.yml")).rule == (
        RULE_DEFAULT
    )


def test_review_escalate_globs_add_to_the_complex_paths(make_config) -> None:
    cfg = make_config(
        {"review": {"escalate_globs": ["billing/**"]}, "workflows": {"ci_cd_review": {"routing": {"complex_paths": []}}}}
    )
    decision = TaskRouter(cfg).route("ci_cd_review", "", _change_context("billing/charge.py"))
    assert decision.reason == "changed path 'billing/charge.py' matches 'billing/**' (review.escalate_globs)"


def test_a_change_is_sized_by_its_diff_not_by_the_prompt(path_router: TaskRouter) -> None:
    small = path_router.route("ci_cd_review", "x" * 100_000, _change_context("src/app.py", tokens=8_000))
    assert small.rule == RULE_DEFAULT  # a long description does not make a change large
    large = path_router.route("ci_cd_review", "tiny", _change_context("src/app.py", tokens=8_001), input_tokens=10)
    assert (large.model, large.rule) == (SONNET, RULE_THRESHOLD)
    assert large.reason == "diff ~8,001 tokens before clipping > threshold 8,000"


def test_a_file_name_cannot_forge_lines_in_the_reason(path_router: TaskRouter) -> None:
    decision = path_router.route("ci_cd_review", "", _change_context("x/auth/a\nIgnore all.py"))
    assert "\n" not in decision.reason and "a?Ignore all.py" in decision.reason


def test_explicit_context_and_pressure_still_apply_to_a_change(path_router: TaskRouter) -> None:
    simple = path_router.route("ci_cd_review", "", {**_change_context("src/a.py"), "is_simple": True})
    assert simple.model == _DEFAULT.workflows["ci_cd_review"].routing.simple_model and "is_simple" in simple.reason
    routine = path_router.route("ci_cd_review", "", _change_context("src/a.py"), pressure=(True, 0.0))
    assert routine.rule == RULE_PRESSURE
    sensitive = path_router.route("ci_cd_review", "", _change_context("src/auth/a.py"), pressure=(True, 0.0))
    assert sensitive.model == SONNET  # complex work the rules recognised keeps its model


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("**/auth/**", "workflows.ci_cd_review.routing.complex_paths: expected a list of strings, got '**/auth/**'"),
        (["ok/**", "/"], "workflows.ci_cd_review.routing.complex_paths[1]: bad glob '/' (empty glob pattern '/')"),
        (["ok/**", ""], "workflows.ci_cd_review.routing.complex_paths[1]: expected a non-empty string, got ''"),
    ],
)
def test_complex_paths_are_validated(make_config, value, message) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config({"workflows": {"ci_cd_review": {"routing": {"complex_paths": value}}}})
    assert str(caught.value) == f"test-config.yml: {message}"
