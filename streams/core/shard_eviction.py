"""Eviction by event time: a shard's hourly sweep of the state older than its horizon.

A sweep evicts the windows that ended by the horizon and the contacts last seen before it,
reading only what its index says is due (`streams/core/sweep_index.py`); what the current
batch touched stays until a later sweep, so what is evicted was written before an archive
may read it back (core/archive.py). `Shard` takes these methods from `ShardEviction`.
"""

from __future__ import annotations

from sqm.streams.core.archive import Evictions
from sqm.streams.core.rollup import MINUTE_MS, WindowKey
from sqm.streams.core.shard_types import HOUR_MS, ShardConfig
from sqm.streams.core.state import (
    CustomerState,
    ShardMeta,
    ShardStore,
    WindowState,
    parse_window_key,
    shard_prefixes,
    window_minute,
)
from sqm.streams.core.sweep_index import SweepIndex


class ShardEviction:
    """The sweep's half of `Shard`, over the shard's state and uncommitted changes."""

    id: int
    store: ShardStore
    config: ShardConfig
    meta: ShardMeta
    evictions: Evictions | None
    _dirty_customers: dict[str, CustomerState]
    _dirty_windows: dict[str, WindowState]
    _deleted: list[str]
    _meta_dirty: bool

    # Shard's own, where the state is read (declared here for the type checker).
    def _customer(self, key: str) -> CustomerState:
        raise NotImplementedError

    def _window(self, key: str, wkey: WindowKey, horizon: int | None = None,
                counts: list[int] | None = None) -> WindowState | None:
        raise NotImplementedError

    def _horizon(self) -> int:
        raise NotImplementedError

    def _sweep_if_due(self) -> None:
        hour = self.meta.low_watermark // HOUR_MS
        if hour <= self.meta.swept_hour:
            return
        self.meta.swept_hour = hour
        self._meta_dirty = True
        self._sweep(self._horizon())

    def _sweep(self, horizon: int) -> None:
        """Evict the windows that ended by `horizon` and the contacts last seen before it."""
        last_minute = horizon - MINUTE_MS  # the latest window start that ends by the horizon
        # What this batch touched stays until a later sweep: what is evicted was then written
        # (rows, batches before) by the time an archive may read it back (core/archive.py).
        dirty_windows, dirty_customers = self._dirty_windows, self._dirty_customers
        deleted, evictions = self._deleted, self.evictions
        index = self.store.sweep_index
        if not index.built:
            self._build_index(index)
        for key in index.take_windows(last_minute):
            if key in dirty_windows:
                index.add_window(key, window_minute(key))  # due again at the next sweep
                continue
            if evictions is not None:
                self._evict_window(evictions, key)
            deleted.append(key)  # not dirty: nothing else to drop
        for key in index.customers_before(horizon):
            if key not in dirty_customers:
                self._sweep_customer(key, horizon)

    def _build_index(self, index: SweepIndex) -> None:
        """Index the shard's state by reading all of it, as sweeps once did every hour."""
        cprefix, wprefix = shard_prefixes(self.id)
        windows: list[tuple[str, int]] = []
        customers: list[tuple[str, int | None]] = []
        for key in self.store.keys((cprefix, wprefix)):
            if key.startswith(wprefix):
                windows.append((key, window_minute(key)))
            else:
                customers.append((key, oldest(self._customer(key))))
        index.build(windows, customers)

    def _evict_window(self, evictions: Evictions, key: str) -> None:
        wkey = parse_window_key(key)
        w = self._window(key, wkey)
        if w is not None:
            evictions.evicted_window(self.id, wkey, list(w.counts), w.stamp)

    def _sweep_customer(self, key: str, horizon: int) -> None:
        """Evict the customer's contacts whose last event is older than the horizon (the
        customer with the last of them)."""
        st = self._customer(key)
        old = [cid for cid, f in st.contacts.items() if f.last_ts < horizon]
        if not old:
            return
        for cid in old:
            if self.evictions is not None:
                f = st.contacts[cid]
                self.evictions.evicted_contact((f.tenant_id, cid), f.event_ids,
                                               st.repeat.get(cid, False))
            del st.contacts[cid]
            st.repeat.pop(cid, None)
        if st.contacts:
            self._dirty_customers[key] = st
        else:
            self._deleted.append(key)  # not dirty: nothing else to drop


def oldest(st: CustomerState) -> int | None:
    """The earliest last event of the customer's contacts (None without contacts)."""
    return min([f.last_ts for f in st.contacts.values()], default=None)
