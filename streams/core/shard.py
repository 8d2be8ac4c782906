"""Applies batches of events to one shard's state and says what to write.

A shard owns the customers hashed to one partition of `sqm.by-customer`. `process()` takes the
batch's messages in offset order and returns the rows to write; `commit()` then writes the
changelog records, windows first, so a crash can never leave a customer ahead of the windows
its deltas went into (see docs/architecture.md). Call `commit()` only after the rows are stored.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from sqm.streams.core.archive import Archive, ContactKey, Evictions
from sqm.streams.core.derive import ContactView, derive
from sqm.streams.core.facts import (
    CREATED_ORDER_ID,
    CREATED_TOPIC,
    CREATED_TS,
    EMPTY,
    ContactFacts,
)
from sqm.streams.core.records import CREATED, EventRecord
from sqm.streams.core.repeat import repeat_flags
from sqm.streams.core.rollup import WindowKey, add_into, delta, pad
from sqm.streams.core.shard_eviction import ShardEviction, oldest
from sqm.streams.core.shard_types import (
    GENERATION_EPOCH_S,
    HOUR_MS,
    OFFSET_BITS,
    OFFSET_MASK,
    Late,
    Message,
    ReadBack,
    ShardConfig,
    ShardResult,
)
from sqm.streams.core.state import (
    SEP,
    CustomerState,
    ShardMeta,
    ShardStore,
    WindowState,
    meta_key,
    shard_prefixes,
    window_key,
)

# The shard's data types live in shard_types.py; importing them from here keeps working.
__all__ = [
    "GENERATION_EPOCH_S", "HOUR_MS", "OFFSET_BITS", "OFFSET_MASK", "Late", "Message", "ReadBack",
    "Shard", "ShardConfig", "ShardResult",
]

_contact_customer = attrgetter("tenant_id", "contact_id", "customer_id")


@dataclass(slots=True)
class _BatchState:
    """What one `process` call builds up across its messages."""

    res: ShardResult = field(default_factory=ShardResult)
    # (customer key, contact id) -> the contact's view as of the last applied message, None
    # for a contact new in this batch. Derived lazily, just before the contact first
    # changes: a contact untouched so far still has its facts and flag of the batch start.
    views: dict[tuple[str, str], ContactView | None] = field(default_factory=dict)
    touched_contacts: dict[tuple[str, str], ContactView] = field(default_factory=dict)
    touched_windows: dict[str, tuple[WindowKey, WindowState]] = field(default_factory=dict)


class Shard(ShardEviction):
    """One shard's state and its batches (the eviction sweep: shard_eviction.py)."""

    def __init__(self, shard_id: int, store: ShardStore, config: ShardConfig,
                 archive: Archive | None = None, evictions: Evictions | None = None) -> None:
        self.id = shard_id
        self.store = store
        self.config = config
        self.archive = archive
        self.evictions = evictions
        self._restored_windows = 0
        self._dirty_customers: dict[str, CustomerState] = {}
        self._dirty_windows: dict[str, WindowState] = {}
        self._deleted: list[str] = []
        self._meta_dirty = False
        self.meta = self._load_meta()
        self.meta.await_progress = config.await_progress

    # -- loading ---------------------------------------------------------------------------
    def _load_meta(self) -> ShardMeta:
        raw = self.store.get(meta_key(self.id))
        if raw is None:
            self._meta_dirty = True
            return ShardMeta(generation=int(time.time()) - GENERATION_EPOCH_S)
        meta = ShardMeta.decode(raw) if isinstance(raw, bytes) else raw
        self.store.keep(meta_key(self.id), meta)
        return meta

    def _customer(self, key: str) -> CustomerState:
        dirty = self._dirty_customers.get(key)
        if dirty is not None:
            return dirty
        raw = self.store.get(key)
        if raw is None:
            return CustomerState()  # kept once it has a contact (via the dirty set)
        if not isinstance(raw, bytes):
            return raw  # type: ignore[no-any-return]
        st = CustomerState.decode(raw)
        self.store.keep(key, st)
        return st

    def _stored_contacts(self, key: str) -> Collection[str]:
        """The ids of the customer's contacts in state, without a `CustomerState` built for
        a customer new to it (most, when looking for contacts to read back)."""
        st = self._dirty_customers.get(key)
        if st is None:
            if self.store.get(key) is None:
                return EMPTY
            st = self._customer(key)
        return st.contacts

    def _window(self, key: str, wkey: WindowKey, horizon: int | None = None,
                counts: list[int] | None = None) -> WindowState | None:
        """The window's state; `horizon`: `self._horizon()`, when the caller has it. A window
        new to state starts with `counts` (zeros without), which the caller then holds."""
        raw = self.store.get(key)
        if raw is None:
            if wkey[0] < (self._horizon() if horizon is None else horizon):
                # Evicted long ago: a fresh zero would overwrite the stored total.
                st_ = self._restore_window(wkey)
                if st_ is None:
                    return None
                st = st_
            else:
                st = WindowState() if counts is None else WindowState(counts)
            self.store.sweep_index.add_window(key, wkey[0])
        elif isinstance(raw, bytes):
            st = WindowState.decode(raw)
        else:
            return raw  # type: ignore[no-any-return]
        self.store.keep(key, st)
        return st

    def _horizon(self) -> int:
        return self.meta.low_watermark - self.config.lateness_ms - self.config.state_ttl_ms

    def _restore_window(self, wkey: WindowKey) -> WindowState | None:
        """An evicted window's stored counts, or None without an archive. Its stamp is the
        offset in the stored row's version (of this state's generation), so a message replayed
        after a crash is not applied twice to a restored window either."""
        if self.archive is None:
            return None
        found = self.archive.windows(self.id, [wkey]).get(wkey)
        self._restored_windows += 1
        if found is None:
            return WindowState()  # never written by this shard
        counts, version = found
        same_generation = version >> OFFSET_BITS == self.meta.generation
        return WindowState(pad(list(counts)), version & OFFSET_MASK if same_generation else -1)

    def wanted_contacts(self, messages: Sequence[Message]) -> dict[ContactKey, str]:
        """The contacts this batch has events for that are not in state and that it does not
        create, each with its customer key: what to read back from the archive (evicted
        long-lived contacts; new contacts without their created event otherwise)."""
        events = [e for m in messages for e in m[1]]
        return self.wanted_keys(dict.fromkeys(map(_contact_customer, events)),
                                {(e.tenant_id, e.contact_id) for e in events if e.type == CREATED})

    def wanted_keys(self, seen: Iterable[tuple[str, str, str]],
                    created: Collection[ContactKey]) -> dict[ContactKey, str]:
        """`wanted_contacts` of a batch given as each distinct (tenant, contact, customer) of
        its events, in the order of their first event, and the contacts it creates. Per
        contact, the first customer not holding it (hostile input may give one contact
        several customers)."""
        wanted: dict[ContactKey, str] = {}  # -> customer key
        cprefix = shard_prefixes(self.id)[0]
        for tenant, contact, customer in seen:
            key = (tenant, contact)
            if key not in wanted and key not in created:
                ckey = f"{cprefix}{tenant}{SEP}{customer}"  # customer_key, inline
                if contact not in self._stored_contacts(ckey):
                    wanted[key] = ckey
        return wanted

    def _restore_contacts(self, messages: Sequence[Message],
                          read_back: ReadBack | None = None) -> int:
        """Read back the contacts this batch has events for that are not in state, unless the
        batch creates them: new contacts almost always, evicted long-lived ones otherwise.
        `read_back`: `wanted_contacts` and what the archive holds of them, read already (one
        query for all of a batch's shards)."""
        if read_back is None:
            wanted = self.wanted_contacts(messages)
            if not wanted or self.archive is None:
                return 0
            found = self.archive.contacts(list(wanted))
        else:
            wanted, found = read_back
        for key, archived in found.items():
            ckey = wanted[key]
            st = self._dirty_customers.get(ckey) or self._customer(ckey)
            if not archived.events:
                continue
            first = archived.events[0]
            facts = ContactFacts(first.tenant_id, first.contact_id, first.customer_id)
            for e in archived.events:
                facts.apply(e)
            st.contacts[key[1]] = facts
            st.repeat[key[1]] = archived.is_repeat
            self.store.keep(ckey, st)
            self.store.sweep_index.note_customer(ckey, oldest(st))
        return len(found)

    # -- processing ------------------------------------------------------------------------
    def process(self, messages: Sequence[Message],
                read_back: ReadBack | None = None) -> ShardResult:
        """Apply messages in offset order; return the rows to write. `read_back`: see
        `_restore_contacts`."""
        batch = _BatchState()
        res = batch.res
        policy = self.config.policy
        lateness = self.config.lateness_ms
        meta = self.meta
        if self.archive is not None:
            res.restored_contacts = self._restore_contacts(messages, read_back)
        views, touched_contacts = batch.views, batch.touched_contacts
        marks = self.meta.watermarks
        dirty = self._dirty_customers
        cprefix = shard_prefixes(self.id)[0]
        accept = res.accepted.append
        for message in messages:
            offset, events = message[0], message[1]
            source = message[2] if len(message) > 2 else 0
            mark = marks.get(source, 0)
            # Also late: older than the event clock allows, whatever this shard saw of its
            # partition, since state older than the clock's horizon may be evicted.
            floor = max(mark, meta.low_watermark) - lateness if meta.sources else mark - lateness
            if source in meta.idle and events:
                meta.idle.discard(source)  # it delivers again: it holds the clock back again
                self._meta_dirty = True
            changed: dict[str, set[str]] = {}
            created_moved: set[str] = set()  # customers with a contact whose created changed
            for index, e in enumerate(events):
                ckey = f"{cprefix}{e.tenant_id}{SEP}{e.customer_id}"  # customer_key, inline
                st = dirty.get(ckey)  # the common case, without a method call
                if st is None:
                    st = self._customer(ckey)
                cid = e.contact_id
                facts = st.contacts.get(cid)
                # A duplicate before lateness: a worker restarted after a crash re-sends events
                # behind newer ones, and those were merged already, not late.
                if facts is not None and e.event_id in facts.event_ids:
                    res.duplicates += 1
                    if (ckey, cid) not in touched_contacts:
                        touched_contacts[(ckey, cid)] = derive(
                            facts, st.repeat.get(cid, False), policy)
                    continue
                ts = e.ts
                if ts < floor:
                    res.late.append(Late(offset, index, e, self._late_reason(e, floor)))
                    continue
                if ts > mark:
                    marks[source] = mark = ts
                    self._meta_dirty = True
                ids = changed.get(ckey)
                if facts is None:
                    views.setdefault((ckey, cid), None)
                    facts = st.contacts[cid] = ContactFacts(e.tenant_id, cid, e.customer_id)
                    facts.add(e)
                    if facts.created is not None:
                        created_moved.add(ckey)
                else:
                    # Its view before its first change in the batch (a change in this message
                    # already made sure of it).
                    if ids is None or cid not in ids:
                        vkey = (ckey, cid)
                        if vkey not in views:
                            views[vkey] = derive(facts, st.repeat.get(cid, False), policy)
                    created = facts.created
                    facts.add(e)  # not a duplicate: checked above
                    if facts.created is not created:
                        created_moved.add(ckey)
                accept(e)
                if ids is None:
                    ids = changed[ckey] = set()
                    dirty[ckey] = st
                ids.add(cid)
            self._apply_changes(offset, changed, created_moved, batch)
            progress = message[3] if len(message) > 3 else None
            if progress is not None and meta.apply_progress(progress):
                self._meta_dirty = True
        self._sweep_if_due()
        res.restored_windows, self._restored_windows = self._restored_windows, 0
        gen = self.meta.generation << OFFSET_BITS
        res.contacts = [(v, v.event_count * 2 + v.is_repeat) for v in touched_contacts.values()]
        res.windows = [
            (wkey, list(w.counts), gen | (max(w.stamp, 0) & OFFSET_MASK))
            for wkey, w in batch.touched_windows.values()
        ]
        return res

    def _apply_changes(
        self,
        offset: int,
        changed: dict[str, set[str]],
        created_moved: set[str],
        batch: _BatchState,
    ) -> None:
        """Re-derive the contacts one message touched and move their window contributions."""
        views, touched_contacts = batch.views, batch.touched_contacts
        touched_windows, res = batch.touched_windows, batch.res
        policy = self.config.policy
        deltas: dict[WindowKey, list[int]] = {}
        for ckey, contact_ids in changed.items():
            st = self._dirty_customers[ckey]
            # Flags are sticky and only a created time can turn one on (evicting contacts never
            # can), so they need recomputing only when a created time moved.
            if ckey in created_moved and len(st.contacts) > 1:
                flags = repeat_flags(
                    ((f.created[CREATED_TS], cid) for cid, f in st.contacts.items() if f.created),
                    self.config.repeat_window_ms,
                    self._issue_of(st),
                )
                for cid, flag in flags.items():
                    if flag and not st.repeat.get(cid, False):
                        if (ckey, cid) not in views:  # its view before the flag turns on
                            views[(ckey, cid)] = derive(st.contacts[cid], False, policy)
                        st.repeat[cid] = True
                        contact_ids.add(cid)  # a sibling became a repeat
            for cid in contact_ids:
                vkey = (ckey, cid)
                facts = st.contacts[cid]
                new = derive(facts, st.repeat.get(cid, False), policy)
                old = views[vkey]
                # Kept from the first change in the batch: the view at the batch's start.
                res.before.setdefault((facts.tenant_id, cid), old)
                if new != old:
                    for wkey, d in delta(old, new).items():
                        acc = deltas.get(wkey)
                        if acc is None:
                            deltas[wkey] = d
                        else:
                            add_into(acc, d)
                    views[vkey] = new
                touched_contacts[vkey] = new
        horizon = self._horizon()  # the clock moves only between messages
        for wkey, d in deltas.items():
            skey = window_key(self.id, wkey)
            w = self._window(skey, wkey, horizon, d)
            if w is None:
                res.dropped.append((wkey, d, offset))
                continue
            touched_windows[skey] = (wkey, w)
            if w.stamp >= offset:
                continue  # this message already reached the window before a restart
            if w.counts is not d:  # else new to state, with the delta as its counts
                add_into(w.counts, d)
            w.stamp = offset
            self._dirty_windows[skey] = w

    def _issue_of(self, st: CustomerState) -> dict[str, str | None] | None:
        """contact id → its order_id or topic when repeats are per issue, else None."""
        field_index = {"order_id": CREATED_ORDER_ID, "topic": CREATED_TOPIC}.get(
            self.config.repeat_identity)
        if field_index is None:
            return None
        return {cid: f.created[field_index] for cid, f in st.contacts.items() if f.created}

    def _late_reason(self, e: EventRecord, floor: int) -> str:
        behind_s = (floor - e.ts) / 1000 + self.config.lateness_ms / 1000
        return (
            f"late: occurred {behind_s:.0f} s before the event clock (its partition's "
            f"watermark, or every partition's), beyond the allowed lateness of "
            f"{self.config.lateness_ms / 1000:.0f} s"
        )

    # -- changelog --------------------------------------------------------------------------
    def commit(self) -> None:
        """Write the changelog: windows, then customers, then deletions, then the meta."""
        store = self.store
        index = store.sweep_index
        if index.built:  # else filled from the state at the next sweep
            for key, st in self._dirty_customers.items():
                index.note_customer(key, oldest(st))
            for key in self._deleted:
                index.forget_customer(key)
        if store.durable:
            for key, w in self._dirty_windows.items():
                store.put(key, w, w.encode())
            for key, st in self._dirty_customers.items():
                store.put(key, st, st.encode())
        else:  # nothing will read an encoding back
            for key, w in self._dirty_windows.items():
                store.put(key, w, b"")
            for key, st in self._dirty_customers.items():
                store.put(key, st, b"")
        for key in self._deleted:
            store.delete(key)
        if self._meta_dirty:
            store.put(meta_key(self.id), self.meta, self.meta.encode())
        self._dirty_windows.clear()
        self._dirty_customers.clear()
        self._deleted.clear()
        self._meta_dirty = False

    def pending(self) -> Iterable[str]:
        """Keys with uncommitted changes (for tests)."""
        return [*self._dirty_windows, *self._dirty_customers, *self._deleted]

