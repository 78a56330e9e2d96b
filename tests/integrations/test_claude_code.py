"""integrations/claude_code.py: Claude Code's result object, its stream and execution file, the budget flag."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from acme_ci_budget.integrations.claude_code import (
    ClaudeCodeError,
    LastLine,
    given_budget,
    is_claude,
    parse_output,
    parse_result,
    read_execution_file,
    with_budget,
)

RESULT = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "duration_ms": 5120,
    "num_turns": 4,
    "result": "Done.",
    "session_id": "9f1c",
    "total_cost_usd": 0.0712345,
    "usage": {"input_tokens": 40, "output_tokens": 900},
    "modelUsage": {
        "claude-sonnet-5-5": {"inputTokens": 30, "outputTokens": 800, "cacheReadInputTokens": 5000,
                              "cacheCreationInputTokens": 1200, "webSearchRequests": 0, "costUSD": 0.07,
                              "contextWindow": 200000},
        "claude-haiku-5-5": {"inputTokens": 10, "outputTokens": 100, "cacheReadInputTokens": 0,
                             "cacheCreationInputTokens": 0, "costUSD": 0.0012345},
    },
}


def test_the_result_object_as_plain_data():
    r = parse_result(RESULT)
    assert (r.subtype, r.is_error, r.num_turns, r.session_id) == ("success", False, 4, "9f1c")
    assert r.total_cost_usd == Decimal("0.0712345")  # exactly as printed, never through a binary float sum
    sonnet, haiku = r.models
    assert (sonnet.model, sonnet.input_tokens, sonnet.output_tokens) == ("claude-sonnet-5-5", 30, 800)
    assert (sonnet.cache_read_input_tokens, sonnet.cache_creation_input_tokens) == (5000, 1200)
    assert haiku.cost_usd == Decimal("0.0012345")


@pytest.mark.parametrize(
    "broken",
    [
        {**RESULT, "type": "assistant"},
        {**RESULT, "modelUsage": {"claude-haiku-5-5": {"inputTokens": -1}}},
        {**RESULT, "modelUsage": {"claude-haiku-5-5": {"inputTokens": "12"}}},
        {**RESULT, "modelUsage": {"claude-haiku-5-5": {"outputTokens": True}}},
        {**RESULT, "modelUsage": ["claude-haiku-5-5"]},
        [RESULT],
    ],
)
def test_anything_else_is_not_a_result(broken):
    assert parse_result(broken) is None


def test_an_error_result_keeps_its_usage():
    r = parse_result({**RESULT, "subtype": "error_max_budget_usd", "is_error": True, "result": None})
    assert r.is_error and r.subtype == "error_max_budget_usd" and len(r.models) == 2


def test_json_output_stream_json_last_line_and_text():
    assert parse_output(json.dumps(RESULT) + "\n").num_turns == 4
    stream = "\n".join(json.dumps(m) for m in [{"type": "system", "subtype": "init"}, {"type": "assistant"}, RESULT])
    assert parse_output(stream + "\n").session_id == "9f1c"
    assert parse_output(json.dumps(RESULT, indent=2)).num_turns == 4  # pretty-printed
    assert parse_output("Done.\n") is None and parse_output("") is None


def test_the_last_line_is_kept_across_chunks():
    last = LastLine()
    data = (json.dumps({"type": "system"}) + "\n" + json.dumps(RESULT) + "\n\n").encode()
    for i in range(0, len(data), 7):
        last.feed(data[i : i + 7])
    assert last.result().num_turns == 4
    cut = LastLine()
    cut.feed(json.dumps(RESULT).encode()[:-5])  # killed mid-line
    assert cut.result() is None


def test_the_execution_file(tmp_path):
    path = tmp_path / "claude-execution-output.json"
    path.write_text(json.dumps([{"type": "system", "subtype": "init"}, RESULT]))
    result, why = read_execution_file(path)
    assert result.num_turns == 4 and why == ""
    for content, reason in [("", "is empty"), ("[{", "is not JSON"), ("{}", "is not a JSON array"),
                            ('[{"type": "assistant"}]', "holds no result object")]:
        path.write_text(content)
        assert read_execution_file(path) == (None, f"the execution file {path} {reason}")
    assert read_execution_file(tmp_path / "nope.json")[1] == f"no execution file at {tmp_path / 'nope.json'}"


def test_the_budget_flag():
    assert is_claude(["/usr/local/bin/claude", "-p"]) and not is_claude(["bash", "-c", "claude"])
    assert given_budget(["claude", "-p", "x"]) is None
    assert given_budget(["claude", "--max-budget-usd", "1.50"]) == Decimal("1.50")
    assert given_budget(["claude", "--max-budget-usd=2", "--max-budget-usd", "0.5"]) == Decimal("0.5")
    assert given_budget(["claude", "--", "--max-budget-usd", "9"]) is None  # after --: the prompt's words
    for bad in (["claude", "--max-budget-usd"], ["claude", "--max-budget-usd", "x"], ["claude", "--max-budget-usd=0"],
                ["claude", "--max-budget-usd", "NaN"]):
        with pytest.raises(ClaudeCodeError):
            given_budget(bad)
    assert with_budget(["claude", "-p", "hi"], "0.25") == ["claude", "--max-budget-usd", "0.25", "-p", "hi"]
