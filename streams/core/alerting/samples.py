"""Metric samples from summed window counters: each metric's counters and formula.

Counters are in `streams/core/rollup.py` order (`COUNTER_NAMES`; the wait sum in ms). A metric's
sample is its value (None when undefined) and its sample size (docs/metrics.md, "Derived rates").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import add, sub
from typing import Any, NamedTuple

from sqm.streams.core.rollup import (
    ABANDONED,
    ANSWERED,
    CREATED,
    CSAT_COUNT,
    CSAT_SUM,
    OFFERED,
    REPEAT,
    SHORT,
    SL_MET,
    SL_MISSED,
    WAIT_MS,
)

# Metrics computable from the windows; `volume` (offered) serves the anomaly rules.
WINDOW_METRICS = (
    "service_level", "abandonment_rate", "repeat_rate", "avg_wait_s", "csat", "volume",
)


class Sample(NamedTuple):
    """A metric's value (None when undefined) and its sample size (the ratio's denominator)."""

    value: float | None
    n: float


def _ratio(num: int, den: int) -> Sample:
    return Sample(num / den if den > 0 else None, den)


def _service_level(met: int, missed: int) -> Sample:  # the policy's formula
    den = met + missed
    return Sample(met / den if den > 0 else None, den)


def _abandonment(answered: int, abandoned: int, short: int) -> Sample:
    den = answered + abandoned - short
    return Sample((abandoned - short) / den if den > 0 else None, den)


def _avg_wait(wait_ms: int, answered: int) -> Sample:
    return Sample(wait_ms / answered / 1000 if answered > 0 else None, answered)


def _csat(count: int, total: int) -> Sample:
    return Sample(total / count if count > 0 else None, count)


def _volume(offered: int) -> Sample:
    return Sample(float(offered), offered)


# metric -> (the counters it reads, its sample from their sums, in that order): docs/metrics.md,
# "Derived rates". All but `volume` are undefined when those counters are all 0.
SAMPLERS: dict[str, tuple[tuple[int, ...], Any]] = {
    "service_level": ((SL_MET, SL_MISSED), _service_level),
    "abandonment_rate": ((ANSWERED, ABANDONED, SHORT), _abandonment),
    "csat": ((CSAT_COUNT, CSAT_SUM), _csat),
    "repeat_rate": ((REPEAT, CREATED), _ratio),
    "avg_wait_s": ((WAIT_MS, ANSWERED), _avg_wait),
    "volume": ((OFFERED,), _volume),
}


# The same formulas over columns of sums (one list per counter, in SAMPLERS' order): the values
# (None when undefined) and the sample sizes of many windows at once, without a call and a
# Sample per window (a replay's window rules sample ~150k windows).
Columns = tuple[list[float | None], list[int]]


def _service_level_columns(met: list[int], missed: list[int]) -> Columns:
    dens = list(map(add, met, missed))
    return [m / d if d > 0 else None for m, d in zip(met, dens, strict=True)], dens


def _abandonment_columns(answered: list[int], abandoned: list[int], short: list[int]
                         ) -> Columns:
    nums = list(map(sub, abandoned, short))
    dens = list(map(sub, map(add, answered, abandoned), short))
    return [x / d if d > 0 else None for x, d in zip(nums, dens, strict=True)], dens


def _ratio_columns(nums: list[int], dens: list[int]) -> Columns:
    return [x / d if d > 0 else None for x, d in zip(nums, dens, strict=True)], dens


def _avg_wait_columns(wait_ms: list[int], answered: list[int]) -> Columns:
    return [w / a / 1000 if a > 0 else None for w, a in zip(wait_ms, answered, strict=True)], \
        answered


def _csat_columns(count: list[int], total: list[int]) -> Columns:
    return [t / c if c > 0 else None for c, t in zip(count, total, strict=True)], count


def _volume_columns(offered: list[int]) -> Columns:
    return list(map(float, offered)), offered


COLUMN_SAMPLERS: dict[str, Callable[..., Columns]] = {
    "service_level": _service_level_columns,
    "abandonment_rate": _abandonment_columns,
    "csat": _csat_columns,
    "repeat_rate": _ratio_columns,
    "avg_wait_s": _avg_wait_columns,
    "volume": _volume_columns,
}


def metric_sample(metric: str, c: Sequence[int]) -> Sample:
    """docs/metrics.md, "Derived rates", over summed counters."""
    reads = SAMPLERS.get(metric)
    if reads is None:
        raise ValueError(f"{metric} is not computed from the one-minute windows")
    counters, sample = reads
    return sample(*[c[i] for i in counters])  # type: ignore[no-any-return]


# The counters each metric reads (`metric_sample`), as a bit mask: a metric's value over a
# window depends on these alone, and is undefined (as if absent) when they are all 0.
METRIC_COUNTERS = {metric: sum(1 << i for i in counters)
                   for metric, (counters, _sample) in SAMPLERS.items()}
