"""Time to alert, live: how long after a contact crosses 80 % of its target the at-risk warning
reaches the `sqm.alerts` topic, with no further events arriving (the timer path).

    python benchmarks/time_to_alert.py [--contacts 5]

Embedded broker and chDB, one worker on the wall clock (as `sqm worker`). Each contact is a chat
(target 30 s, at risk at 24 s) created and queued now and never answered. Prints the delay of
each warning after its due instant, and the worst; the goal is ≤ 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.streams.config import load_settings
from sqm.streams.engine.faust.app import Pipeline
from sqm.streams.engine.faust.runtime import run_pipeline

RISK_S = 24.0  # 80 % of chat's 30 s target


async def scenario(pipeline: Pipeline, contacts: int, delays: list[float]) -> int:
    bootstrap = pipeline.extras["bootstrap"]
    consumer = AIOKafkaConsumer(pipeline.settings.alerts_topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    due: dict[str, float] = {}
    try:
        for i in range(contacts):
            now = datetime.now(UTC)
            cid = f"slow-{i}"
            for k, type_ in enumerate(("contact.created", "contact.queued")):
                event = {"event_id": f"{cid}-{k}", "type": type_, "occurred_at": now.isoformat(),
                         "tenant_id": "shop", "contact_id": cid, "customer_id": f"u{i}",
                         "channel": "chat", "queue": "q"}
                await producer.send_and_wait(pipeline.settings.input_topic, orjson.dumps(event),
                                             key=cid.encode())
            due[cid] = now.timestamp() + RISK_S
            await asyncio.sleep(1.0)
        deadline = time.time() + RISK_S + 60
        while due and time.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            arrived = time.time()
            for records in batch.values():
                for r in records:
                    change = orjson.loads(r.value)
                    cid = change.get("contact_id")
                    if change["kind"] == "at_risk" and change["state"] == "firing" and cid in due:
                        delays.append(arrived - due.pop(cid))
    finally:
        await producer.stop()
        await consumer.stop()
    return 0 if not due else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sqm-tta-"))
    settings = load_settings(clickhouse_url=f"chdb://{work / 'store'}", log_level="ERROR",
                             batch_within_s=0.2)
    delays: list[float] = []
    try:
        code = run_pipeline(settings, lambda p: scenario(p, args.contacts, delays))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for d in delays:
        print(f"at-risk warning {d:5.2f} s after it was due")
    if delays:
        print(f"worst: {max(delays):.2f} s (tick {settings.alert_tick_s} s, "
              f"grace {settings.alert_grace_s} s); goal ≤ 5 s")
    else:
        print("no warning arrived")
    return code


if __name__ == "__main__":
    sys.exit(main())
