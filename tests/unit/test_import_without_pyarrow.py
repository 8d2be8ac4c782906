"""chDB's connection module is imported with pyarrow's import failing, since it treats pyarrow
as optional and sqm never calls its Arrow APIs (sinks/clickhouse.py). A module that needs
pyarrow (another chDB version) must still import, with pyarrow; and pyarrow must stay
importable for anything else. Each case in a fresh interpreter, pyarrow not yet imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from sqm.sinks.clickhouse import import_without_pyarrow
import_without_pyarrow("optional_arrow")
import optional_arrow
print(optional_arrow.pa is None, "pyarrow" in sys.modules)
import_without_pyarrow("needs_arrow")
import needs_arrow
print(needs_arrow.pa is not None, "pyarrow" in sys.modules)
import pyarrow
print(pyarrow is needs_arrow.pa)
"""


def test_optional_pyarrow_is_left_out_and_a_module_that_needs_it_gets_it(
        tmp_path: Path) -> None:
    (tmp_path / "optional_arrow.py").write_text(
        "try:\n    import pyarrow as pa\nexcept ImportError:\n    pa = None\n")
    (tmp_path / "needs_arrow.py").write_text("import pyarrow as pa\n")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:3] == ["True False", "True True", "True"]


def test_chdb_is_imported_without_pyarrow() -> None:
    script = ("import sys\nfrom sqm.sinks.clickhouse import load_engine\n"
              "load_engine('chdb:///unused')\nimport chdb.state.sqlitelike as s\n"
              "print(s.pa is None, 'pyarrow' in sys.modules, 'numpy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True False False"
