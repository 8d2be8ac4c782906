"""Agents needed to meet a service-level goal: Erlang C (M/M/N), engine-free.

The model (docs/staffing.md): contacts arrive as a Poisson process at `arrival_rate` per
second, handle times are exponential with mean `aht_s`, `agents` identical agents serve one
contact at a time from one FIFO queue, nobody abandons, and the interval is in steady state.
`load` = arrival_rate × aht_s is the offered traffic in Erlangs.

Everything goes through the Erlang B recursion B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)):
every step is a ratio of positive numbers below 1, so it neither overflows nor loses precision
for thousands of agents, where A^N / N! would overflow a float long before.

Erlang A (abandonment) is in `streams/core/erlang_a.py`; `sqm.staffing_15m`
(schemas/clickhouse/0013_staffing.sql) runs the same Erlang C search in SQL.
"""

from __future__ import annotations

import math

__all__ = [
    "SERVICE_LEVEL_GOAL",
    "agents_needed_c",
    "average_wait_c",
    "erlang_b",
    "erlang_c",
    "service_level_c",
    "sl_upper_bound_agents",
]

# The share of contacts to answer within the first-response target: the ops board's target
# line and the default "service level below target" rule use the same 80 %.
SERVICE_LEVEL_GOAL = 0.80


def _check_agents_load(agents: int, load: float) -> None:
    if agents < 0:
        raise ValueError(f"agents must be >= 0, got {agents}")
    if not (math.isfinite(load) and load >= 0):
        raise ValueError(f"load must be a finite number >= 0, got {load}")


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of M/M/N/N with `load` Erlangs (B(0) = 1)."""
    _check_agents_load(agents, load)
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def _c_from_b(agents: int, load: float, b: float) -> float:
    # C = N·B / (N − A·(1 − B)), valid for A < N; the denominator is then > 0.
    return agents * b / (agents - load * (1.0 - b))


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arriving contact waits (all agents busy).

    1.0 when load ≥ agents: the queue then grows without bound and, in the long run, every
    contact waits. 0.0 without traffic (and at least one agent).
    """
    _check_agents_load(agents, load)
    if load == 0.0:
        return 0.0
    if load >= agents:
        return 1.0
    return _c_from_b(agents, load, erlang_b(agents, load))


def _check_times(aht_s: float, target_s: float) -> None:
    if not (math.isfinite(aht_s) and aht_s > 0):
        raise ValueError(f"aht_s must be a finite number > 0, got {aht_s}")
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError(f"target_s must be a finite number >= 0, got {target_s}")


def _sl(agents: int, load: float, c: float, target_s: float, aht_s: float) -> float:
    return 1.0 - c * math.exp(-(agents - load) * target_s / aht_s)


def service_level_c(agents: int, load: float, target_s: float, aht_s: float) -> float:
    """P(wait ≤ target_s): 1 − C·exp(−(N − A)·T / AHT).

    0.0 when load ≥ agents (no steady state: waits grow without bound); 1.0 without traffic.
    """
    _check_times(aht_s, target_s)
    c = erlang_c(agents, load)
    if load == 0.0:
        return 1.0
    if load >= agents:
        return 0.0
    return _sl(agents, load, c, target_s, aht_s)


def average_wait_c(agents: int, load: float, aht_s: float) -> float:
    """Mean wait over all contacts (average speed of answer): C·AHT / (N − A); inf if A ≥ N."""
    _check_times(aht_s, 0.0)
    c = erlang_c(agents, load)
    if load == 0.0:
        return 0.0
    return math.inf if load >= agents else c * aht_s / (agents - load)


def sl_upper_bound_agents(load: float, aht_s: float, target_s: float, goal: float) -> int:
    """An N that surely meets `goal` (needs target_s > 0): C ≤ 1, so N − A ≥ AHT/T·ln(1/(1−goal))
    gives SL ≥ goal. sqm.staffing_15m's loop runs up to the same bound."""
    return math.floor(load + aht_s / target_s * math.log(1.0 / (1.0 - goal))) + 1


def agents_needed_c(arrival_rate: float, aht_s: float, target_s: float,
                    goal: float = SERVICE_LEVEL_GOAL) -> int:
    """The smallest N with service_level_c(N) ≥ goal; 0 without arrivals.

    arrival_rate: contacts per second; aht_s: mean handle time; target_s: the answer-time
    target T; goal: the share to answer within T, strictly between 0 and 1 (1 is never met).
    """
    if not (math.isfinite(arrival_rate) and arrival_rate >= 0):
        raise ValueError(f"arrival_rate must be a finite number >= 0, got {arrival_rate}")
    _check_times(aht_s, target_s)
    if not 0.0 < goal < 1.0:
        raise ValueError(f"goal must be strictly between 0 and 1, got {goal}")
    if arrival_rate == 0.0:
        return 0
    load = arrival_rate * aht_s
    # The first N above the load, then one Erlang B step per extra agent.
    n = math.floor(load) + 1
    b = erlang_b(n, load)
    while _sl(n, load, _c_from_b(n, load, b), target_s, aht_s) < goal:
        n += 1
        b = load * b / (n + load * b)
    return n
