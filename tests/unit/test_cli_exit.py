"""`sqm`'s exit once chDB ran: without the interpreter's teardown, but with the exit status,
the exit handlers and the buffered output of a normal exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Buffered output, as a user's shell gives it (this environment may set it unbuffered).
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

SCRIPT = """
import atexit, sys
if {chdb}:
    import chdb  # noqa: F401
from sqm.streams.cli import _exit
atexit.register(lambda: print("handler ran", file=sys.stderr))
sys.stdout.write("unflushed")  # no newline, piped: still in the buffer
_exit({code!r})
"""


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), ("one line", 1)])
@pytest.mark.parametrize("chdb", [True, False])
def test_exit_status_handlers_and_output(code: object, status: int, chdb: bool) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(chdb=chdb, code=code)],
                          capture_output=True, text=True, timeout=60, env=BUFFERED)
    assert done.returncode == status
    assert done.stdout == "unflushed"
    assert "handler ran" in done.stderr
    if isinstance(code, str):
        assert code in done.stderr


CLOSED_PIPE = """
import sys, time
import chdb  # noqa: F401
from sqm.streams.cli import _exit
sys.stdout.write("lost")  # buffered; the reader is gone by the time it is flushed
time.sleep(0.5)
_exit(0)
"""


def test_output_that_cannot_be_flushed_fails_the_exit_quietly() -> None:
    """As Python's own exit does (status 120), without a traceback."""
    run = subprocess.Popen([sys.executable, "-c", CLOSED_PIPE], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=BUFFERED)
    assert run.stdout is not None and run.stderr is not None
    run.stdout.close()
    assert run.wait(timeout=60) == 120
    assert run.stderr.read() == b""
