"""Erlang A (M/M/N+M): Erlang C plus customers who abandon, engine-free and exact.

Palm's model as Garnett, Mandelbaum & Reiman (2002, "Designing a call center with impatient
customers", MSOM 4(3)) formulate it: Poisson arrivals (λ per second), exponential handle times
(mean AHT, μ = 1/AHT), N agents, one FIFO queue, and each waiting contact abandons after an
exponential patience (mean P, θ = 1/P) unless answered first. With x = Nμ/θ and y = λ/θ, an
arrival that finds every agent busy and m contacts waiting has probability, relative to finding
exactly N in the system, r_m = y^m / ((x+1)(x+2)…(x+m)) (the GMR series A(x, y) = Σ r_m), and
finding a free agent has (1 − E)/E, E being Erlang B. No approximation is made:

* It is answered with probability x/(x+m+1), after a wait that is then a sum of exponentials
  with rates θ(x+1), …, θ(x+m+1), so P(wait ≤ t) is the regularized incomplete beta
  I_p(m+1, x+1) with p = 1 − e^{−θt} (order statistics of exponentials); that is the upper tail
  of a negative binomial, summed term by term here (positive terms, no cancellation).
* Its offered wait V (time to reach an agent if it never left) is a sum of exponentials with
  rates θx, …, θ(x+m): P(V ≤ t) = I_p(m+1, x). It abandons within s unless answered by s or
  still waiting at s: 1 − P(answered ≤ s) − e^{−θs}·P(V > s).

The series is summed in logarithms and scaled by its largest term, so long queues (y ≫ x)
neither overflow nor underflow, and cut where the remaining tail is below 1e-17 of it.
`service_level` is the policy's default formula (docs/metrics.md): answered within the target
over all arrivals but the short abandons. tests/unit/test_erlang_a.py checks all of it against
an event simulation, the Poisson case θ = μ, the limit θ → 0 (Erlang C) and λ·P(ab) = θ·E[Q].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqm.streams.core.staffing import (
    SERVICE_LEVEL_GOAL,
    agents_needed_c,
    erlang_b,
    erlang_c,
    service_level_c,
)

__all__ = ["MAX_TERMS", "ErlangA", "agents_needed_a", "erlang_a", "patience_from_abandons"]

# A queue this long (y − x terms before the series peaks) means patience so long that Erlang C
# is the model to use; the sum would take seconds.
MAX_TERMS = 1_000_000
_TAIL = math.log(1e-17)


@dataclass(frozen=True, slots=True)
class ErlangA:
    agents: int
    p_wait: float  # an arrival finds every agent busy
    p_abandon: float  # an arrival leaves before being answered
    p_answered_within: float  # an arrival is answered after waiting at most the target
    p_short_abandon: float  # an arrival abandons within short_abandon_s
    service_level: float  # p_answered_within / (1 − p_short_abandon)


def patience_from_abandons(abandoned: int, queue_time_s: float) -> float | None:
    """Mean patience P = total time in queue / abandons: the maximum-likelihood estimate for
    exponential patience, where an answered contact's wait is a patience cut short (censored).
    None when nothing was abandoned or nobody waited: no estimate (Erlang C applies)."""
    if abandoned < 0 or not (math.isfinite(queue_time_s) and queue_time_s >= 0):
        raise ValueError("abandoned and queue_time_s must be >= 0")
    if abandoned == 0 or queue_time_s == 0:
        return None
    return queue_time_s / abandoned


def _nb_cdfs(b: float, p: float, count: int) -> list[float]:
    """P(Y ≤ j) for j < count, Y negative binomial: P(Y = j) = Γ(j+b)/(Γ(b) j!) (1−p)^b p^j.

    1 − P(Y ≤ m) = I_p(m+1, b). b = 0 (no agent) or p = 0 (no time) put all mass at 0.
    """
    if b == 0.0 or p == 0.0:
        return [1.0] * count
    log_term = b * math.log1p(-p)  # log P(Y = 0), kept in logs: (1−p)^b may underflow
    log_p = math.log(p)
    total, cdfs = 0.0, []
    for j in range(count):
        if j:
            log_term += log_p + math.log((j - 1 + b) / j)
        total += math.exp(log_term)
        cdfs.append(min(total, 1.0))
    return cdfs


def _log_queue_weights(x: float, y: float) -> list[float]:
    """log r_m, m = 0, 1, … until the rest of the series is negligible."""
    logs = [0.0]
    peak = 0.0
    while True:
        m = len(logs)
        q = y / (x + m)  # r_m / r_{m−1}: falls below 1 past the peak, and keeps falling
        log_r = logs[-1] + math.log(q)
        peak = max(peak, log_r)
        # Past the peak the tail from m on is ≤ r_m/(1 − q): stop once it is negligible.
        if q < 1.0 and log_r - math.log1p(-q) - peak < _TAIL:
            return logs
        logs.append(log_r)
        if len(logs) > MAX_TERMS:
            raise ValueError("patience too long against the handle time for Erlang A: "
                             "use Erlang C")


def _check(arrival_rate: float, aht_s: float, patience_s: float, target_s: float,
           short_abandon_s: float) -> None:
    for name, value in (("arrival_rate", arrival_rate), ("target_s", target_s),
                        ("short_abandon_s", short_abandon_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if not (math.isfinite(aht_s) and aht_s > 0):
        raise ValueError(f"aht_s must be a finite number > 0, got {aht_s}")
    if not patience_s > 0:  # also refuses NaN
        raise ValueError(f"patience_s must be > 0, got {patience_s}")


def erlang_a(agents: int, arrival_rate: float, aht_s: float, patience_s: float,
             target_s: float, short_abandon_s: float = 0.0) -> ErlangA:
    """Erlang A's figures for `agents`; patience_s = inf is Erlang C (nobody abandons)."""
    if agents < 0:
        raise ValueError(f"agents must be >= 0, got {agents}")
    _check(arrival_rate, aht_s, patience_s, target_s, short_abandon_s)
    load = arrival_rate * aht_s
    if arrival_rate == 0.0 or math.isinf(patience_s):
        sl = service_level_c(agents, load, target_s, aht_s)
        return ErlangA(agents, erlang_c(agents, load), 0.0, sl, 0.0, sl)
    theta = 1.0 / patience_s
    x, y = agents / aht_s / theta, arrival_rate / theta
    e = erlang_b(agents, load)
    logs = _log_queue_weights(x, y)
    peak = max(logs)
    # Relative weight of "a free agent": (1 − E)/E against r_0 = 1, scaled like the r_m.
    # (No agent: E = 1, nobody finds one free.)
    if e == 0.0:
        log_free = math.inf
    else:
        log_free = -math.inf if e == 1.0 else math.log1p(-e) - math.log(e) - peak
    if log_free > 700.0:  # waiting is below 1e-300 of the mass: nobody waits
        return ErlangA(agents, 0.0, 0.0, 1.0, 0.0, 1.0)
    free = math.exp(log_free)
    weights = [math.exp(v - peak) for v in logs]
    count = len(weights)
    within = _nb_cdfs(x + 1.0, -math.expm1(-theta * target_s), count)
    p_s = -math.expm1(-theta * short_abandon_s)
    served_by_s = _nb_cdfs(x + 1.0, p_s, count)
    reached_by_s = _nb_cdfs(x, p_s, count)
    stay_s = math.exp(-theta * short_abandon_s)
    waiting = answered = abandon = short = 0.0
    for m, r in enumerate(weights):
        served = x / (x + m + 1.0)
        waiting += r
        answered += r * served * (1.0 - within[m])
        abandon += r * (1.0 - served)
        if short_abandon_s > 0.0:
            # P(V > s) = cdf of the V series at m; answered by s = served · (1 − cdf).
            short += r * max(0.0, 1.0 - served * (1.0 - served_by_s[m])
                             - stay_s * reached_by_s[m])
    total = free + waiting
    p_short = short / total
    p_answered = (free + answered) / total
    sl = p_answered / (1.0 - p_short) if p_short < 1.0 else 0.0
    return ErlangA(agents, waiting / total, abandon / total, p_answered, p_short, sl)


def agents_needed_a(arrival_rate: float, aht_s: float, patience_s: float, target_s: float,
                    goal: float = SERVICE_LEVEL_GOAL, short_abandon_s: float = 0.0) -> int:
    """The smallest N whose Erlang A service level reaches `goal`; 0 without arrivals.

    Service level grows with N, so a doubling search brackets it and bisection finds it
    (a few dozen evaluations even for thousands of agents)."""
    if not 0.0 < goal < 1.0:
        raise ValueError(f"goal must be strictly between 0 and 1, got {goal}")
    if math.isinf(patience_s):
        return agents_needed_c(arrival_rate, aht_s, target_s, goal)

    _check(arrival_rate, aht_s, patience_s, target_s, short_abandon_s)
    if arrival_rate == 0.0:
        return 0

    def meets(n: int) -> bool:
        result = erlang_a(n, arrival_rate, aht_s, patience_s, target_s, short_abandon_s)
        return result.service_level >= goal

    # No agent answers nobody: N = 0 never meets a goal above 0.
    low, high = 0, max(1, math.ceil(arrival_rate * aht_s))
    while not meets(high):
        low, high = high, 2 * high
    while high - low > 1:  # meets(high), not meets(low)
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high
