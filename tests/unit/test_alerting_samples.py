"""The metrics' formulas over columns of window sums are the per-window ones, bit for bit."""

from __future__ import annotations

import random

from sqm.streams.core.alerting.samples import COLUMN_SAMPLERS, SAMPLERS


def test_column_samplers_give_each_windows_sample() -> None:
    rng = random.Random(11)
    assert COLUMN_SAMPLERS.keys() == SAMPLERS.keys()
    for metric, (counters, sample) in SAMPLERS.items():
        # zeros and small values: undefined windows, and denominators that cancel to 0
        columns = [[rng.choice([0, 0, 1, 2, 3, rng.randrange(10**6)]) for _ in range(500)]
                   for _ in counters]
        values, ns = COLUMN_SAMPLERS[metric](*columns)
        expected = [sample(*window) for window in zip(*columns, strict=True)]
        assert list(zip(values, ns, strict=True)) == [tuple(s) for s in expected], metric
        assert [type(v) for v in values] == [type(s.value) for s in expected], metric
