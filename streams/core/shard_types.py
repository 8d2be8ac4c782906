"""The shard's plain data: its configuration, the messages it takes and the results it gives.

Apart from `streams/core/shard.py` so that modules which only build or read these (the stages,
the runners, the tests) need not read the shard's logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqm.streams.core.archive import ArchivedContact, ContactKey
from sqm.streams.core.derive import ContactView
from sqm.streams.core.policy_file import Policy
from sqm.streams.core.policy_spec import RepeatIdentity
from sqm.streams.core.records import EventRecord
from sqm.streams.core.repeat import DEFAULT_REPEAT_WINDOW_MS
from sqm.streams.core.rollup import WindowKey
from sqm.streams.core.state import Progress

HOUR_MS = 3_600_000

# (offset, events), (offset, events, input partition the events were read from) or that and
# the ingest stage's progress report, applied after the message's events.
Message = (tuple[int, Sequence[EventRecord]] | tuple[int, Sequence[EventRecord], int]
           | tuple[int, Sequence[EventRecord], int, Progress | None])
# `Shard.wanted_contacts` and the archive's answer for them.
ReadBack = tuple[dict[ContactKey, str], dict[ContactKey, ArchivedContact]]
# Row versions (UInt64): the state generation in the high 29 bits, the input offset in the low
# 35. Generations count seconds from 2024-01-01, which fits 29 bits until 2041.
OFFSET_BITS = 35
GENERATION_EPOCH_S = 1_704_067_200
OFFSET_MASK = (1 << OFFSET_BITS) - 1


@dataclass(frozen=True, slots=True)
class ShardConfig:
    policy: Policy = field(default_factory=Policy.default)
    lateness_ms: int = HOUR_MS
    repeat_window_ms: int = DEFAULT_REPEAT_WINDOW_MS
    repeat_identity: RepeatIdentity = "customer"  # or order_id / topic: "the same issue"
    # How long after its last event a contact (and a window) stays in state. It must cover the
    # repeat window: an older contact can no longer make a new one a repeat.
    state_ttl_ms: int = 8 * 24 * HOUR_MS
    # The event clock waits for the ingest stage's progress reports (the worker; see
    # ShardMeta.await_progress).
    await_progress: bool = False


@dataclass(frozen=True, slots=True)
class Late:
    offset: int
    index: int
    event: EventRecord
    reason: str


@dataclass(slots=True)
class ShardResult:
    accepted: list[EventRecord] = field(default_factory=list)
    duplicates: int = 0
    late: list[Late] = field(default_factory=list)
    contacts: list[tuple[ContactView, int]] = field(default_factory=list)  # (view, version)
    # (tenant, contact) -> its view before this batch (None: new) for every contact the batch
    # changed; contacts only re-written (duplicates) are absent.
    before: dict[tuple[str, str], ContactView | None] = field(default_factory=dict)
    windows: list[tuple[WindowKey, list[int], int]] = field(default_factory=list)
    # Deltas aimed at windows evicted from state that no archive could restore:
    # (window key, delta, input offset). Written to sqm.dropped_corrections.
    dropped: list[tuple[WindowKey, list[int], int]] = field(default_factory=list)
    restored_contacts: int = 0  # evicted contacts read back from the archive
    restored_windows: int = 0

    @property
    def dropped_corrections(self) -> int:
        return len(self.dropped)
