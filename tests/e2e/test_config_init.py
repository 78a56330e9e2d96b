"""``acme-ci-budget config init``: a commented starter config that validates, never written over by accident."""

from __future__ import annotations

from pathlib import Path

from acme_ci_budget import cli
from acme_ci_budget.budget.models_check import named_models
from acme_ci_budget.catalog.lifecycle import bundled_table
from acme_ci_budget.config import load_config
from acme_ci_budget.core.resources import default_config_path, starter_config_path


def run_cli(monkeypatch, capsys, args: list[str]) -> tuple[int, str, str]:
    try:
        code = int(cli.main(args) or 0)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_writes_a_commented_starter_that_validates(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, ["config", "init"])
    assert (code, err) == (0, "")
    target = tmp_path / ".github" / "acme-budget.yml"
    assert out.startswith("Wrote .github/acme-budget.yml: one review workflow (ci_cd_review), $50/month, $5/day.")
    text = target.read_text()
    assert text == starter_config_path().read_text()
    assert text.count("\n#") + text.count("  # ") > 10  # commented for the person who edits it
    config = load_config(target)
    assert list(config.workflows) == ["ci_cd_review"]
    wf = config.workflow("ci_cd_review")
    assert (config.org_monthly_usd, wf.monthly_usd, wf.daily_usd) == (50, 50, 5)
    assert config.namespace != load_config(default_config_path()).namespace  # never Acme's ledger namespace
    assert wf.routing.complex_paths and "**/auth/**" in wf.routing.complex_paths
    # today's models: the bundled lifecycle table lists every one as active
    table = bundled_table()
    assert {table.get(m).state for m in named_models(config)} == {"active"}
    # alerts stay off unless the environment provides them
    assert config.alerts.slack_webhook_url is None and config.alerts.pagerduty_routing_key is None
    code, out, err = run_cli(monkeypatch, capsys, ["config", "validate", str(target)])
    assert code == 0 and out.startswith(f"OK {target}: 1 workflows, $50.00 of $50.00/month") and err == ""


def test_alerts_switch_on_from_the_environment(tmp_path, monkeypatch, capsys) -> None:
    target = tmp_path / "budget.yml"
    assert run_cli(monkeypatch, capsys, ["config", "init", str(target)])[0] == 0
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.example/services/T/B/secret")
    assert load_config(target).alerts.slack_webhook_url == "https://hooks.slack.example/services/T/B/secret"


def test_init_refuses_to_overwrite_without_force(tmp_path, monkeypatch, capsys) -> None:
    target = tmp_path / "deep" / "er" / "budget.yml"
    assert run_cli(monkeypatch, capsys, ["config", "init", str(target)])[0] == 0  # folders are created
    target.write_text("org: {monthly_usd: 1}\n")
    code, out, err = run_cli(monkeypatch, capsys, ["config", "init", str(target)])
    assert (code, out) == (2, "")
    assert err == f"Error: {target}: already exists (use --force to overwrite it)\n"
    assert target.read_text() == "org: {monthly_usd: 1}\n"
    code, _, _ = run_cli(monkeypatch, capsys, ["config", "init", str(target), "--force"])
    assert code == 0 and target.read_text() == starter_config_path().read_text()
    assert [p.name for p in target.parent.iterdir()] == ["budget.yml"]  # no temporary file left behind


def test_init_into_an_impossible_place_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a-file").write_text("x")
    code, out, err = run_cli(monkeypatch, capsys, ["config", "init", "a-file/budget.yml"])
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("Error: a-file/budget.yml: cannot write the config (") and len(err.splitlines()) == 1
    assert Path("a-file").read_text() == "x"
    code, _, err = run_cli(monkeypatch, capsys, ["config", "init", "."])  # click's own usage error
    assert code == 2 and err.splitlines()[-1] == "Error: Invalid value for '[PATH]': File '.' is a directory."
