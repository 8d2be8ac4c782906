"""A restarted worker restores *all* of its state from the changelogs, also when the producer
batched them.

Tansu reports a partition's end offset as the first offset of its newest batch + 1, so Faust's
recovery, which stops at the end offset, used to drop the rest of that batch (the last writes
before the restart). sqm's recovery reads the true end on Tansu (`tansu_end_offsets`).

The first worker processes every contact in large batches (so the last changelog writes go out
as multi-record batches) and stops cleanly; then one more event per contact arrives and a second
worker, restored from the changelogs, rewrites every contact. Any state lost in the recovery
shows as a contact row (or window) that differs from the reference computed over all events.

Real parts only: a Tansu broker started here, `sqm worker` subprocesses, chDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from sqm.sinks.clickhouse import connect
from sqm.streams.core.records import EventRecord
from sqm.streams.core.validate import validate
from sqm.streams.engine.faust.broker import EmbeddedBroker, free_port
from sqm.streams.simulate import SimConfig, history
from tests import reference
from tests.workers import (
    WINDOWS_SQL,
    Worker,
    merged_window_totals,
    produce,
    worker_env,
)

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters"]
CONTACTS_SQL = """
    SELECT tenant_id, contact_id, event_count, toUnixTimestamp64Milli(last_event_at),
           toUnixTimestamp64Milli(answered_at), is_repeat
    FROM sqm.contacts FINAL"""


def closing_events(records: list[EventRecord]) -> list[bytes]:
    """One `contact.closed` per contact, a second after the last event of all (so none is
    late)."""
    at = max(r.ts for r in records) / 1000 + 1
    last: dict[tuple[str, str], EventRecord] = {}
    for r in records:
        key = (r.tenant_id, r.contact_id)
        if key not in last or r.ts > last[key].ts:
            last[key] = r
    return [orjson.dumps({
        "event_id": f"close-{r.tenant_id}-{r.contact_id}", "type": "contact.closed",
        "occurred_at": datetime.fromtimestamp(at, UTC).isoformat(),
        "tenant_id": r.tenant_id, "contact_id": r.contact_id, "customer_id": r.customer_id,
        "channel": r.channel,
    }) for r in last.values()]


def test_restart_restores_every_changelog_write(broker: EmbeddedBroker, tmp_path: Path) -> None:
    first_lines = [orjson.dumps(e) for e in history(
        500, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 20.0, SimConfig(seed=4))]
    first = [r for r in map(validate, first_lines) if isinstance(r, EventRecord)]
    assert len(first) == len(first_lines)
    closing = closing_events(first)
    records = first + [r for r in map(validate, closing) if isinstance(r, EventRecord)]
    assert len(records) == len(first) + len(closing)

    store = tmp_path / "store"
    # Large batches: the last batch rewrites hundreds of keys at once.
    env = worker_env(broker.bootstrap, store, SQM_BATCH_MAX="5000", SQM_BATCH_WITHIN_S="0.5")
    produce(broker.bootstrap, first_lines)
    worker = Worker(env)
    worker.wait_for(lambda p: p["settled"] >= len(first), timeout=180)
    worker.stop()  # clean: the last changelog writes are flushed, in batches
    assert worker.proc.returncode == 0, worker.errors[-3:]

    produce(broker.bootstrap, closing)
    worker = Worker({**env, "SQM_WEB_PORT": str(free_port())})
    worker.wait_for(lambda p: p["settled"] >= len(closing), timeout=240)
    worker.wait_idle(timeout=60)
    worker.stop()
    assert worker.proc.returncode == 0, worker.errors[-3:]

    expected = reference.contacts(records)
    client = connect(f"chdb://{store}")
    try:
        got = {(t, c): (n, last, answered, bool(rep))
               for t, c, n, last, answered, rep in client.query(CONTACTS_SQL).result_rows}
        windows = merged_window_totals([[tuple(r) for r in
                                         client.query(WINDOWS_SQL).result_rows]])
    finally:
        client.close()
    last_at: dict[tuple[str, str], int] = {}
    for r in records:
        key = (r.tenant_id, r.contact_id)
        last_at[key] = max(r.ts, last_at.get(key, 0))
    want = {key: (c["event_count"], last_at[key], c["answered_at"], c["is_repeat"])
            for key, c in expected.items()}
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not wrong, f"{len(wrong)} of {len(want)} contacts differ, e.g. {list(wrong.items())[:3]}"
    assert windows == reference.windows(records)
