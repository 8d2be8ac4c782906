"""Erlang A (streams/core/erlang_a.py) against references that share none of its derivation.

* The stationary distribution of the birth-death chain, summed state by state (no Erlang B,
  no GMR series): P(wait), and P(abandon) through the balance λ·P(ab) = θ·E[queue].
* θ = μ: the chain is then M/M/∞'s, the number in the system is Poisson(λ/μ).
* θ → 0: Erlang C (streams/core/staffing.py, itself checked against published examples).
* A discrete-event simulation of the FIFO queue with impatient customers (seeded, 200,000
  arrivals): the waits, answers within the target and short abandons, which only the
  incomplete-beta terms of the module predict.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

import pytest

from sqm.streams.core.erlang_a import (
    MAX_TERMS,
    _nb_cdfs,
    agents_needed_a,
    erlang_a,
    patience_from_abandons,
)
from sqm.streams.core.staffing import agents_needed_c, erlang_c, service_level_c


def chain(agents: int, rate: float, aht_s: float, patience_s: float,
          states: int = 3000) -> tuple[float, float]:
    """(P(wait), E[queue length]) from π_j ∝ Π rates, summed directly (in logs)."""
    mu, theta = 1 / aht_s, 1 / patience_s
    logs = [0.0]
    for j in range(1, states):
        out = min(j, agents) * mu + max(0, j - agents) * theta
        logs.append(logs[-1] + math.log(rate / out))
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = sum(weights)
    waiting = sum(weights[agents:]) / total
    queue = sum((j - agents) * w for j, w in enumerate(weights) if j > agents) / total
    return waiting, queue


@pytest.mark.parametrize(
    ("agents", "calls_per_hour", "aht_s", "patience_s"),
    [(14, 200, 180, 120), (5, 480, 60, 30), (1, 30, 300, 600), (40, 900, 180, 90),
     (100, 2500, 150, 200), (0, 60, 60, 60), (8, 100, 600, 3600)],
)
def test_against_the_birth_death_chain(
    agents: int, calls_per_hour: int, aht_s: int, patience_s: int
) -> None:
    rate = calls_per_hour / 3600
    waiting, queue = chain(agents, rate, aht_s, patience_s)
    result = erlang_a(agents, rate, aht_s, patience_s, 20.0)
    assert result.p_wait == pytest.approx(waiting, rel=1e-9)
    assert result.p_abandon == pytest.approx(queue / patience_s / rate, rel=1e-9)


@pytest.mark.parametrize(("agents", "load"), [(12, 10.0), (3, 5.0), (60, 50.0)])
def test_patience_equal_to_handle_time_is_poisson(agents: int, load: float) -> None:
    aht = 180.0
    poisson = [math.exp(-load + k * math.log(load) - math.lgamma(k + 1)) for k in range(400)]
    result = erlang_a(agents, load / aht, aht, aht, 20.0)
    assert result.p_wait == pytest.approx(sum(poisson[agents:]), rel=1e-9)
    excess = sum((k - agents) * p for k, p in enumerate(poisson) if k > agents)
    assert result.p_abandon == pytest.approx(excess / load, rel=1e-9)


def test_infinite_patience_is_erlang_c_and_long_patience_tends_to_it() -> None:
    rate, aht = 100 / 1800, 180.0  # 10 Erlangs (tests/unit/test_staffing.py)
    exact = erlang_a(14, rate, aht, math.inf, 20.0)
    assert exact.p_wait == erlang_c(14, 10.0) and exact.p_abandon == 0.0
    assert exact.service_level == service_level_c(14, 10.0, 20.0, aht)
    near = erlang_a(14, rate, aht, 1e8, 20.0)
    assert near.p_wait == pytest.approx(exact.p_wait, rel=1e-6)
    assert near.service_level == pytest.approx(exact.service_level, rel=1e-6)
    assert agents_needed_a(rate, aht, 1e8, 20.0) == agents_needed_c(rate, aht, 20.0) == 14
    assert agents_needed_a(rate, aht, math.inf, 20.0) == 14


def test_waits_are_sums_of_exponentials() -> None:
    """1 − P(Y ≤ m) (negative binomial) = P(Exp(θ(b)) + … + Exp(θ(b+m)) ≤ t), checked with the
    partial-fraction formula of a sum of exponentials with distinct rates."""
    theta, b, t = 1 / 50, 2.7, 35.0
    cdfs = _nb_cdfs(b, -math.expm1(-theta * t), 6)
    for m in range(6):
        rates = [theta * (b + i) for i in range(m + 1)]
        survival = sum(
            math.prod(r / (r - ri) for r in rates if r != ri) * math.exp(-ri * t) for ri in rates
        )
        assert 1 - cdfs[m] == pytest.approx(1 - survival, rel=1e-10)


@dataclass
class Simulated:
    p_wait: float
    p_abandon: float
    p_answered_within: float
    p_short_abandon: float
    service_level: float
    patience_estimate: float  # queue time / abandons, as sqm.staffing_15m feeds it


def simulate(agents: int, rate: float, aht_s: float, patience_s: float, target_s: float,
             short_s: float, arrivals: int = 200_000, seed: int = 7) -> Simulated:
    """FIFO with impatience: a contact takes the first agent free after it arrived, unless its
    patience runs out first (then it takes none); starts are in arrival order."""
    rnd = random.Random(seed)
    free = [0.0] * agents
    now = queue_time = 0.0
    waited = abandoned = answered = short = 0
    for _ in range(arrivals):
        now += rnd.expovariate(rate)
        patience = rnd.expovariate(1 / patience_s)
        start = max(now, free[0]) if agents else math.inf
        waited += start > now
        if start - now > patience:
            abandoned += 1
            short += patience < short_s
            queue_time += patience
        else:
            heapq.heapreplace(free, start + rnd.expovariate(1 / aht_s))
            answered += start - now <= target_s
            queue_time += start - now
    return Simulated(waited / arrivals, abandoned / arrivals, answered / arrivals,
                     short / arrivals, answered / (arrivals - short), queue_time / abandoned)


@pytest.mark.parametrize(
    ("agents", "calls_per_hour", "aht_s", "patience_s", "target_s"),
    [(12, 200, 180, 120, 20), (5, 480, 60, 30, 10), (40, 900, 180, 90, 30)],
)
def test_against_an_event_simulation(
    agents: int, calls_per_hour: int, aht_s: int, patience_s: int, target_s: int
) -> None:
    rate = calls_per_hour / 3600
    sim = simulate(agents, rate, aht_s, patience_s, target_s, 5.0)
    model = erlang_a(agents, rate, aht_s, patience_s, target_s, short_abandon_s=5.0)
    for name in ("p_wait", "p_abandon", "p_answered_within", "p_short_abandon", "service_level"):
        assert getattr(model, name) == pytest.approx(getattr(sim, name), abs=0.01), name
    # The patience estimate (total queue time / abandons) recovers the patience.
    assert sim.patience_estimate == pytest.approx(patience_s, rel=0.05)


def test_smallest_agents() -> None:
    rate, aht, patience, target = 100 / 1800, 180.0, 120.0, 20.0
    needed = agents_needed_a(rate, aht, patience, target, 0.8, short_abandon_s=5.0)
    assert needed == 12  # Erlang C: 14; abandons shorten the queue
    level = [erlang_a(n, rate, aht, patience, target, 5.0).service_level for n in range(0, 30)]
    assert level[needed - 1] < 0.8 <= level[needed]
    assert level == sorted(level)  # the bisection relies on it
    assert agents_needed_a(0.0, aht, patience, target) == 0


def test_overload_with_long_patience_does_not_overflow() -> None:
    """60 Erlangs on 10 agents, patience 1 h: ~3000 waiting. Fluid limit: agents answer
    10/60 per second of 1 per second, so ~5/6 abandon."""
    result = erlang_a(10, 1.0, 60.0, 3600.0, 20.0)
    assert result.p_wait == pytest.approx(1.0, abs=1e-9)
    assert result.p_abandon == pytest.approx(5 / 6, abs=0.01)
    assert 0.0 <= result.service_level < 0.01


def test_huge_load() -> None:
    rate, aht = 50.0, 180.0  # 9000 Erlangs
    needed = agents_needed_a(rate, aht, 120.0, 20.0)
    assert erlang_a(needed - 1, rate, aht, 120.0, 20.0).service_level < 0.8
    assert erlang_a(needed, rate, aht, 120.0, 20.0).service_level >= 0.8
    assert needed <= agents_needed_c(rate, aht, 20.0)


def test_patience_estimate() -> None:
    assert patience_from_abandons(4, 480.0) == 120.0
    assert patience_from_abandons(0, 480.0) is None
    assert patience_from_abandons(3, 0.0) is None
    with pytest.raises(ValueError):
        patience_from_abandons(-1, 10.0)


def test_patience_beyond_reach_is_refused() -> None:
    with pytest.raises(ValueError, match="Erlang C"):
        erlang_a(1, 10.0, 60.0, 1e12, 20.0)
    assert MAX_TERMS >= 100_000


@pytest.mark.parametrize(
    "args",
    [(-1, 1.0, 60.0, 60.0, 20.0), (1, -1.0, 60.0, 60.0, 20.0), (1, 1.0, 0.0, 60.0, 20.0),
     (1, 1.0, 60.0, 0.0, 20.0), (1, 1.0, 60.0, math.nan, 20.0), (1, 1.0, 60.0, 60.0, -1.0)],
)
def test_bad_arguments_are_refused(args: tuple[int, float, float, float, float]) -> None:
    with pytest.raises(ValueError):
        erlang_a(*args)
