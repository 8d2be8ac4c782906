"""Random counters of one `sqm.sla_1m` row that agree with each other, for the alert tests."""

from __future__ import annotations

import random


def random_counts(rnd: random.Random, max_offered: int, max_wait_s: int,
                  max_csat: int) -> list[int]:
    """The 13 counters in `streams/core/rollup.py` order: answered ≤ offered, in-SLA ≤
    answered, the rest abandoned (some of them short), CSAT sums of 1-5 scores."""
    offered = rnd.randrange(0, max_offered)
    answered = rnd.randrange(0, offered + 1)
    in_sla = rnd.randrange(0, answered + 1)
    abandoned = offered - answered
    short = rnd.randrange(0, abandoned + 1)
    csat = rnd.randrange(0, max_csat)
    return [offered, answered, in_sla, answered * rnd.randrange(5, max_wait_s) * 1000,
            abandoned, short, offered, rnd.randrange(0, 2), in_sla,
            answered - in_sla + abandoned - short, csat, csat * rnd.randrange(1, 6),
            rnd.randrange(0, csat + 1)]
