"""The ingest stage's validation, in a child process and in the caller: the same results, and
children that never outlive their worker.

What must hold: `route_batch` in a child process gives exactly what it gives in the caller
(messages, their order, the rejections and their reasons); messages split at `CHUNK_BYTES`
without reordering; a child of a worker killed with SIGKILL exits by itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from sqm.streams.core import ingest_batch
from sqm.streams.core.ingest_batch import RoutedBatch, route_batch
from sqm.streams.core.routing import shard_for
from sqm.streams.core.wire import decode_chunk
from sqm.streams.ingest_pool import IngestRouter

ROOT = Path(__file__).resolve().parents[2]
NOW_MS = 1_772_409_600_000  # 2026-03-02T00:00:00Z


def event(i: int, **changes: object) -> bytes:
    base = {"event_id": f"e{i}", "type": "contact.queued", "schema_version": 1,
            "occurred_at": "2026-03-01T09:00:05+08:00", "tenant_id": f"t{i % 2}",
            "contact_id": f"c{i}", "customer_id": f"u{i % 7}", "channel": "chat",
            "queue": "billing"}
    return orjson.dumps({**base, **changes})


VALUES: list[bytes | None] = [
    *(event(i) for i in range(40)),
    b"not json",
    None,
    event(41, occurred_at="2026-03-05T00:00:00Z"),  # beyond the horizon below
    event(42, channel="fax"),
    event(43, occurred_at="2026-03-01T09:00:05"),  # no offset
    *(event(i) for i in range(44, 60)),
]
SOURCES = [i % 3 for i in range(len(VALUES))]


def routed_here() -> RoutedBatch:
    return route_batch(VALUES, SOURCES, 4, NOW_MS + 3_600_000, 3600)


def test_a_child_process_routes_exactly_as_the_caller_does() -> None:
    async def in_child() -> RoutedBatch:
        router = IngestRouter(1)
        router.start()
        try:
            routing = router.submit(VALUES, SOURCES, 4, NOW_MS + 3_600_000, 3600)
            return await IngestRouter.result(routing)
        finally:
            router.close()

    here, there = routed_here(), asyncio.run(in_child())
    assert there == here
    assert there.forwarded == 56
    assert [(i, r.reason) for i, r in there.rejections] == [
        (40, "invalid JSON: invalid literal, expected 'null': line 1 column 1 (char 0)"),
        (41, "invalid JSON: Input is a zero-length, empty document: line 1 column 1 (char 0)"),
        # 3 days ahead of "now": 259,200 s, of which 3,600 allowed.
        (42, "occurred_at is 259200 s in the future (at most 3600 s allowed)"),
        (43, "channel must be one of chat, phone, email, social, app (got 'fax')"),
        (44, "occurred_at has no time-zone offset (got '2026-03-01T09:00:05')"),
    ]
    assert [(r.event_id, r.tenant_id) for _, r in there.rejections[2:]] == [
        ("e41", "t1"), ("e42", "t0"), ("e43", "t1")]


def test_the_wire_form_crosses_from_the_child_unchanged() -> None:
    """The direct runner's form (`encode=False`), sent back marshalled: same lists, same types
    (a bool stays a bool, not the int it equals), ratings as dicts, rejections as before."""
    values = [*VALUES,
              event(70, type="message.sent", sender="agent", agent_id="a1", public=False),
              event(71, type="survey.submitted", csat=4, ratings={"patience": 5}, nps=None)]
    sources = [0] * len(values)

    async def in_child() -> RoutedBatch:
        router = IngestRouter(1)
        router.start()
        try:
            return await IngestRouter.result(router.submit(
                values, sources, 4, NOW_MS + 3_600_000, 3600, encode=False))
        finally:
            router.close()

    here = route_batch(values, sources, 4, NOW_MS + 3_600_000, 3600, encode=False)
    there = asyncio.run(in_child())
    assert there == here
    assert repr(there.wires) == repr(here.wires)  # types too: repr tells False from 0
    wires = [w for _, _, chunk in there.wires for w in chunk]
    assert any(w[-1] == {"patience": 5} for w in wires)
    assert any(False in w for w in wires if w[1] == "message.sent")
    assert [(i, r.reason) for i, r in there.rejections] == [
        (i, r.reason) for i, r in here.rejections]


def test_messages_keep_the_events_order_per_partition_pair() -> None:
    routed = routed_here()
    seen: dict[tuple[int, int], list[str]] = {}
    for target, source, value in routed.chunks:
        got_source, records, _ = decode_chunk(value)
        assert got_source == source
        for r in records:
            assert shard_for(r.tenant_id, r.customer_id, 4) == target
            seen.setdefault((target, source), []).append(r.event_id)
    expected: dict[tuple[int, int], list[str]] = {}
    for i, value in enumerate(VALUES):
        if i not in {40, 41, 42, 43, 44}:  # the rejected ones
            data = orjson.loads(value or b"")
            key = (shard_for(data["tenant_id"], data["customer_id"], 4), SOURCES[i])
            expected.setdefault(key, []).append(data["event_id"])
    assert seen == expected
    assert len(routed.chunks) == len(expected)  # one message per pair when they fit


def test_a_full_message_is_split_without_reordering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_batch, "CHUNK_BYTES", 1200)
    values = [event(i, customer_id="u1", tenant_id="t1") for i in range(20)]
    routed = route_batch(values, [0] * 20, 4, NOW_MS + 3_600_000, 3600)
    assert len(routed.chunks) > 3
    assert all(len(value) < 1200 + 100 for _, _, value in routed.chunks)
    ids = [r.event_id for _, _, value in routed.chunks for r in decode_chunk(value)[1]]
    assert ids == [f"e{i}" for i in range(20)]


CHILD_OF_KILLED = """
import os, sys, time
sys.path.insert(0, {root!r})
from sqm.streams.ingest_pool import IngestRouter
router = IngestRouter(1)
router.start()
pids = list(router._pool._processes) if router._pool else []
while not pids:
    time.sleep(0.05)
    pids = list(router._pool._processes)
print(pids[0], flush=True)
time.sleep(60)
"""


def test_a_child_exits_when_its_worker_is_killed() -> None:
    worker = subprocess.Popen([sys.executable, "-c", CHILD_OF_KILLED.format(root=str(ROOT))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        assert alive(child)
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), "the child outlived its killed worker"
    finally:
        worker.kill()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its exit status (it has a parent that did not reap it yet).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_child_runs_the_collector_policy() -> None:
    """The child validates with the worker's collector thresholds, and what it inherited from
    the fork server is frozen (never scanned): the stock settings cost ~20% of the validation."""
    import gc

    from sqm.streams.gc_policy import THRESHOLDS

    router = IngestRouter(1)
    router.start()
    try:
        pool = router._pool
        assert pool is not None
        assert pool.submit(gc.get_threshold).result() == THRESHOLDS
        assert pool.submit(gc.get_freeze_count).result() > 10_000
    finally:
        router.close()
