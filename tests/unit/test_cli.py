"""The `sqm` command line as a person meets it: help everywhere, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sqm.streams.cli import cli
from sqm.streams.config import ConfigError, load_settings

runner = CliRunner()
COMMANDS = [["replay"], ["sql"], ["migrate"], ["worker"], ["demo"], ["simulate"],
            ["dashboards"], ["dashboards", "build"], ["dashboards", "push"], ["staffing"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def sqm(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sqm.streams.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd,
                          env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC",
                               "PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})})


def assert_one_line_error(run: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_setting_is_one_line(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    run = sqm("replay", str(events), "--store", str(tmp_path / "s"),
              env={"SQM_LATENESS_S": "an hour"})
    assert_one_line_error(run, "lateness_s", "integer")


def test_unknown_yaml_setting_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sqm.yaml"
    config.write_text("partitions: 8\nlatenes_s: 60\n")
    run = sqm("migrate", "--config", str(config), "--store", str(tmp_path / "s"))
    assert_one_line_error(run, "unknown setting", "latenes_s")


def test_missing_file_and_failed_query_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(sqm("replay", str(tmp_path / "nope.jsonl")), "no such file")
    store = tmp_path / "store"
    assert sqm("migrate", "--store", str(store)).returncode == 0
    assert_one_line_error(sqm("sql", "--store", str(store), "SELECT nope FROM sqm.contacts"),
                          "ClickHouse")


def test_sql_prints_csv(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert sqm("migrate", "--store", str(store)).returncode == 0
    run = sqm("sql", "--store", str(store), "--format", "csv",
              "SELECT 1 AS one, toDateTime64('2026-03-02 01:00:00', 3, 'UTC') AS t")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["one,t", "1,2026-03-02 01:00:00+00:00"]


def test_settings_precedence_env_over_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sqm.yaml"
    config.write_text("partitions: 8\nlateness_s: 60\n")
    monkeypatch.setenv("SQM_LATENESS_S", "120")
    monkeypatch.delenv("SQM_CONFIG", raising=False)
    settings = load_settings(config)
    assert (settings.partitions, settings.lateness_s) == (8, 120)
    monkeypatch.delenv("SQM_CONFIG")


def test_state_ttl_must_cover_the_repeat_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQM_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="state_ttl_days must be at least repeat_window_days"):
        load_settings(state_ttl_days=3, repeat_window_days=7)
