"""``acme-ci-budget chat`` driven through stdin: replies, gauge, slash commands, compaction, hard stop.

The SDK client is built from the environment (ANTHROPIC_BASE_URL at the loopback fake,
ANTHROPIC_API_KEY=test), the ledger is a real Redis, the config a YAML file on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from click.testing import CliRunner

from acme_ci_budget.commands.chat import chat
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.workflows import dev_assistant, pm_assistant
from tests.fakes.anthropic_server import FakeAnthropicServer, build_message, handler, server_error, slow

_ROUTING = yaml.safe_load(default_config_path().read_text())["workflows"]["dev_assistant"]["routing"]
HAIKU = _ROUTING["default_model"]  # the lab's Haiku role
SONNET = _ROUTING["complex_model"]  # the Sonnet role


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        last = request["messages"][-1]["content"]
        return build_message(request, f"echo: {last[:30]}", input_tokens=100, output_tokens=20)

    with FakeAnthropicServer(default=handler(reply)) as fake:
        yield fake


@pytest.fixture
def run_chat(tmp_path: Path, redis_url: str, server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch):
    for name in ("SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)

    def run(
        lines: list[str], *args: str, dev: dict | None = None, columns: str = "200", env: dict | None = None
    ) -> Any:
        raw = yaml.safe_load(default_config_path().read_text())
        raw["workflows"]["dev_assistant"].update(dev or {})
        path = tmp_path / "budget.yml"
        path.write_text(yaml.safe_dump(raw))
        env = {
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "test",
            "REDIS_URL": redis_url,
            "ACME_BUDGET_CONFIG": str(path),
            "COLUMNS": columns,
            **(env or {}),
        }
        argv = list(args) or ["--workflow", "dev_assistant", "--user", "ana"]
        return CliRunner().invoke(chat, argv, input="".join(line + "\n" for line in lines), env=env)

    return run


def _events(redis_url: str) -> list[dict[str, str]]:
    client = redis.Redis.from_url(redis_url)
    raw = client.xrange("acb:{acme}:events")
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in raw]


def test_a_turn_prints_the_reply_and_the_gauge(run_chat, server, redis_url) -> None:
    result = run_chat(["how do I reverse a list?", "/quit"])
    assert result.exit_code == 0, result.output
    assert "Developer coding assistant (session dev_assistant-" in result.output
    assert "echo: how do I reverse a list?" in result.output
    # 100 in + 20 out on the Haiku role ($0.10/$0.50 per MTok) is $0.00002: the gauge's four places show $0.0000
    assert (
        "[turn 1/30 | session 120/60,000 soft/120,000 hard tok | today $0.0000 of $12.00 (0.0%) | "
        f"{HAIKU} (default) | cost $0.0000]"
    ) in result.output
    assert "Bye." in result.output
    [request] = server.message_requests
    assert request.json["system"][0]["text"].startswith("You are Acme's developer coding assistant")
    assert request.json["system"][0]["text"] == dev_assistant.system_prompt()  # the workflow's template, one source
    [call] = [e for e in _events(redis_url) if e["type"] == "call"]
    assert (call["workflow"], call["user"], call["loop_step"]) == ("dev_assistant", "ana", "1")
    assert call["session"].startswith("dev_assistant-")


def test_status_model_and_help(run_chat, server) -> None:
    result = run_chat(
        ["/model", "first", "/status", "/model complex", "design it please", "/model bogus", "/help", "/nope"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"router mode auto; no turn yet; models: default {HAIKU}" in out
    assert "session 120/60,000 soft/120,000 hard tok; turn 1/30; compactions 0; today $0.0000 of $12.00" in out
    assert f"router mode complex; last: {HAIKU} (default)" in out
    assert f"{SONNET} (context: is_complex)" in out
    assert "usage: /model [simple|complex|auto]" in out
    assert "/quit                leave" in out
    assert "unknown command /nope" in out
    assert [r.json["model"] for r in server.message_requests] == [HAIKU, SONNET]
    # end of input ends the chat like /quit
    assert "Bye." in out


def test_compaction_is_announced_in_the_gauge(run_chat, server) -> None:
    lines = [f"question {n} " + "detail " * 60 for n in range(7)]
    result = run_chat(lines, dev={"per_session_tokens": {"soft": 300, "hard": 100000}})
    assert result.exit_code == 0, result.output
    gauges = [line for line in result.output.splitlines() if line.startswith("[turn ")]
    assert len(gauges) == 7
    assert not any("compacted" in g for g in gauges[:5])  # up to 4 older turns are kept verbatim
    assert "past soft limit: compacted 1 older turns" in gauges[5]
    assert server.message_requests[5].json["messages"][0]["content"].startswith("[Earlier conversation")


def test_hard_limit_stops_the_chat(run_chat, server) -> None:
    lines = [f"question {n}" for n in range(10)]
    result = run_chat(lines, dev={"per_session_tokens": {"soft": 600, "hard": 700}})
    assert result.exit_code == 1, result.output
    assert "max_tokens lowered from 2048 to" in result.output  # the last headroom buys shorter replies
    assert "Blocked: session dev_assistant-" in result.output
    assert "start a new session" in result.output
    assert "Chat stopped by the budget (session_token_limit_exceeded)" in result.output
    assert 0 < len(server.message_requests) < 10
    assert "Bye." not in result.output


def test_daily_budget_stops_the_chat(run_chat, server) -> None:
    result = run_chat(["hello"], dev={"daily_usd": 0.000001})
    assert result.exit_code == 1
    assert "reached today's budget" in result.output
    assert server.message_requests == []


def test_api_error_is_reported_and_the_chat_goes_on(run_chat, server) -> None:
    server.enqueue(server_error())
    result = run_chat(["first", "second", "/quit"], "--workflow", "pm_assistant", "--max-retries", "0")
    assert result.exit_code == 0, result.output
    assert "Error: pm_assistant: the Messages API answered 500 api_error" in result.output
    assert "echo: second" in result.output
    assert "turn 2/15" in result.output  # the failed turn used a step
    assert server.message_requests[-1].json["system"][0]["text"] == pm_assistant.system_prompt()


def test_only_the_interactive_workflows(run_chat) -> None:
    result = run_chat(["hi"], "--workflow", "ci_cd_review")
    assert result.exit_code == 2
    assert "'ci_cd_review' is not one of 'dev_assistant', 'pm_assistant'" in result.output


def test_every_turn_is_attributed_to_repo(run_chat, redis_url) -> None:
    result = run_chat(["hello"], "--workflow", "dev_assistant", "--user", "ana", "--repo", "acme/app")
    assert result.exit_code == 0, result.output
    calls = [ev for ev in _events(redis_url) if ev["type"] == "call"]
    assert [ev["repo"] for ev in calls] == ["acme/app"]
    bad = run_chat(["hello"], "--workflow", "dev_assistant", "--repo", "acme/app/x")
    assert bad.exit_code == 2 and "OWNER/NAME" in bad.output


# --- issue 15 item 7: key check, turn limit, long pastes, the gauge's width, a terminal's niceties ---------------


def test_a_refused_api_key_stops_before_the_first_prompt(run_chat, server) -> None:
    with FakeAnthropicServer(api_keys={"the-right-key"}) as strict:
        result = run_chat(["hello"], env={"ANTHROPIC_BASE_URL": strict.url, "ANTHROPIC_API_KEY": "sk-wrong-1234"})
        assert strict.message_requests == []  # nothing was sent, nothing reserved
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: API key check failed: the Models API at http://127.0.0.1:")
    assert "401 authentication_error: invalid x-api-key (check ANTHROPIC_API_KEY)" in lines[0]
    assert "sk-wrong-1234" not in result.output and "you>" not in result.output


def test_a_missing_api_key_is_one_line_and_exit_2(run_chat, server) -> None:
    result = run_chat(["hello"], env={"ANTHROPIC_API_KEY": ""})
    assert result.exit_code == 2
    assert result.output.strip() == "Error: no API key: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a gateway)"
    assert server.message_requests == []


def test_the_turn_limit_ends_the_chat_with_a_message_and_exit_0(run_chat, server) -> None:
    result = run_chat(["one", "two", "three", "four"], dev={"max_loop_steps": 2})
    assert result.exit_code == 0, result.output
    assert "[turn 2/2 |" in result.output
    assert "This session has used its 2 turns (max_loop_steps of dev_assistant): the chat ends here" in result.output
    assert len(server.message_requests) == 2  # the third line is never sent nor reserved


def test_a_message_over_the_per_turn_limit_is_refused_with_a_message(run_chat, server) -> None:
    paste = "word " * 2000  # 10,000 characters (9,999 once stripped): about 2,857 tokens by the estimator
    result = run_chat([paste, "short question", "/quit"], dev={"per_task_tokens": {"soft": 1500, "hard": 2000}})
    assert result.exit_code == 0, result.output
    assert "Not sent: that message is about 2,857 tokens (9,999 characters); one turn of dev_assistant may use " \
           "at most 2,000 (per_task_tokens.hard)" in result.output
    [request] = server.message_requests  # only the short question went out
    assert request.json["messages"][-1]["content"] == "short question"
    assert "[turn 1/30 |" in result.output  # the refused paste used no turn


def test_the_gauge_fits_a_narrow_terminal_and_piped_output_has_no_ticker(run_chat, server) -> None:
    result = run_chat(["hello", "/quit"], columns="60")
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("[turn 1/30"))
    end = next(i for i in range(start, len(out)) if out[i].endswith("]"))
    block = out[start : end + 1]
    assert len(block) > 1 and all(len(line) <= 60 for line in block), block
    joined = " | ".join(block)
    assert "session 120/60,000 soft/120,000 hard tok" in joined and f"{HAIKU} (default)" in joined
    assert "thinking" not in result.output  # not a terminal: no ticker in piped output


def _pty_chat(server_url: str, redis_url: str, config: Path, keys: list[str], until: str, timeout: float = 60):
    """Run the real CLI on a pseudo-terminal, type ``keys`` (each after the previous prompt), return its output."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import threading
    import time

    master, slave = pty.openpty()
    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": server_url,
        "ANTHROPIC_API_KEY": "test",
        "REDIS_URL": redis_url,
        "ACME_BUDGET_CONFIG": str(config),
        "TERM": "xterm",
        "COLUMNS": "200",
    }
    for name in ("SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "GITHUB_ACTIONS"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "acme_ci_budget", "chat", "--workflow", "dev_assistant", "--user", "ana"],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )
    os.close(slave)
    seen = bytearray()
    prompts = threading.Semaphore(0)

    def typist() -> None:
        for key in keys:
            prompts.acquire()
            data = key.encode()
            for i in range(0, len(data), 512):  # the terminal echoes as it reads: small writes, no deadlock
                os.write(master, data[i : i + 512])
                time.sleep(0.005)

    threading.Thread(target=typist, daemon=True).start()
    deadline = time.monotonic() + timeout
    counted = 0
    try:
        while time.monotonic() < deadline and until.encode() not in seen:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                seen += chunk
                while seen.count(b"you> ") > counted:
                    counted += 1
                    prompts.release()
    finally:
        proc.wait(timeout=30)
        os.close(master)
    return seen.decode(errors="replace"), proc.returncode


def test_on_a_terminal_lines_are_editable_have_history_long_pastes_arrive_whole_and_a_ticker_shows(
    tmp_path, redis_url, server
) -> None:
    raw = yaml.safe_load(default_config_path().read_text())
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    server.enqueue(slow(1.3, handler(lambda r: build_message(r, "slow echo", input_tokens=10, output_tokens=5))))
    paste = " ".join(f"{n:05d}" for n in range(1700))  # 10,199 characters: past the 4,095 canonical-mode limit
    keys = [
        "helo\x1b[Dl\r",  # type "helo", cursor left, insert "l": "hello"
        "\x1b[A\r",  # up arrow: the last line again
        paste + "\r",
        "/quit\r",
    ]
    out, code = _pty_chat(server.url, redis_url, path, keys, until="Bye.")
    assert code == 0, out
    sent = [r.json["messages"][-1]["content"] for r in server.message_requests]
    assert sent == ["hello", "hello", paste], [s[:40] for s in sent]
    assert len(sent[2]) == 10_199  # never cut at 4,094 characters
    assert "thinking... 1s" in out  # the first reply took 1.3 s: the ticker counted
