"""Eight processes race the ledger on a real redis-server; the lab's read-then-increment races the same way.

The atomic ledger never lets settled spend pass the limit and its counter equals, to the nano-dollar,
the sum of what the workers settled. The lab's algorithm (read spend, check, call, then increment)
run in the same harness overspends; both figures are printed so the difference is measured.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from datetime import UTC, datetime, timedelta

import redis

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.config import parse_config
from acme_ci_budget.ledger.enforcer import BudgetEnforcer

WORKERS = 8
ATTEMPTS = 25
DAILY_USD = 0.05
CALL_SECONDS = 0.005  # the model call between the check and the record


def _config_text() -> str:
    import yaml

    from tests.conftest import DEFAULT_CONFIG_TEXT

    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["workflows"]["ci_cd_review"]["daily_usd"] = DAILY_USD
    return yaml.safe_dump(raw)


# The cheap role's model (ci_cd_review's default): a model retirement is a config change here too.
HAIKU = parse_config(_config_text()).workflows["ci_cd_review"].routing.default_model


def _clock() -> datetime:
    return datetime(2026, 11, 10, 15, 0, tzinfo=UTC)


def _race(enforcer: BudgetEnforcer, seed: int, start: mp.Barrier, refused_for: str | None = None) -> list[int]:
    """One worker's attempts: reserve, "call", then settle (or release one in ten); the costs it settled."""
    rng = random.Random(seed)
    settled = []
    for _ in range(ATTEMPTS):
        start.wait(timeout=60)  # every attempt starts in lockstep: the race happens even on a loaded box
        inp, max_out = rng.randint(500, 3000), rng.randint(200, 1500)
        res = enforcer.reserve("ci_cd_review", HAIKU, inp, max_out)
        if not res.allowed:
            assert refused_for is None or res.reason == refused_for, res.reason
            continue
        time.sleep(CALL_SECONDS)
        if rng.random() < 0.1:
            enforcer.release(res, error="simulated 500")
            continue
        settled.append(enforcer.settle(res, inp, rng.randint(1, res.max_output_tokens)).cost_nano)
    return settled


def _atomic_worker(url: str, config_text: str, seed: int, start: mp.Barrier, out: mp.Queue) -> None:
    out.put(_race(BudgetEnforcer(parse_config(config_text), redis_url=url, clock=_clock), seed, start))


def _lab_worker(url: str, seed: int, limit_nano: int, start: mp.Barrier, out: mp.Queue) -> None:
    client = redis.Redis.from_url(url)
    rng = random.Random(seed)
    settled = []
    for _ in range(ATTEMPTS):
        start.wait(timeout=60)
        inp, max_out = rng.randint(500, 3000), rng.randint(200, 1500)
        estimate = cost_nano(HAIKU, inp, max_out)
        spent = int(client.get("lab:daily") or 0)  # read ...
        if spent + estimate > limit_nano:  # ... check ...
            continue
        time.sleep(CALL_SECONDS)  # ... call the model ...
        actual = cost_nano(HAIKU, inp, rng.randint(1, max_out))
        client.incrby("lab:daily", actual)  # ... then increment
        settled.append(actual)
    out.put(settled)


def _run(target, args_for) -> list[int]:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=target, args=(*args_for(i), start, queue)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return [c for r in results for c in r]


def test_eight_processes_never_overspend_and_ledger_equals_settled(redis_url, capsys):
    text = _config_text()
    limit = int(DAILY_USD * 1e9)
    atomic = _run(_atomic_worker, lambda i: (redis_url, text, i))
    enforcer = BudgetEnforcer(parse_config(text), redis_url=redis_url, clock=_clock)
    ledger_day = int(enforcer.redis.get(enforcer.keys.wf_spent_day("ci_cd_review", "2026-11-10")) or 0)
    assert sum(atomic) <= limit
    assert ledger_day == sum(atomic)
    assert enforcer.open_holds() == 0
    assert sum(atomic) > limit * 0.5, "the race must actually reach the limit for the test to mean anything"
    blocked = int(enforcer.redis.hget(enforcer.keys.stats("2026-11"), "blocked|ci_cd_review|daily_limit_exceeded"))
    assert blocked > 0

    lab = _run(_lab_worker, lambda i: (redis_url, i, limit))
    lab_total = int(redis.Redis.from_url(redis_url).get("lab:daily"))
    with capsys.disabled():
        print(
            f"\n  daily limit ${limit / 1e9:.4f}: atomic ledger settled ${sum(atomic) / 1e9:.6f} "
            f"({len(atomic)} calls); lab read-then-increment settled ${lab_total / 1e9:.6f} "
            f"({len(lab)} calls, {lab_total * 100 / limit - 100:+.1f}% over)"
        )
    assert lab_total == sum(lab)
    assert lab_total > limit, "the lab's algorithm overspends under the same race"


REPO, OTHER_REPO = "acme/app", "acme/web"


def _repo_config_text(cap_usd: float) -> str:
    """Workflow and org budgets far above the race; acme/app's cap is the one limit that binds."""
    import yaml

    from tests.conftest import DEFAULT_CONFIG_TEXT

    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["repos"] = {REPO: {"monthly_usd": cap_usd}}
    return yaml.safe_dump(raw)


def _repo_worker(url: str, config_text: str, seed: int, start: mp.Barrier, out: mp.Queue) -> None:
    repo = REPO if seed < 6 else OTHER_REPO  # six racing on the capped repository, two beside it
    enforcer = BudgetEnforcer(parse_config(config_text), redis_url=url, clock=_clock, repo=repo)
    out.put([(repo, cost) for cost in _race(enforcer, seed, start, "repo_limit_exceeded")])


def test_eight_processes_never_overspend_a_repository_cap(redis_url, capsys):
    cap_usd = 0.04
    text = _repo_config_text(cap_usd)
    cap = int(cap_usd * 1e9)
    settled = _run(_repo_worker, lambda i: (redis_url, text, i))
    enforcer = BudgetEnforcer(parse_config(text), redis_url=redis_url, clock=_clock)
    on_app = sum(c for repo, c in settled if repo == REPO)
    on_web = sum(c for repo, c in settled if repo == OTHER_REPO)
    spent = int(enforcer.redis.get(enforcer.keys.repo_spent(REPO, "2026-11")) or 0)
    over = max(0, on_app - cap)
    assert over == 0, f"acme/app settled {over} nano-USD over its cap"
    assert spent == on_app  # the repository's counter == what its workers settled == its events
    events = list(enforcer.events(repo=REPO, types=["call"]))
    assert sum(ev["cost_nano"] for ev in events) == spent
    assert int(enforcer.redis.get(enforcer.keys.repo_spent(OTHER_REPO, "2026-11")) or 0) == on_web
    assert int(enforcer.redis.get(enforcer.keys.repo_held(REPO, "2026-11")) or 0) == 0
    assert enforcer.open_holds() == 0
    assert on_app > cap * 0.5, "the race must actually reach the cap for the test to mean anything"
    stats = enforcer.month_stats("2026-11")
    assert stats[f"repo_blocked|{REPO}|repo_limit_exceeded"] > 0
    assert f"repo_blocked|{OTHER_REPO}|repo_limit_exceeded" not in stats  # the cap binds its repository only
    org = int(enforcer.redis.get(enforcer.keys.org_spent("2026-11")) or 0)
    assert org == on_app + on_web
    with capsys.disabled():
        print(
            f"\n  repository cap ${cap / 1e9:.4f}: acme/app settled ${on_app / 1e9:.6f} "
            f"({sum(1 for r, _ in settled if r == REPO)} calls, {over} nano-USD over, "
            f"{stats[f'repo_blocked|{REPO}|repo_limit_exceeded']} refused); acme/web ${on_web / 1e9:.6f} uncapped"
        )


def _reserve_then_hang(url: str, config_text: str, ready: mp.Event) -> None:
    enforcer = BudgetEnforcer(parse_config(config_text), redis_url=url, clock=_clock)
    res = enforcer.reserve("ci_cd_review", HAIKU, 3000, 2000)
    assert res.allowed
    ready.set()
    time.sleep(60)  # "calling the model" when it is killed


def test_a_worker_killed_between_reserve_and_settle_leaks_nothing_past_the_ttl(redis_url):
    text = _config_text()
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    worker = ctx.Process(target=_reserve_then_hang, args=(redis_url, text, ready))
    worker.start()
    assert ready.wait(30)
    worker.kill()  # SIGKILL: no finally, no release
    worker.join(10)
    later = {"now": _clock()}
    enforcer = BudgetEnforcer(parse_config(text), redis_url=redis_url, clock=lambda: later["now"])
    assert enforcer.open_holds() == 1
    assert enforcer.get_all_status()["ci_cd_review"]["held_usd"] > 0
    later["now"] = _clock() + timedelta(seconds=enforcer.config.ledger.hold_ttl_seconds + 1)
    assert enforcer.reserve("ci_cd_review", HAIKU, 10, 10).allowed  # the next reserve purges it
    status = enforcer.workflow_status("ci_cd_review")
    assert enforcer.open_holds() == 1  # only the new hold
    assert status["daily_spend"] == 0
    (new_hold,) = enforcer.redis.zrange(enforcer.keys.holds(), 0, -1)
    assert status["held_nano"] == int(enforcer.redis.hget(enforcer.keys.hold(new_hold.decode()), "amount"))
