"""A 5 MiB line between good events, on both engines: dead-lettered with the first 64 KiB of
its bytes and the reason, and every other line stored as without it. Before, the Faust path's
producer refused the record and the whole replay aborted with nothing stored; the direct
runner stored it (so the engines disagreed)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from sqm.sinks.clickhouse import connect
from tests.integration.test_outage import sqm

pytestmark = pytest.mark.integration

GOOD = 300


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    d = tmp_path_factory.mktemp("oversize")
    run = sqm("simulate", str(d / "sim.jsonl"), "--contacts", "60")
    assert run.returncode == 0, run.stderr
    lines = (d / "sim.jsonl").read_bytes().splitlines()[:GOOD]
    # A valid event but for its size: a 5 MiB note.
    big = orjson.loads(lines[0]) | {"event_id": "big-one", "note": "x" * (5 << 20)}
    big_line = orjson.dumps(big)
    (d / "clean.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    half = GOOD // 2
    (d / "big.jsonl").write_bytes(b"\n".join([*lines[:half], big_line, *lines[half:]]) + b"\n")
    return d / "clean.jsonl", d / "big.jsonl", big_line


@pytest.mark.parametrize("engine", ["direct", "faust"])
def test_an_oversize_line_is_dead_lettered_and_the_rest_stored(
        engine: str, files: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    clean, big, big_line = files
    for name, path in (("clean", clean), ("big", big)):
        run = sqm("replay", str(path), "--store", str(tmp_path / name), "--no-progress",
                  "--engine", engine)
        assert run.returncode == 0, run.stderr[-2000:]
        if name == "big":
            summary = re.search(r"replayed .*", run.stdout)
            assert summary and summary.group(0).startswith(f"replayed {GOOD + 1} events")
            assert "1 dead-lettered" in summary.group(0)
    results = {}
    for name in ("clean", "big"):
        client = connect(f"chdb://{tmp_path / name}")
        try:
            results[name] = (
                client.query("SELECT * EXCEPT ingested_at FROM sqm.events FINAL ORDER BY ALL")
                .result_rows,
                client.query("SELECT dl_id, stage, reason, raw, raw_truncated "
                             "FROM sqm.dead_letters FINAL").result_rows)
        finally:
            client.close()
    assert len(results["clean"][0]) > 0 and results["clean"][1] == []
    assert results["big"][0] == results["clean"][0]
    assert results["big"][1] == [(
        f"big.jsonl:{GOOD // 2 + 1}", "ingest",
        f"line of {len(big_line):,} bytes is over the limit of 4,000,000 bytes",
        big_line[:65536].decode(), True)]
