"""Property-based: arbitrary interleavings of reserve / settle / release / clock moves on a real Redis.

Invariants after every step: spent + held never exceeds any limit (actual usage never exceeds what
was reserved), held equals the sum of the open holds, and every spent counter equals the sum of the
call events, to the nano-dollar: the org's, and each repository's (calls come from a capped
repository, an uncapped one and none known).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from acme_ci_budget.config import load_config, parse_config
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.conftest import DEFAULT_CONFIG_TEXT

HAIKU = load_config(default_config_path()).workflows["dev_assistant"].routing.default_model  # the Haiku role
WORKFLOWS = ("ci_cd_review", "pm_assistant")
REPOS = ("acme/app", "acme/web", "")


def _tight_config():
    text = DEFAULT_CONFIG_TEXT.replace("    daily_usd: 10\n", "    daily_usd: 0.03\n", 1)
    text = text.replace("    monthly_usd: 90\n    daily_usd: 5\n", "    monthly_usd: 0.05\n    daily_usd: 0.02\n", 1)
    text = text.replace("hold_ttl_seconds: 600", "hold_ttl_seconds: 60")
    return parse_config(text + "\nrepos:\n  acme/app:\n    monthly_usd: 0.02\n")


class LedgerMachine(RuleBasedStateMachine):
    url: str = ""

    def __init__(self) -> None:
        super().__init__()
        client = redis.Redis.from_url(self.url)
        client.flushdb()
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        self.config = _tight_config()
        self.e = BudgetEnforcer(self.config, redis=client, clock=lambda: self.now)
        self.by_repo = {
            repo: BudgetEnforcer(self.config, redis=client, clock=lambda: self.now, repo=repo) for repo in REPOS
        }
        self.open: list = []
        self.reserved_at: dict[str, datetime] = {}

    @rule(wf=st.sampled_from(WORKFLOWS), inp=st.integers(0, 4000), out=st.integers(1, 3000),
          session=st.sampled_from([None, "s1", "s2"]), repo=st.sampled_from(REPOS))
    def reserve(self, wf, inp, out, session, repo):
        res = self.by_repo[repo].reserve(wf, HAIKU, inp, out, session_id=session)
        if res.allowed:
            self.open.append(res)
            self.reserved_at[res.id] = self.now

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def settle(self, data):
        res = self.open.pop(data.draw(st.integers(0, len(self.open) - 1)))
        used_out = data.draw(st.integers(0, res.max_output_tokens))
        cached = data.draw(st.integers(0, res.input_tokens))
        # cache reads are cheaper than input, so moving input into cache never raises the cost
        self.e.settle(res, res.input_tokens - cached, used_out, 0, cached)

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def release(self, data):
        self.e.release(self.open.pop(data.draw(st.integers(0, len(self.open) - 1))))

    @rule(minutes=st.integers(1, 24 * 60))
    def advance(self, minutes):
        self.now += timedelta(minutes=minutes)
        # holds of workers that "died" are purged by the next reserve once their TTL passes
        self.open = [r for r in self.open if (self.now - self.reserved_at[r.id]).total_seconds() < 60]

    @invariant()
    def limits_hold_and_counters_equal_events(self):
        r = self.e.redis
        k = self.e.keys
        day, month = self.e.periods()
        org = int(r.get(k.org_spent(month)) or 0) + int(r.get(k.org_held(month)) or 0)
        assert org <= self.config.org_monthly_nano
        for wf in WORKFLOWS:
            limits = self.config.workflows[wf]
            m = int(r.get(k.wf_spent_month(wf, month)) or 0) + int(r.get(k.wf_held_month(wf, month)) or 0)
            d = int(r.get(k.wf_spent_day(wf, day)) or 0) + int(r.get(k.wf_held_day(wf, day)) or 0)
            assert m <= limits.monthly_nano
            assert d <= limits.daily_nano
        events = [{a.decode(): b.decode() for a, b in f.items()} for _i, f in r.xrange(k.events())]
        by_counter: dict[str, int] = {}
        for ev in events:
            if ev["type"] == "call":
                by_counter[ev["workflow"]] = by_counter.get(ev["workflow"], 0) + int(ev["cost_nano"])
        months = {month, "2026-11", "2026-12"}
        total_spent = sum(int(r.get(k.org_spent(mo)) or 0) for mo in months)
        assert total_spent == sum(by_counter.values())
        held = sum(int(r.get(k.org_held(mo)) or 0) for mo in months)
        open_amounts = sum(int(r.hget(k.hold(i.decode()), "amount") or 0) for i in r.zrange(k.holds(), 0, -1))
        assert held == open_amounts
        for repo, cap in self.config.repos.items():
            used = int(r.get(k.repo_spent(repo, month)) or 0) + int(r.get(k.repo_held(repo, month)) or 0)
            assert used <= cap.monthly_nano
        for repo in REPOS[:2]:
            mine = sum(int(ev["cost_nano"]) for ev in events if ev["type"] == "call" and ev["repo"] == repo)
            assert sum(int(r.get(k.repo_spent(repo, mo)) or 0) for mo in months) == mine, repo


def test_interleavings_keep_every_invariant(redis_url):
    LedgerMachine.url = redis_url
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
