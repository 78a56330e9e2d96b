"""A simulation's namespace read back: the scaled team it ran as, or the config on another namespace."""

from __future__ import annotations

from acme_ci_budget.simulate.isolation import config_for_namespace, simulation_config, simulation_namespace


def test_a_simulation_namespace_reads_as_the_scaled_team(default_config):
    namespace = simulation_namespace(default_config, "2026-06", 100, 3)
    config = config_for_namespace(default_config, namespace)
    assert config == simulation_config(default_config, "2026-06", 100, 3)
    wf = next(w for w in default_config.workflows.values() if w.inventory is not None)
    assert config.workflows[wf.id].inventory.monthly_tasks == wf.inventory.monthly_tasks * 100
    assert config.alerts.slack_webhook_url is None and config.alerts.pagerduty_routing_key is None


def test_any_other_namespace_is_the_config_on_that_namespace(default_config):
    for namespace in ("team-b", f"{default_config.namespace}-sim-june", "other-sim-2026-06-x100-s0"):
        config = config_for_namespace(default_config, namespace)
        assert config.namespace == namespace
        assert config.workflows == default_config.workflows
