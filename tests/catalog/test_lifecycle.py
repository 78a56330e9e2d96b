"""Model lifecycle: ``models check`` against the fake Models API (real SDK), the offline warnings of
``config validate``, the bundled table, and the fake's retired model answering 404 like the API."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import anthropic
import pytest
import yaml

from acme_ci_budget import cli
from acme_ci_budget.budget.models_check import check_offline, named_models
from acme_ci_budget.catalog.lifecycle import bundled_table
from acme_ci_budget.integrations.models_api import ModelsAPI, model_info, safe_base_url
from tests.fakes.anthropic_server import DEFAULT_MODELS, FakeAnthropicServer, model_entry, ok

API_KEY = "sk-ant-lifecycle-secret-key-0123456789"
RETIRED = "claude-3-opus-20240229"  # retired in the fake's catalogue (and on Anthropic's page)
DEPRECATED = "claude-sonnet-4-5-20250929"


def write_config(tmp_path: Path, *, default: str, complex_: str, simple: str, pm_default: str | None = None) -> Path:
    """A two-workflow config on the given models (inventory names the default model)."""

    def workflow(default_model: str, complex_model: str, simple_model: str) -> dict:
        return {
            "monthly_usd": 10,
            "daily_usd": 1,
            "per_task_tokens": {"soft": 1000, "hard": 2000},
            "per_session_tokens": {"soft": 1000, "hard": 2000},
            "routing": {"default_model": default_model, "complex_model": complex_model, "simple_model": simple_model},
            "inventory": {"monthly_tasks": 1, "avg_input_tokens": 1, "avg_output_tokens": 1},
        }

    raw = {
        "org": {"monthly_usd": 100},
        "pricing": {"claude-imaginary-1": {"input": 1, "output": 2}},
        "workflows": {
            "ci_cd_review": workflow(default, complex_, simple),
            "pm_assistant": workflow(pm_default or default, "claude-sonnet-5-5", "claude-haiku-5-5"),
        },
    }
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_cli(monkeypatch, capsys, args: list[str], **env: str) -> tuple[int, str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        code = int(cli.main(args) or 0)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def api_env(fake_anthropic: FakeAnthropicServer) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": fake_anthropic.url}


# --- models check ------------------------------------------------------------------------------


def test_retired_and_unlisted_models_exit_2_naming_every_field(tmp_path, monkeypatch, capsys, fake_anthropic, api_env):
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_=DEPRECATED, simple=RETIRED,
                        pm_default="claude-imaginary-1")
    code, out, err = run_cli(monkeypatch, capsys, ["models", "check", "--config", str(path)], **api_env)
    assert code == 2
    assert "Traceback" not in out + err and API_KEY not in out + err
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[2:]}
    assert rows == {
        "claude-haiku-5-5": ["active", "-"],
        DEPRECATED: ["deprecated", "2026-11-30"],
        RETIRED: ["retired", "2026-01-05"],
        "claude-imaginary-1": ["unlisted", "-"],
        "claude-sonnet-5-5": ["active", "-"],
    }
    retired_row = next(line for line in out.splitlines() if line.startswith(RETIRED))
    assert retired_row.split() == [RETIRED, "retired", "2026-01-05", "workflows.ci_cd_review.routing.simple_model"]
    where = f"Models API at {fake_anthropic.url}"
    assert err.splitlines() == [
        f"warning: model {DEPRECATED!r} is deprecated, "
        f"{'was scheduled to retire' if date.today() >= date(2026, 11, 30) else 'retires'} 2026-11-30 ({where}): "
        f"named at workflows.ci_cd_review.routing.complex_model in {path}; replace it with claude-sonnet-5-5",
        f"Error: model {RETIRED!r} is retired since 2026-01-05 ({where}): named at "
        f"workflows.ci_cd_review.routing.simple_model in {path}; replace it with claude-opus-4-1",
        f"Error: model 'claude-imaginary-1' is not served by {fake_anthropic.url} (retired, misspelled, or not "
        f"available to this key): named at workflows.pm_assistant.routing.default_model, "
        f"workflows.pm_assistant.inventory.model in {path}; replace it",
    ]
    listing, lookup = fake_anthropic.requests
    # retired models are asked for explicitly: the API leaves them out of the default listing
    assert listing.path == "/v1/models?limit=1000&lifecycle%5B%5D=active&lifecycle%5B%5D=deprecated&lifecycle%5B%5D=retired"
    assert listing.headers["authorization"] == "<redacted>"  # this SDK sends the key as a bearer token
    assert lookup.path == "/v1/models/claude-imaginary-1"  # an id the list lacks (an alias?) is looked up


def test_all_active_is_exit_0_and_json_lists_each_model(tmp_path, monkeypatch, capsys, fake_anthropic, api_env):
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_="claude-sonnet-5-5", simple="claude-haiku-5-5")
    code, out, err = run_cli(monkeypatch, capsys, ["models", "check", "--config", str(path)], **api_env)
    assert (code, err) == (0, "")
    assert "Models API" in out and "6 models listed" in out  # the two retired ones are listed too
    code, out, err = run_cli(monkeypatch, capsys, ["models", "check", "--config", str(path), "--format", "json"])
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["listed"] == 6
    assert data["models"][0] == {
        "model": "claude-haiku-5-5",
        "state": "active",
        "deprecated_at": None,
        "retires_at": None,
        "replacement": None,
        "used_by": [
            "workflows.ci_cd_review.routing.default_model",
            "workflows.ci_cd_review.routing.simple_model",
            "workflows.ci_cd_review.inventory.model",
            "workflows.pm_assistant.routing.default_model",
            "workflows.pm_assistant.routing.simple_model",
            "workflows.pm_assistant.inventory.model",
        ],
    }


def test_json_of_a_failing_check_still_prints_the_document(tmp_path, monkeypatch, capsys, api_env):
    path = write_config(tmp_path, default=RETIRED, complex_="claude-sonnet-5-5", simple="claude-haiku-5-5")
    code, out, err = run_cli(
        monkeypatch, capsys, ["models", "check", "--config", str(path), "--format", "json"], **api_env
    )
    data = json.loads(out)
    assert code == 2 and data["ok"] is False
    assert [m["state"] for m in data["models"] if m["model"] == RETIRED] == ["retired"]
    assert err.startswith(f"Error: model {RETIRED!r} is retired")


def test_every_page_is_read(tmp_path, monkeypatch, capsys, fake_anthropic, api_env):
    filler = [model_entry(f"claude-filler-{i:04d}") for i in range(1_200)]
    fake_anthropic.set_models([*filler, model_entry("claude-haiku-5-5"), model_entry("claude-sonnet-5-5")])
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_="claude-sonnet-5-5", simple="claude-haiku-5-5")
    code, out, err = run_cli(monkeypatch, capsys, ["models", "check", "--config", str(path)], **api_env)
    assert (code, err) == (0, "")
    assert "1202 models listed" in out
    first, second = fake_anthropic.requests
    assert "after_id" not in first.path and "after_id=claude-filler-0999" in second.path
    assert "lifecycle%5B%5D=retired" in second.path  # the filter holds on every page


def test_a_model_without_lifecycle_fields_is_active(tmp_path, monkeypatch, capsys, fake_anthropic, api_env):
    bare = {"type": "model", "id": "claude-haiku-5-5", "display_name": "Haiku", "created_at": "2026-09-15T00:00:00Z"}
    fake_anthropic.set_models([bare, model_entry("claude-sonnet-5-5")])
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_="claude-sonnet-5-5", simple="claude-haiku-5-5")
    code, out, _ = run_cli(monkeypatch, capsys, ["models", "check", "--config", str(path)], **api_env)
    assert code == 0 and next(line for line in out.splitlines() if line.startswith("claude-haiku-5-5")).split()[1] == (
        "active"
    )
    assert model_info({"id": "x"}).state == "active" and model_info({"id": "x", "lifecycle": "odd"}).state == "active"


def test_no_key_is_one_line_exit_2(tmp_path, monkeypatch, capsys, fake_anthropic):
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_="claude-sonnet-5-5", simple="claude-haiku-5-5")
    code, out, err = run_cli(monkeypatch, capsys, ["models", "check", "--config", str(path)],
                             ANTHROPIC_BASE_URL=fake_anthropic.url)
    assert (code, out) == (2, "")
    assert err == "Error: no API key: set ANTHROPIC_API_KEY (the Models API needs one)\n"
    assert fake_anthropic.requests == []


def test_unreachable_api_is_one_line_without_the_credentials_of_the_url(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_="claude-sonnet-5-5", simple="claude-haiku-5-5")
    code, out, err = run_cli(
        monkeypatch, capsys, ["models", "check", "--config", str(path), "--timeout-seconds", "2"],
        ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=f"http://proxyuser:proxy-pass-123@127.0.0.1:{port}/",
    )
    assert code == 2 and out == ""
    assert err.startswith(f"Error: could not reach the Models API at http://127.0.0.1:{port} (")
    assert len(err.splitlines()) == 1 and "proxy-pass-123" not in err and API_KEY not in err


def test_an_api_error_names_status_and_type(fake_anthropic):
    # A client that sends no credentials: the API answers 401 authentication_error.
    no_auth = {"Authorization": anthropic.Omit(), "X-Api-Key": anthropic.Omit()}
    api = ModelsAPI(anthropic.Anthropic(api_key="k", base_url=fake_anthropic.url, max_retries=0,
                                        default_headers=no_auth))
    with pytest.raises(Exception) as caught:
        api.catalogue(["claude-haiku-5-5"])
    assert str(caught.value) == (
        f"the Models API at {fake_anthropic.url} answered 401 authentication_error: x-api-key header is required "
        "(check ANTHROPIC_API_KEY)"
    )
    assert caught.value.status_code == 401


def test_safe_base_url_drops_credentials_query_and_fragment():
    assert safe_base_url("https://u:p@proxy.example:8443/anthropic/?token=x#f") == "https://proxy.example:8443/anthropic"
    assert safe_base_url(None) == "https://api.anthropic.com"
    assert safe_base_url("not a url") == "<base URL>"


# --- the fake behaves as the API does for a retired model ----------------------------------------


def test_a_retired_model_answers_404_not_found_on_messages(fake_anthropic):
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_anthropic.url, max_retries=0)
    fake_anthropic.enqueue(ok("queued"))
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model=RETIRED, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body == {"type": "error", "error": {"type": "not_found_error", "message": f"model: {RETIRED}"}}
    assert fake_anthropic.pending == 1  # refused before any behaviour is consumed
    info = client.models.retrieve(RETIRED)  # still in the catalogue, as the historical record
    assert (info.id, info.lifecycle, info.retires_at.date()) == (RETIRED, "retired", date(2026, 1, 5))
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("claude-nope")
    assert missing.value.body["error"] == {"type": "not_found_error", "message": "model: claude-nope"}
    ids = [m.id for m in client.models.list()]  # the default listing leaves retired models out
    assert RETIRED not in ids and DEPRECATED in ids and ids[0] == "claude-opus-5-5"
    with pytest.raises(anthropic.BadRequestError):
        client.models.list(limit=1001)


def test_fake_pages_with_before_id_too(fake_anthropic):
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_anthropic.url, max_retries=0)
    page = client.models.list(limit=2, before_id="claude-haiku-5-5")
    assert [m.id for m in page.data] == ["claude-opus-5-5", "claude-sonnet-5-5"] and page.has_more is False
    assert len(DEFAULT_MODELS) == 6


# --- offline: config validate and the bundled table ---------------------------------------------


def test_config_validate_warns_offline_about_retired_models_and_exits_0(tmp_path, monkeypatch, capsys):
    path = write_config(tmp_path, default="claude-3-5-haiku-20241022", complex_="claude-sonnet-4-5",
                        simple="claude-haiku-5-5")
    code, out, err = run_cli(monkeypatch, capsys, ["config", "validate", str(path)])
    assert code == 0 and out.startswith(f"OK {path}:")
    page = "Anthropic's deprecations page as of 2026-11-30"
    assert err.splitlines() == [
        f"warning: model 'claude-3-5-haiku-20241022' is retired since 2026-02-19 ({page}): named at "
        f"workflows.ci_cd_review.routing.default_model, workflows.ci_cd_review.inventory.model, "
        f"workflows.pm_assistant.routing.default_model, workflows.pm_assistant.inventory.model in {path}; "
        "replace it with claude-haiku-4-5",
        f"warning: model 'claude-sonnet-4-5' is deprecated, retires 2026-11-30 ({page}): named at "
        f"workflows.ci_cd_review.routing.complex_model in {path}; replace it with claude-sonnet-5-5",
    ]


def test_config_validate_is_quiet_on_todays_models(tmp_path, monkeypatch, capsys):
    path = write_config(tmp_path, default="claude-haiku-5-5", complex_="claude-opus-5-5", simple="claude-haiku-5-5")
    code, _, err = run_cli(monkeypatch, capsys, ["config", "validate", str(path)])
    assert (code, err) == (0, "")


def test_table_replacements_follow_the_chain_to_a_served_model():
    table = bundled_table()
    assert table.as_of == date(2026, 11, 30) and table.source.startswith("https://platform.claude.com/")
    assert table.get("claude-3-5-sonnet-20241022").retires_at == date(2025, 10, 28)
    assert table.replacement_for("claude-3-5-sonnet-20241022") == "claude-sonnet-4-6"
    assert table.replacement_for("claude-3-7-sonnet-20250219") == "claude-sonnet-5-5"  # via deprecated 4.5
    assert table.replacement_for("claude-3-haiku-20240307") is None
    assert {m for m, e in table.entries.items() if e.state == "active"} == {
        "claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5"
    }


def test_named_models_narrowed_to_a_workflow_are_its_routing_models(tmp_path, default_config):
    models = named_models(default_config, ["ci_cd_review"])
    assert all(u.startswith("workflows.ci_cd_review.routing.") for uses in models.values() for u in uses)
    assert set(models) == set(default_config.workflow("ci_cd_review").routing.models())
    assert {c.model for c in check_offline(default_config)} <= set(named_models(default_config))


def test_models_modules_import_without_the_sdk():
    code = (
        "import sys, acme_ci_budget.commands.models, acme_ci_budget.catalog.lifecycle, acme_ci_budget.integrations.models_api;"
        "print('anthropic' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_qa_run_with_check_models_stops_on_a_retired_model_before_any_call(
    tmp_path, monkeypatch, capsys, fake_anthropic, api_env, redis_url
):
    from tests.conftest import DEFAULT_CONFIG_TEXT

    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["namespace"] = "qa-lifecycle"
    raw["workflows"]["qa_test_gen"]["routing"]["default_model"] = RETIRED
    path = tmp_path / "qa.yml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setitem(cli.COMMANDS, "qa-testgen", ("qa_testgen", "qa_testgen", "QA"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        monkeypatch, capsys,
        ["qa-testgen", "--ticket-text", "Add a logout button", "--config", str(path), "--redis-url", redis_url],
        **api_env, ACB_CHECK_MODELS="true",
    )
    assert code == 2, err
    assert f"model {RETIRED!r} is retired since 2026-01-05" in err  # outside Actions annotations go to stderr
    assert "named at workflows.qa_test_gen.routing.default_model" in err and API_KEY not in out + err
    assert fake_anthropic.message_requests == [] and not (tmp_path / "qa-test-plan.md").exists()
