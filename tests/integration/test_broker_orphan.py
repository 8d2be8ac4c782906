"""SIGKILL of `sqm` takes its embedded broker with it: nothing of sqm's survives SIGKILL to stop
the broker, so the broker asks the kernel to kill it when sqm dies (it was orphaned and kept
its memory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_sigkill_of_a_worker_does_not_orphan_its_broker(tmp_path: Path) -> None:
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "WARNING", "SQM_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}"}
    proc = subprocess.Popen([sys.executable, "-m", "sqm.streams.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not broker and time.monotonic() < deadline:
            broker = [p for p in children(proc.pid)
                      if b"tansu" in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.2)
        assert broker, "the worker started no embedded broker"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while alive(broker[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(broker[0]), "the broker outlived sqm"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in broker:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
