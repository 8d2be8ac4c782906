"""History over days of event time (`sqm simulate --days N`), defined in docs/simulate.md.

Contacts arrive by each tenant's daily and weekly profile in its own time zone
(`streams/arrival_profile.py`); customers come back within hours, within the 7-day repeat
window and beyond it; a few contacts live longer than the state's 8-day TTL (a reopened email
ticket, a late survey). Events after the last day are cut off, as at the edge of any export.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqm.streams.arrival_profile import HourlyProfile, tenant_zone
from sqm.streams.simulate import LongLived, SimConfig, contact_lifecycle, emission_order

# Share of contacts from a customer who contacted the same tenant before.
RETURN_SHARE = 0.3
# How long before such a contact the customer's earlier one was created: (weight, shortest,
# longest). The last class lies beyond the 7-day repeat window: not a repeat, but the same
# customer, which the state must still tell apart from a new one.
RETURN_GAPS: tuple[tuple[float, timedelta, timedelta], ...] = (
    (0.5, timedelta(hours=1), timedelta(days=1)),
    (0.3, timedelta(days=1), timedelta(days=7)),
    (0.2, timedelta(days=7), timedelta(days=28)),
)
LONG_LIVED = LongLived(reopen_share=0.10, survey_share=0.02)
# Messy disorder swaps only neighbours this close: at night a neighbour can be hours away, and
# swapping those would make late events (beyond the 1 h allowed lateness), not disorder.
MAX_SWAP = timedelta(minutes=5)


def validate(contacts: int, days: int, start: datetime) -> None:
    """Raise ValueError with one line naming what is wrong."""
    if days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    if contacts < 1:
        raise ValueError(f"--contacts must be at least 1, got {contacts}")
    if start.tzinfo is None:
        raise ValueError("the start needs a time-zone offset, e.g. +08:00 or Z")


def history_days(
    contacts: int, start: datetime, days: int, cfg: SimConfig | None = None, *,
    messy: bool = False,
) -> Iterator[dict[str, Any] | str]:
    """`contacts` contacts spread over `days` days from `start`, sorted by event time; messy as
    in `streams.simulate.history`. Deterministic for `cfg.seed`."""
    validate(contacts, days, start)
    cfg = cfg or SimConfig()
    rnd = random.Random(cfg.seed)
    end = start + timedelta(days=days)
    profiles = [HourlyProfile(start, end, tenant_zone(i)) for i in range(cfg.tenants)]
    arrivals: list[tuple[datetime, int]] = []
    for _ in range(contacts):
        tenant = rnd.randrange(cfg.tenants)
        arrivals.append((profiles[tenant].at(rnd.random(), rnd.random()), tenant))
    arrivals.sort()  # contact numbers follow creation order

    # Per tenant: creation times (epoch seconds, ascending) and their customers.
    times: list[list[float]] = [[] for _ in range(cfg.tenants)]
    customers: list[list[str]] = [[] for _ in range(cfg.tenants)]
    weights = [w for w, _, _ in RETURN_GAPS]
    new_customers = 0
    events: list[tuple[datetime, dict[str, Any]]] = []
    for n, (at, tenant) in enumerate(arrivals):
        ts = at.timestamp()
        customer = _returning(rnd, weights, times[tenant], customers[tenant], ts)
        if customer is None:
            customer = f"cust-{new_customers}"
            new_customers += 1
        times[tenant].append(ts)
        customers[tenant].append(customer)
        events.extend(
            te for te in contact_lifecycle(n, at, rnd, cfg, offsets=messy,
                                           tenant=f"shop-{tenant + 1}", customer=customer,
                                           long_lived=LONG_LIVED)
            if te[0] < end
        )
    yield from emission_order(events, rnd, messy=messy, max_swap=MAX_SWAP)


def _returning(
    rnd: random.Random, weights: list[float], times: list[float], customers: list[str],
    ts: float,
) -> str | None:
    """A returning customer: the one of the tenant's latest contact at least a drawn gap
    before `ts`; None for a new customer (or when history does not reach back that far)."""
    if rnd.random() >= RETURN_SHARE:
        return None
    _, shortest, longest = rnd.choices(RETURN_GAPS, weights)[0]
    gap = rnd.uniform(shortest.total_seconds(), longest.total_seconds())
    i = bisect_right(times, ts - gap)
    return customers[i - 1] if i else None
