"""`sqm`'s exit once chDB ran: without the interpreter's teardown, but with the exit status,
the exit handlers and the buffered output of a normal exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == status
    assert done.stdout == "unflushed"
    assert "handler ran" in done.stderr
    if isinstance(code, str):
        assert code in done.stderr
