"""`sqm sql`: the parameterised queries of docs/schema.md run verbatim with `--param`, the store
is read-only unless `--write`, and one statement runs at a time. Real CLI, chDB."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.integration.test_replay import DATA

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
VALUES = {"String": "A", "DateTime('UTC')": None}  # times: the messy file's day
BOUNDS = {"from": "2026-03-02 00:00:00", "to": "2026-03-03 00:00:00"}


def sqm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "sqm.streams.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sql") / "store"
    run = sqm("replay", str(DATA / "messy.jsonl"), "--store", str(path), "--no-progress")
    assert run.returncode == 0, run.stderr
    return path


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.S)


def test_every_query_of_the_schema_doc_runs_verbatim(store: Path) -> None:
    queries = doc_queries()
    assert len(queries) >= 5
    for query in queries:
        params = []
        for name, kind in re.findall(r"\{(\w+):([^}]+)\}", query):
            value = BOUNDS[name] if kind.startswith("DateTime") else VALUES[kind]
            params += ["--param", f"{name}={value}"]
        run = sqm("sql", query, "--store", str(store), "--format", "json", *params)
        assert run.returncode == 0, (query, run.stderr)
        orjson.loads(run.stdout)  # a JSON array of rows


def test_a_parameter_filters_as_the_placeholder_says(store: Path) -> None:
    run = sqm("sql", "SELECT count() AS n FROM sqm.contacts FINAL WHERE tenant_id = "
              "{tenant:String}", "--store", str(store), "--format", "json",
              "--param", "tenant=B")
    assert run.returncode == 0, run.stderr
    assert orjson.loads(run.stdout) == [{"n": 2}]  # B/d1 and B/d2 (tests/data/messy.jsonl)


def test_read_only_unless_write(store: Path) -> None:
    refused = sqm("sql", "TRUNCATE TABLE sqm.dead_letters", "--store", str(store))
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("error: this statement changes the store; sqm sql is "
                                      "read-only unless given --write")
    count = sqm("sql", "SELECT count() AS n FROM sqm.dead_letters FINAL", "--store", str(store),
                "--format", "json")
    assert orjson.loads(count.stdout) == [{"n": 4}]  # untouched
    allowed = sqm("sql", "TRUNCATE TABLE sqm.dead_letters", "--store", str(store), "--write")
    assert allowed.returncode == 0, allowed.stderr
    count = sqm("sql", "SELECT count() AS n FROM sqm.dead_letters FINAL", "--store", str(store),
                "--format", "json")
    assert orjson.loads(count.stdout) == [{"n": 0}]


@pytest.mark.parametrize("query", ["SELECT 1; SELECT 2", "SELECT 1;\n-- x\nSELECT 2;"])
def test_one_statement_at_a_time(store: Path, query: str) -> None:
    run = sqm("sql", query, "--store", str(store))
    assert run.returncode == 1
    assert "one statement at a time" in run.stderr


def test_semicolons_in_strings_and_a_trailing_one_are_fine(store: Path) -> None:
    run = sqm("sql", "SELECT 'a;b' AS s;", "--store", str(store), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert orjson.loads(run.stdout) == [{"s": "a;b"}]
