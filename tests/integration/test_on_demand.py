"""The writer's inserts leave pandas and numpy unimported (clickhouse-connect imported them on
the first insert to ask whether the data was a DataFrame or an array), and clickhouse-connect's
pandas and numpy APIs still work in that process: a DataFrame or array query imports the
library then, and a DataFrame or array made after user code imported it is inserted as one.
Each case in a fresh process (neither imported), on the store as sqm opens it (chDB's import
leaves pyarrow, and numpy with it, unimported: sinks/clickhouse.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WRITES = """
import sys
from datetime import UTC, datetime
from sqm.sinks.clickhouse import connect
from sqm.sinks.writer import ClickHouseWriter

c = connect("chdb://memory")
c.command("CREATE DATABASE IF NOT EXISTS sqm")
c.command("CREATE TABLE sqm.t (id String, at DateTime64(3, 'UTC'), n Nullable(Int64)) "
          "ENGINE = MergeTree ORDER BY id")
w = ClickHouseWriter(c)
w.write({"t": [{"id": "a", "at": datetime(2026, 3, 2, tzinfo=UTC), "n": 1}]})  # rows
w.write({"t": {"id": ["b"], "at": [1_772_409_600_000], "n": [None]}})  # columns
print("pandas" in sys.modules, "numpy" in sys.modules)
"""
QUERY_DF = WRITES + """
df = c.query_df("SELECT id, n FROM sqm.t ORDER BY id")
print(type(df).__name__, list(df["id"]), "pandas" in sys.modules)
"""
QUERY_NP = WRITES + """
arr = c.query_np("SELECT id FROM sqm.t ORDER BY id")
print(type(arr).__name__, arr.tolist(), "numpy" in sys.modules)
"""
INSERT_NP = WRITES + """
import numpy as np
c.insert("sqm.t", np.array([["e", datetime(2026, 3, 2, tzinfo=UTC), 5]], dtype=object),
         column_names=["id", "at", "n"])
w.write({"t": [{"id": "f", "at": datetime(2026, 3, 2, tzinfo=UTC), "n": 6}]})
print(c.command("SELECT groupArray(id) FROM (SELECT id FROM sqm.t ORDER BY id)"))
"""
INSERT_DF = WRITES + """
import pandas as pd
c.insert_df("sqm.t", pd.DataFrame({"id": ["c"], "at": [pd.Timestamp("2026-03-02", tz="UTC")],
                                   "n": [3]}))
w.write({"t": [{"id": "d", "at": datetime(2026, 3, 2, tzinfo=UTC), "n": 4}]})
print(c.command("SELECT groupArray(id) FROM (SELECT id FROM sqm.t ORDER BY id)"))
"""


def run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_inserts_leave_pandas_out_and_a_dataframe_query_brings_it() -> None:
    assert run(QUERY_DF) == ["False False", "DataFrame ['a', 'b'] True"]


def test_a_dataframe_made_later_is_inserted_as_one() -> None:
    assert run(INSERT_DF) == ["False False", "['a','b','c','d']"]


def test_inserts_leave_numpy_out_and_an_array_query_brings_it() -> None:
    assert run(QUERY_NP) == ["False False", "ndarray [['a'], ['b']] True"]


def test_an_array_made_later_is_inserted_as_one() -> None:
    assert run(INSERT_NP) == ["False False", "['a','b','e','f']"]
