"""Faust's own ceiling: an agent that does nothing but `take_events` on the embedded broker.

    python benchmarks/faust_take_ceiling.py [--messages 100000]

N small messages are produced to a 4-partition topic first; the figure is N / (time from the
first batch the agent receives to the last). It bounds what any Faust agent that reads one
message per event can do on this machine, whatever the agent itself does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faust

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.streams.engine.faust.broker import (
    EMBEDDED_FAUST_SETTINGS,
    EmbeddedBroker,
    ensure_topics,
    free_port,
)
from sqm.streams.engine.faust.replay import produce_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    n = args.messages
    work = Path(tempfile.mkdtemp(prefix="sqm-faust-"))
    path = work / "messages.jsonl"
    path.write_bytes(b"".join(b'{"i": %d, "contact_id": "c%d"}\n' % (i, i) for i in range(n)))
    result: dict[str, float] = {}
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, ["ceiling"], 4)
        asyncio.run(produce_file(broker.bootstrap, "ceiling", path))
        shutil.rmtree(work, ignore_errors=True)
        app = faust.App("sqm-ceiling", broker=f"kafka://{broker.bootstrap}", store="memory://",
                        web_enabled=False, web_bind="127.0.0.1", web_port=free_port(),
                        stream_buffer_maxsize=20_000, **EMBEDDED_FAUST_SETTINGS)
        topic = app.topic("ceiling", key_serializer="raw", value_serializer="raw")
        worker = faust.Worker(app, loglevel="ERROR", quiet=True)
        seen = {"n": 0}

        @app.agent(topic)
        async def count(stream: Any) -> None:
            async for events in stream.take_events(5000, 0.2):
                result.setdefault("start", time.perf_counter())
                seen["n"] += len(events)
                if seen["n"] >= n:
                    result["end"] = time.perf_counter()
                    worker._schedule_shutdown(signal.SIGTERM)

        with contextlib.suppress(SystemExit):  # the worker exits the way it does on a signal
            worker.execute_from_commandline()
    if "end" not in result:
        print("the agent did not see every message")
        return 1
    print(f"faust take_events, do-nothing agent: {n / (result['end'] - result['start']):,.0f} "
          f"messages/s ({n:,} messages, 4 partitions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
