"""The config's optional ``reconcile:`` section (issue 13): which keys and workspace are this product's."""

from __future__ import annotations

import pytest

from acme_ci_budget.config import ConfigError, ReconcileSettings


def test_absent_means_the_whole_organisation(default_config):
    assert default_config.reconcile == ReconcileSettings()


def test_keys_workspace_and_key_workflows(make_config):
    cfg = make_config(
        reconcile={
            "api_key_ids": ["apikey_a", "apikey_b"],
            "workspace_id": "wrkspc_ci",
            "key_workflows": {"apikey_a": "ci_cd_review"},
        }
    )
    assert cfg.reconcile.api_key_ids == ("apikey_a", "apikey_b")
    assert cfg.reconcile.workspace_id == "wrkspc_ci"
    assert dict(cfg.reconcile.key_workflows) == {"apikey_a": "ci_cd_review"}


@pytest.mark.parametrize(
    "section, where",
    [
        ({"api_keys": ["x"]}, "reconcile.api_keys: unknown key"),
        ({"api_key_ids": "apikey_a"}, "reconcile.api_key_ids: expected a list"),
        ({"key_workflows": {"apikey_a": "nope"}}, "reconcile.key_workflows.apikey_a: unknown workflow 'nope'"),
        ({"api_key_ids": ["apikey_b"], "key_workflows": {"apikey_a": "ci_cd_review"}}, "not in reconcile.api_key_ids"),
        ({"workspace_id": ""}, "reconcile.workspace_id: expected a non-empty string"),
        ({"key_workflows": ["apikey_a"]}, "reconcile.key_workflows: expected a mapping"),
    ],
)
def test_bad_sections_name_the_field(make_config, section, where):
    with pytest.raises(ConfigError, match=r"test-config\.yml: ") as err:
        make_config(reconcile=section)
    assert where in str(err.value)
