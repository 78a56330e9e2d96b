"""Reconcile a `simulate` month against the fake Admin API: the figure README's "Reconcile" section quotes.

    python scripts/reconcile_simulated.py [--month 2026-10] [--scale 1] [--seed 0] [--console-usd 0]

Runs the simulation (the lab's config, a scratch embedded Redis, the offline model), then serves the
simulated calls as Anthropic's usage and cost reports from tests/fakes/anthropic_admin.py on 127.0.0.1:
one usage row per call (its UTC time, model and tokens as the ledger recorded them), priced by the fake
at the config's per-token rates and summed per UTC day, the way the cost report bills. ``--console-usd``
adds that much console usage (no API key) on the 10th, which reconcile must report as unattributed.
Then it runs `reconcile` for the month (UTC days) twice: without adjustments, and with
``--record-adjustments`` then once more, to show the second run changes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acme_ci_budget.catalog.pricing import price_for
from acme_ci_budget.config import load_config
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.integrations.anthropic_admin import AdminClient
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.runs.reconcile import render, resolve_period, run_reconcile
from acme_ci_budget.simulate.replay import run_simulation, scratch_redis, simulation_config
from tests.fakes.anthropic_admin import ADMIN_KEY, FakeAdminAPI, UsageRow, prices_from


def rows_from_ledger(enforcer: BudgetEnforcer) -> list[UsageRow]:
    rows = []
    for e in enforcer.events(types=["call"]):
        one_hour = e.get("cache_creation_1h_input_tokens", 0)
        rows.append(
            UsageRow(
                datetime.fromtimestamp(e["ts_ms"] / 1000, UTC),
                e["model"],
                e.get("input_tokens", 0),
                e.get("output_tokens", 0),
                e.get("cache_creation_input_tokens", 0) - one_hour,
                one_hour,
                e.get("cache_read_input_tokens", 0),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--console-usd", type=Decimal, default=Decimal(0))
    args = parser.parse_args()

    config = load_config()
    with scratch_redis() as redis:
        started = time.perf_counter()
        sim = run_simulation(config, redis, month=args.month, scale=args.scale, seed=args.seed)
        sim_config = simulation_config(config, args.month, args.scale, args.seed)
        enforcer = BudgetEnforcer(sim_config, redis=redis)
        rows = rows_from_ledger(enforcer)
        models = {r.model for r in rows}
        prices = prices_from(lambda m: price_for(m, sim_config.pricing).tier_for(0), models)
        print(
            f"simulate {args.month} x{args.scale:g} seed {args.seed}: {len(rows):,} calls settled "
            f"in {time.perf_counter() - started:.1f}s ({sim.namespace})"
        )
        if args.console_usd:
            model = sorted(models)[0]
            tokens = int(args.console_usd * 1_000_000 / prices[model]["output_tokens"])
            when = datetime.strptime(args.month + "-10", "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(hours=12)
            rows.append(UsageRow(when, model, output_tokens=tokens, api_key_id=None))
        month_end = datetime.strptime(args.month + "-01", "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=32)
        period = resolve_period(args.month, None, None, month_end.replace(day=2))
        with FakeAdminAPI(rows, prices) as fake:
            client = AdminClient(ADMIN_KEY, fake.url, sleep=lambda _s: None)
            for record in (False, True, True):
                started = time.perf_counter()
                run = run_reconcile(
                    sim_config, period, tolerance_pct=Decimal(1), record_adjustments=record, redis=redis, client=client
                )
                took = time.perf_counter() - started
                head = render(run, "text").split("\n\n", 1)[0]
                flag = " --record-adjustments" if record else ""
                print(f"\n$ acme-ci-budget reconcile --month {args.month}{flag}   ({took:.2f}s)\n{head}")
                if not record:
                    r = run.result
                    worst = max((abs(x.drift_nano) for x in r.rows), default=0)
                    print(
                        f"rows {len(r.rows)} ({sum(x.status == 'match' for x in r.rows)} match); "
                        f"total drift {r.drift_nano:+,} nano-USD ({fmt_usd(abs(r.drift_nano), 9)}); "
                        f"largest row drift {worst:,} nano-USD"
                    )


if __name__ == "__main__":
    main()
