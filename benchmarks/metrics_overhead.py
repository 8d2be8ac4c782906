"""What serving the metrics costs a live worker's event loop: `sqm demo` (the real pipeline on
the embedded broker and chDB) with the heartbeat that copies the loop's figures once a second
(`streams/engine/faust/health.py`, `LoopSampler.beat`) and the collector that exposes that copy
(`streams/observe/metrics.py`) timed, while a thread scrapes /metrics every second.

    python benchmarks/metrics_overhead.py [--seconds 40] [--rate 50] [--store /tmp/mbench]

Prints, near the end, the heartbeat's wall and CPU time on the loop (median, max) and the
collector's CPU time per scrape (its thread). The store directory is emptied first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.streams.engine.faust.broker import free_port
from sqm.streams.observe import health, metrics

beats: list[tuple[float, float]] = []
scrapes: list[float] = []


def instrument() -> None:
    beat = health.LoopSampler.beat
    collect = metrics.PipelineCollector.collect

    async def timed_beat(self: health.LoopSampler) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        await beat(self)
        beats.append((time.perf_counter() - wall, time.thread_time() - cpu))

    def timed_collect(self: metrics.PipelineCollector) -> Any:
        cpu = time.thread_time()
        out = list(collect(self))
        scrapes.append(time.thread_time() - cpu)
        return out

    health.LoopSampler.beat = timed_beat  # type: ignore[method-assign]
    metrics.PipelineCollector.collect = timed_collect  # type: ignore[method-assign]


def scrape_every_second(port: int, seconds: float) -> None:
    """Scrape until shortly before the demo stops, then report (not at exit: a stop forced
    by the stop guard exits without running exit handlers)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(1)
        with contextlib.suppress(OSError):  # not serving yet
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    report()


def report() -> None:
    if not beats or not scrapes:
        print("no heartbeat or scrape was timed", file=sys.stderr)
        return
    wall = sorted(w for w, _ in beats)
    cpu = sorted(c for _, c in beats)
    col = sorted(scrapes)
    print(f"heartbeat on the loop, {len(wall)} beats: wall median {wall[len(wall) // 2] * 1e6:.0f}"
          f" us, max {wall[-1] * 1e6:.0f} us; CPU median {cpu[len(cpu) // 2] * 1e6:.0f} us")
    print(f"collector, {len(col)} scrapes: CPU median {col[len(col) // 2] * 1e3:.2f} ms, "
          f"max {col[-1] * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--store", type=Path, default=Path("/tmp/mbench"))
    args = parser.parse_args()
    shutil.rmtree(args.store, ignore_errors=True)
    port = free_port()
    os.environ["SQM_METRICS_PORT"] = str(port)
    os.environ["SQM_METRICS_HOST"] = "127.0.0.1"
    instrument()
    threading.Thread(target=scrape_every_second, args=(port, args.seconds - 2),
                     daemon=True).start()
    from sqm.streams.cli import main as sqm

    sys.argv = ["sqm", "demo", "--seconds", str(args.seconds), "--rate", str(args.rate),
                "--store", str(args.store)]
    sqm()


if __name__ == "__main__":  # the ingest child process imports this module: run nothing there
    main()
