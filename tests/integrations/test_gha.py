"""Tests for acme_ci_budget.integrations.gha: env files, workflow commands and their escaping, masking, fencing."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_ci_budget.integrations import gha

DELIMITER_RE = re.compile(r"^ghadelimiter_[0-9a-f]{32}$")


# -- helpers: read things back the way the runner does ----------------------


def parse_output_file(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT like the runner: ``k=v`` lines and ``k<<DELIM`` heredocs."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    result: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            result[line[:eq]] = line[eq + 1 :]
            i += 1
            continue
        assert heredoc > 0, f"malformed output line {line!r}"
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body: list[str] = []
        i += 1
        while lines[i] != delimiter:
            body.append(lines[i])
            i += 1
        result[name] = "\n".join(body)
        i += 1
    return result


def runner_commands(stdout: str) -> list[tuple[str, str]]:
    """The workflow commands a runner would act on, honouring ::stop-commands::."""
    commands: list[tuple[str, str]] = []
    resume: str | None = None
    for line in stdout.splitlines():
        if resume is not None:
            if line == resume:
                resume = None
            continue
        match = re.match(r"^::([A-Za-z-]+)(?: [^:]*)?::(.*)$", line)
        if not match:
            continue
        if match.group(1) == "stop-commands":
            resume = f"::{match.group(2)}::"
        else:
            commands.append((match.group(1), match.group(2)))
    return commands


@pytest.fixture
def actions_env(monkeypatch, tmp_path: Path) -> dict[str, Path]:
    out = tmp_path / "output"
    summary = tmp_path / "summary"
    out.touch()
    summary.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return {"output": out, "summary": summary}


@pytest.fixture
def local_env(monkeypatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


def token_sequence(monkeypatch, *tokens: str) -> list[str]:
    """Make gha's random tokens come from ``tokens``; returns the list of those handed out."""
    handed: list[str] = []
    pending = list(tokens)

    def fake() -> str:
        handed.append(pending.pop(0))
        return handed[-1]

    monkeypatch.setattr(gha, "_new_token", fake)
    return handed


# -- in_actions -------------------------------------------------------------


def test_in_actions_only_for_exact_true():
    assert gha.in_actions({"GITHUB_ACTIONS": "true"})
    assert not gha.in_actions({"GITHUB_ACTIONS": "false"})
    assert not gha.in_actions({"GITHUB_ACTIONS": "TRUE1"})
    assert not gha.in_actions({})


def test_in_actions_reads_process_env(monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert gha.in_actions()
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert not gha.in_actions()


# -- the run's URL ----------------------------------------------------------

RUN_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://ghe.acme.example/",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_RUN_ID": "4242",
}


def test_actions_run_url_links_a_rerun_to_its_own_attempt():
    """One run URL (before: the report's link never named the attempt, the alerts' always did, even /attempts/1)."""
    assert gha.actions_run_url(RUN_ENV) == "https://ghe.acme.example/acme/shop/actions/runs/4242"
    first = {**RUN_ENV, "GITHUB_RUN_ATTEMPT": "1"}
    assert gha.actions_run_url(first) == "https://ghe.acme.example/acme/shop/actions/runs/4242"
    rerun = {**RUN_ENV, "GITHUB_RUN_ATTEMPT": "3"}
    assert gha.actions_run_url(rerun) == "https://ghe.acme.example/acme/shop/actions/runs/4242/attempts/3"
    assert gha.actions_run_url({**RUN_ENV, "GITHUB_RUN_ATTEMPT": "x"}).endswith("/runs/4242")


def test_actions_run_url_none_outside_a_run():
    assert gha.actions_run_url({**RUN_ENV, "GITHUB_ACTIONS": "false"}) is None
    assert gha.actions_run_url({k: v for k, v in RUN_ENV.items() if k != "GITHUB_RUN_ID"}) is None
    assert gha.actions_run_url({**RUN_ENV, "GITHUB_RUN_ID": "42/../../x"}) is None
    assert gha.actions_run_url({**RUN_ENV, "GITHUB_SERVER_URL": ""}) == "https://github.com/acme/shop/actions/runs/4242"


def test_actions_run_url_is_the_one_the_report_links(monkeypatch):
    """The report's Slack link is this function's (the alerts' links too: tests/alerts/test_manager.py, attempt 2)."""
    from acme_ci_budget.integrations import slack

    assert slack.actions_run_url is gha.actions_run_url
    for key, value in {**RUN_ENV, "GITHUB_RUN_ATTEMPT": "2"}.items():
        monkeypatch.setenv(key, value)
    assert slack.actions_run_url() == "https://ghe.acme.example/acme/shop/actions/runs/4242/attempts/2"


# -- escaping ---------------------------------------------------------------


def test_escape_data_encodes_percent_first_and_line_breaks():
    assert gha.escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    # '%0A' typed literally must not turn into a newline when the runner unescapes it.
    assert gha.escape_data("%0A") == "%250A"
    assert gha.escape_data("a:b,c") == "a:b,c"


def test_escape_property_also_encodes_colon_and_comma():
    assert gha.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_format_command_orders_properties_and_drops_none():
    line = gha.format_command("warning", {"title": "Budget: 80%", "file": None, "line": 3}, "used\n::error::x")
    assert line == "::warning title=Budget%3A 80%25,line=3::used%0A::error::x"
    assert gha.format_command("notice", None, "hi") == "::notice::hi"
    assert gha.format_command("notice", {"title": None}, "hi") == "::notice::hi"


# -- outputs ----------------------------------------------------------------


def test_single_line_output_uses_key_value(actions_env):
    assert gha.set_output("model", "claude-haiku-4-5") is True
    assert actions_env["output"].read_text() == "model=claude-haiku-4-5\n"


def test_multiline_output_uses_random_heredoc_delimiter(actions_env):
    gha.set_output("block-reason", "line one\nline two")
    text = actions_env["output"].read_text()
    first, *_, last = text.rstrip("\n").split("\n")
    name, delimiter = first.split("<<")
    assert name == "block-reason"
    assert DELIMITER_RE.match(delimiter)
    assert last == delimiter
    assert parse_output_file(text) == {"block-reason": "line one\nline two"}


def test_heredoc_delimiters_differ_between_calls(actions_env):
    gha.set_output("a", "x\ny")
    gha.set_output("b", "x\ny")
    lines = actions_env["output"].read_text().split("\n")
    delimiters = [line.split("<<")[1] for line in lines if "<<" in line]
    assert len(delimiters) == 2 and delimiters[0] != delimiters[1]


def test_delimiter_that_occurs_in_value_is_not_used(actions_env, monkeypatch):
    handed = token_sequence(monkeypatch, "a" * 32, "b" * 32)
    hostile = f"first\nghadelimiter_{'a' * 32}\nblocked=false"
    gha.set_output("review", hostile)
    assert handed == ["a" * 32, "b" * 32]
    text = actions_env["output"].read_text()
    assert text.startswith(f"review<<ghadelimiter_{'b' * 32}\n")
    # The value ends where it should: no injected `blocked` output.
    assert parse_output_file(text) == {"review": hostile}


def test_delimiter_search_gives_up_rather_than_writing_an_ambiguous_file(actions_env, monkeypatch):
    monkeypatch.setattr(gha, "_new_token", lambda: "c" * 32)
    with pytest.raises(RuntimeError, match="delimiter"):
        gha.set_output("x", f"ghadelimiter_{'c' * 32}\n")
    assert actions_env["output"].read_text() == ""


def test_injection_through_single_line_is_impossible(actions_env):
    gha.set_output("skipped-reason", "ok\nblocked=true")
    assert parse_output_file(actions_env["output"].read_text()) == {"skipped-reason": "ok\nblocked=true"}


def test_output_values_are_converted(actions_env):
    gha.set_outputs({"blocked": True, "cache": False, "tokens": 1200, "none": None, "meta": {"b": 1, "a": 2}})
    assert parse_output_file(actions_env["output"].read_text()) == {
        "blocked": "true",
        "cache": "false",
        "tokens": "1200",
        "none": "",
        "meta": '{"a": 2, "b": 1}',
    }


@pytest.mark.parametrize("name", ["", "a=b", "a<<b", "bad name", "x\ny", "9lives", "naïve"])
def test_invalid_output_names_are_rejected_before_writing(actions_env, name):
    with pytest.raises(ValueError, match="output name"):
        gha.set_outputs({"good": "1", name: "v"})
    assert actions_env["output"].read_text() == ""


def test_outputs_append_to_existing_file(actions_env):
    actions_env["output"].write_text("earlier=1\n")
    gha.set_output("later", "2")
    assert parse_output_file(actions_env["output"].read_text()) == {"earlier": "1", "later": "2"}


def test_outputs_are_noops_without_env_file(local_env, tmp_path, capsys):
    assert gha.set_output("model", "x") is False
    assert gha.set_outputs({"model": "x"}) is False
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert list(tmp_path.iterdir()) == []


def test_invalid_name_is_an_error_even_outside_actions(local_env):
    with pytest.raises(ValueError):
        gha.set_output("a=b", "x")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r")),
        max_size=5,
    )
)
def test_outputs_round_trip_through_runner_parsing(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("out") / "output"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITHUB_OUTPUT", str(path))
        gha.set_outputs(values)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    assert parse_output_file(text) == values


# -- step summary -----------------------------------------------------------


def test_summary_appends_markdown_with_trailing_newline(actions_env):
    assert gha.append_summary("## Review cost") is True
    assert gha.append_summary("| a | b |\n") is True
    assert actions_env["summary"].read_text() == "## Review cost\n| a | b |\n"


def test_summary_noop_without_env_file(local_env, capsys):
    assert gha.append_summary("# hi") is False
    assert capsys.readouterr() == ("", "")


def test_summary_is_cut_to_the_one_mib_limit(actions_env):
    summary = actions_env["summary"]
    summary.write_bytes(b"x" * (gha.SUMMARY_LIMIT_BYTES - 500))
    gha.append_summary("é" * 1000)  # 2000 bytes, does not fit
    data = summary.read_bytes()
    assert len(data) <= gha.SUMMARY_LIMIT_BYTES
    text = data.decode("utf-8")  # no half characters
    assert text.endswith(gha.SUMMARY_TRUNCATED_NOTE)
    assert "é" in text


def test_summary_at_the_limit_writes_nothing_more(actions_env):
    summary = actions_env["summary"]
    summary.write_bytes(b"x" * (gha.SUMMARY_LIMIT_BYTES - 5))
    assert gha.append_summary("more text than fits") is True
    assert summary.stat().st_size == gha.SUMMARY_LIMIT_BYTES - 5


# -- annotations ------------------------------------------------------------


@pytest.mark.parametrize("level", ["notice", "warning", "error"])
def test_annotations_in_actions_are_escaped_commands(actions_env, capsys, level):
    getattr(gha, level)("80% used\n::add-mask::x", title="Budget: org, month", file="src/a,b.py", line=12)
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (f"::{level} title=Budget%3A org%2C month,file=src/a%2Cb.py,line=12::80%25 used%0A::add-mask::x\n")
    # One line, one command: the message's own '::add-mask::' is data, not a command.
    assert runner_commands(out) == [(level, "80%25 used%0A::add-mask::x")]


def test_annotation_without_properties(actions_env, capsys):
    gha.warning("plain")
    assert capsys.readouterr().out == "::warning::plain\n"


def test_annotation_position_properties(actions_env, capsys):
    gha.error("x", file="f.py", line=1, end_line=2, col=3, end_column=4)
    assert capsys.readouterr().out == "::error file=f.py,line=1,endLine=2,col=3,endColumn=4::x\n"


def test_annotations_outside_actions_go_to_stderr_as_plain_text(local_env, capsys):
    gha.warning("budget at 80%", title="Budget", file="a.py", line=3)
    gha.error("blocked")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "warning: a.py:3: Budget: budget at 80%\nerror: blocked\n"


# -- masking ----------------------------------------------------------------


def test_add_mask_in_actions(actions_env, capsys):
    gha.add_mask("sk-ant-123%")
    assert capsys.readouterr().out == "::add-mask::sk-ant-123%25\n"


def test_add_mask_multiline_masks_whole_and_each_line(actions_env, capsys):
    gha.add_mask("-----BEGIN KEY-----\nabc\n\n")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "::add-mask::-----BEGIN KEY-----%0Aabc%0A%0A",
        "::add-mask::-----BEGIN KEY-----",
        "::add-mask::abc",
    ]


def test_add_mask_ignores_empty_and_blank(actions_env, capsys):
    gha.add_mask("")
    gha.add_mask(None)
    gha.add_mask("   ")
    assert capsys.readouterr().out == ""


def test_add_mask_outside_actions_never_prints_the_secret(local_env, capsys):
    gha.add_mask("sk-ant-secret")
    out, err = capsys.readouterr()
    assert "sk-ant-secret" not in out + err


# -- stop-commands ----------------------------------------------------------


def test_stop_commands_fences_model_text(actions_env, capsys):
    model_text = "Looks good.\n::error::pwned\n::add-mask::x\n::set-output name=blocked::false"
    gha.stop_commands(model_text)
    out = capsys.readouterr().out
    lines = out.split("\n")
    start = re.match(r"^::stop-commands::([0-9a-f]{32})$", lines[0])
    assert start, lines[0]
    token = start.group(1)
    assert lines[-2] == f"::{token}::" and lines[-1] == ""
    assert "\n".join(lines[1:-2]) == model_text
    assert token not in model_text
    assert runner_commands(out) == []
    # Processing resumes after the block.
    gha.warning("after")
    assert runner_commands(capsys.readouterr().out) == [("warning", "after")]


def test_stop_commands_token_is_random(actions_env, capsys):
    gha.stop_commands("a")
    gha.stop_commands("a")
    tokens = re.findall(r"::stop-commands::(\w+)", capsys.readouterr().out)
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_stop_commands_token_avoids_text(actions_env, capsys, monkeypatch):
    handed = token_sequence(monkeypatch, "d" * 32, "e" * 32)
    text = f"::error::boom\n::{'d' * 32}::\n::error::second"
    gha.stop_commands(text)
    out = capsys.readouterr().out
    assert handed == ["d" * 32, "e" * 32]
    assert out.startswith(f"::stop-commands::{'e' * 32}\n")
    assert runner_commands(out) == []


def test_stop_commands_resume_marker_is_on_its_own_line(actions_env, capsys):
    gha.stop_commands("no newline at end ::error::x")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "no newline at end ::error::x"
    assert re.match(r"^::[0-9a-f]{32}::$", lines[2])


def test_commands_stopped_resumes_after_an_exception(actions_env):
    buffer = io.StringIO()
    with pytest.raises(KeyError), gha.commands_stopped(stream=buffer) as token:
        buffer.write("::error::inside\n")
        raise KeyError("boom")
    assert buffer.getvalue().splitlines()[-1] == f"::{token}::"
    assert runner_commands(buffer.getvalue()) == []


def test_stop_commands_outside_actions_prints_text_only(local_env, capsys):
    gha.stop_commands("::error::x")
    assert capsys.readouterr().out == "::error::x\n"


# -- URLs with passwords ----------------------------------------------------


# The URL forms themselves are tested in test_redact.py (one parser for the CLI and the masks).


def test_mask_secret_url_masks_password_and_returns_redacted(actions_env, capsys):
    url = "redis://app:hunter%232@cache.acme:6379/0"
    shown = gha.mask_secret_url(url)
    out = capsys.readouterr().out
    assert shown == "redis://app:***@cache.acme:6379/0"
    assert runner_commands(out) == [("add-mask", "hunter%25232"), ("add-mask", "hunter#2")]
    assert url not in out


def test_mask_secret_url_outside_actions_prints_nothing(local_env, capsys):
    assert gha.mask_secret_url("redis://:pw@h") == "redis://:***@h"
    assert capsys.readouterr() == ("", "")
