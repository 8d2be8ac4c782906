"""`StopGuard`: a process whose event loop never yields still stops on SIGTERM, and one whose
loop is free still stops cleanly, through the loop's own handler
(streams/engine/faust/stop_guard.py).

Each case runs a small asyncio program in a subprocess (signals in the test process would hit
pytest): the loop's SIGTERM handler, as Faust's, and the guard armed over it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import asyncio, signal, sys
from sqm.streams.engine.faust.stop_guard import StopGuard

async def main(busy):
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)  # a clean stop, as Faust's
    StopGuard(float(sys.argv[1]), on_force=lambda: print("broker stopped", flush=True)).arm()
    print("running", flush=True)
    if busy:
        while True:  # synchronous work that never gives the loop control
            pass
    await done.wait()
    print("clean stop", flush=True)

asyncio.run(main(sys.argv[2] == "busy"))
"""


def start(grace_s: float, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, str(grace_s), mode], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "running\n"
    return proc


def test_a_busy_loop_is_stopped_after_the_grace_period() -> None:
    proc = start(1.0, "busy")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out == "broker stopped\n"
    assert "stopping at once: not stopped 1 s after SIGTERM" in err
    assert 1.0 <= took < 20  # the grace, then at once (a loose bound: a shared machine)


def test_a_second_signal_stops_at_once() -> None:
    proc = start(600.0, "busy")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)  # long before the 600 s grace
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopping at once: a second signal after SIGTERM" in err


def test_a_free_loop_stops_cleanly_through_its_own_handler() -> None:
    proc = start(600.0, "free")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (0, "clean stop\n"), err
