"""The `sqm` command line as a new user tries it: --version, help that shows every default and
the choices, one-line errors for mistyped options and store paths, scorecards readable at 80
columns, warnings in plain words above the progress bar, counts in the right number."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress
from typer.core import TyperArgument, TyperOption
from typer.main import get_command
from typer.testing import CliRunner

from sqm.sinks.clickhouse import StoreError
from sqm.streams.cli import cli, settings_for
from sqm.streams.logs import ConsoleHandler, JsonFormatter, setup_logging
from sqm.streams.query import render
from sqm.streams.replay_summary import ReplaySummary
from sqm.streams.scorecard_report import EntityScore, parse_period, terminal_table
from sqm.streams.store import check_store_dir

ROOT = Path(__file__).parents[2]
runner = CliRunner()


def sqm(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sqm.streams.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd,
                          env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC",
                               "PYTHONPATH": str(ROOT), **(env or {})})


def one_line_error(run: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert run.returncode == code, (run.stdout, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def commands() -> Iterator[tuple[str, object]]:
    """Every command of ours (the dashboards group is another team's)."""
    root = get_command(cli)
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        if name == "dashboards":
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for sub, c in subcommands.items():
                yield f"{name} {sub}", c
        else:
            yield name, command


# --version and help


def test_version_comes_from_the_package_metadata() -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"sqm {version('sqm')}\n"


@pytest.mark.parametrize("name", [n for n, _ in commands()])
def test_every_option_shows_its_default(name: str) -> None:
    """An option whose default is None (or "") says what applies instead (`--store`: where
    the store goes), so no option's help is silent about what happens without it."""
    command = dict(commands())[name]
    for param in command.params:  # type: ignore[attr-defined]
        if isinstance(param, TyperOption) and not param.required:
            assert param.default not in (None, "") or isinstance(param.show_default, str), (
                param.opts)


def test_help_shows_where_the_store_goes_and_the_choices() -> None:
    result = runner.invoke(cli, ["sql", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "SQM_CLICKHOUSE_URL, else ./sqm-data/store" in result.output
    assert "<table|csv|json>" in result.output
    result = runner.invoke(cli, ["replay", "--help"], env={"COLUMNS": "200"})
    assert "<direct|faust>" in result.output and "[default: direct]" in result.output
    result = runner.invoke(cli, ["demo", "--help"], env={"COLUMNS": "200"})
    assert "./sqm-data/demo" in result.output and "until Ctrl-C" in result.output


@pytest.mark.parametrize("args", [[], ["replay"], ["sql"], ["scorecard"], ["staffing"],
                                  ["simulate"], ["alerts", "ack"], ["dashboards", "build"]],
                         ids=" ".join)
def test_help_has_no_typer_artefacts(args: list[str]) -> None:
    """No `{events}` in the usage line, no `<bool>` after a flag."""
    result = runner.invoke(cli, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<bool>" not in result.output
    command = dict(commands()).get(" ".join(args))
    for param in getattr(command, "params", []):
        if isinstance(param, TyperArgument):  # upper case, as in `sqm replay [OPTIONS] EVENTS`
            assert f" {param.metavar}" in usage and param.metavar == param.metavar.upper()


# choices and values, refused in one line


@pytest.mark.parametrize(("args", "message"), [
    (["sql", "--format", "xml", "SELECT 1"], "--format: 'xml' is not one of table, csv, json"),
    (["scorecard", "--format", "xml"], "--format: 'xml' is not one of table, csv, json"),
    (["staffing", "--format", "xml"], "--format: 'xml' is not one of table, csv, json"),
    (["replay", "x.jsonl", "--engine", "fast"], "--engine: 'fast' is not one of direct, faust"),
    (["scorecard", "--by", "team"], "--by: 'team' is not one of agent, queue, channel"),
    (["simulate", "x.jsonl", "--contacts", "many"], "--contacts: input should be a valid integer"),
    (["replay"], "missing argument 'EVENTS'; see "),
    (["--versoin"], "no such option: --versoin"),
])
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), result.stderr
    assert "Usage" not in result.stderr and "╭" not in result.stderr


def test_the_choices_of_by_are_the_scorecard_entities() -> None:
    from sqm.streams.cli import Entity
    from sqm.streams.scorecard_report import ENTITIES

    assert [e.value for e in Entity] == list(ENTITIES)


def test_contacts_below_one_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    result = runner.invoke(cli, ["simulate", str(out), "--contacts", "-5"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --contacts must be at least 1, got -5"
    assert not out.exists()


@pytest.mark.parametrize("text", ["0d", "0h0m", "7", "7 days", "-1d", "", "1w"])
def test_a_period_must_be_a_length(text: str) -> None:
    from sqm.streams.config import ConfigError

    with pytest.raises(ConfigError, match=r"^--period: expected a length like 24h, 7d or 30d"):
        parse_period(text)


def test_period_lengths() -> None:
    from datetime import timedelta

    assert parse_period("7d") == timedelta(days=7)
    assert parse_period("24h") == timedelta(hours=24)
    assert parse_period("1d12h30m") == timedelta(days=1, hours=12, minutes=30)


def test_a_zero_period_is_one_line_before_the_store_is_opened(tmp_path: Path) -> None:
    line = one_line_error(sqm("scorecard", "--store", str(tmp_path / "s"), "--period", "0d"))
    assert line == "error: --period: expected a length like 24h, 7d or 30d, got '0d'"


# store paths


def test_read_commands_do_not_create_a_mistyped_store(tmp_path: Path) -> None:
    missing = tmp_path / "stroe"
    for args in (["sql", "--store", str(missing), "SELECT 1"],
                 ["scorecard", "--store", str(missing)], ["staffing", "--store", str(missing)]):
        line = one_line_error(sqm(*args))
        assert line.startswith(f"error: no store at {missing}: pass --store"), line
    assert not missing.exists()


def test_the_default_store_is_named_when_it_is_missing(tmp_path: Path) -> None:
    line = one_line_error(sqm("sql", "SELECT 1", cwd=tmp_path))
    assert f"no store at {tmp_path / 'sqm-data' / 'store'}" in line
    assert not (tmp_path / "sqm-data").exists()


def test_a_store_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n")
    for args in (["sql", "--store", str(events), "SELECT 1"],
                 ["replay", str(events), "--store", str(events)]):
        line = one_line_error(sqm(*args))
        assert line == f"error: store {events} is a file, not a directory"


def unwritable_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir(mode=0o500)
        return d
    # Root writes anywhere a mode allows; sysfs refuses even root.
    d = Path("/sys/kernel")
    if not d.is_dir() or (os.access(d, os.W_OK) and _writable(d)):
        pytest.skip("no directory here that this user cannot write")
    return d


def _writable(d: Path) -> bool:
    try:
        (d / ".probe").touch()
    except OSError:
        return False
    (d / ".probe").unlink()
    return True


def test_an_unwritable_store_is_one_line(tmp_path: Path) -> None:
    ro = unwritable_dir(tmp_path)
    line = one_line_error(sqm("migrate", "--store", str(ro)))
    assert line.startswith(f"error: store {ro} is not writable: "), line
    line = one_line_error(sqm("migrate", "--store", str(ro / "store")))
    assert line.startswith(f"error: cannot create the store {ro / 'store'}: "), line


def test_check_store_dir(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*: pass --store"):
        check_store_dir(tmp_path / "new", create=False)
    check_store_dir(tmp_path / "new", create=True)  # replay and migrate make it
    assert (tmp_path / "new").is_dir() and not list((tmp_path / "new").iterdir())
    with pytest.raises(StoreError, match=r"no store at .*: the directory holds no chDB data"):
        check_store_dir(tmp_path / "new", create=False)
    (tmp_path / "new" / "metadata").mkdir()
    check_store_dir(tmp_path / "new", create=False)
    (tmp_path / "f").write_text("")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        check_store_dir(tmp_path / "f", create=True)
    with pytest.raises(StoreError, match=r"cannot create the store .*: Not a directory"):
        check_store_dir(tmp_path / "f" / "s", create=True)


def test_simulate_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "nope" / "x.jsonl"
    result = runner.invoke(cli, ["simulate", str(out), "--contacts", "1"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot write {out}: there is no directory {out.parent}")


# scorecard: readable at 80 columns, and says why it is empty


def entity_scores(n: int) -> list[EntityScore]:
    from sqm.streams.core.scorecard import DEFAULT_GOALS, DEFAULT_INDICATORS, Measured, score

    goal = DEFAULT_GOALS["satisfaction"]
    measured = {name: Measured(0.8 if name.endswith("rate") else 4.2, 25)
                for name in DEFAULT_INDICATORS}
    return [EntityScore(f"shop-{i % 3 + 1}", f"agent-{i:03d}-long-name",
                        score(goal, DEFAULT_INDICATORS, measured), 0) for i in range(n)]


@pytest.mark.parametrize("width", [80, 100, 300])
def test_scorecard_table_fits_without_cutting_names(width: int) -> None:
    scores = entity_scores(4)
    table, left_out = terminal_table(scores, "agent", width)
    console = Console(file=io.StringIO(), width=width)
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for s in scores:
        assert s.entity in text and s.tenant_id in text
    parts = scores[0].score.parts
    shown = [p for p in parts if p.indicator.name not in left_out]
    for p in shown:
        assert p.indicator.name in text
    # Too narrow for all seven: the most weighted indicators stay.
    assert bool(left_out) == (width < 300)
    if left_out:
        heaviest = max(p.weight for p in parts)
        assert all(p in shown for p in parts if p.weight == heaviest)
        assert all(p.weight < heaviest for p in parts if p.indicator.name in left_out)


def test_a_wide_sql_result_is_printed_one_field_a_line() -> None:
    names = [f"column_number_{i}" for i in range(12)]
    console = Console(file=io.StringIO(), width=80)
    render(names, [[f"value-{i}-of-row" for i in range(12)]], "table", console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text and "column_number_11  value-11-of-row" in text
    assert "1 row, one field a line: the table is wider than 80 columns" in text
    console = Console(file=io.StringIO(), width=80)
    render(["one"], [[1], [2]], "table", console)
    assert "┃ one ┃" in console.file.getvalue()  # type: ignore[attr-defined]
    assert console.file.getvalue().endswith("2 rows\n")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def replayed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of simulated traffic from 2026-03-02 (contacts created within a minute)."""
    d = tmp_path_factory.mktemp("scorecard")
    run = sqm("simulate", str(d / "e.jsonl"), "--contacts", "120")
    assert run.returncode == 0, run.stderr
    run = sqm("replay", str(d / "e.jsonl"), "--store", str(d / "store"), "--no-progress")
    assert run.returncode == 0, run.stderr
    return d / "store"


def test_a_scorecard_of_a_period_after_the_data_says_so(replayed_store: Path) -> None:
    for fmt in ("table", "json"):
        run = sqm("scorecard", "--store", str(replayed_store), "--format", fmt)
        assert run.returncode == 0, run.stderr
        assert run.stderr.strip() == (
            "no contacts created in this period: the store's newest was created "
            "2026-03-02 01:00 UTC; --end latest ends the period at its newest event")
    assert "┏" not in run.stdout  # no empty table
    run = sqm("scorecard", "--store", str(replayed_store), "--end", "2026-01-01T00:00:00Z")
    assert "the store's oldest was created 2026-03-02 01:00 UTC, after its end" in run.stderr


def test_the_scorecard_reads_at_80_columns(replayed_store: Path) -> None:
    run = sqm("scorecard", "--store", str(replayed_store), "--end", "latest",
              env={"COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    assert "…" not in run.stdout and "agent-10 " in run.stdout and "shop-1 " in run.stdout
    assert max(len(line.rstrip()) for line in run.stdout.splitlines()) <= 80
    assert "; not shown at 80 columns: " in run.stdout


# logs: plain words above the progress bar, JSON when asked


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_interactive_commands_log_in_plain_words(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.delenv("SQM_LOG_FORMAT", raising=False)
    monkeypatch.delenv("SQM_CONFIG", raising=False)
    console = Console(file=io.StringIO(), width=200)
    settings_for(None, tmp_path / "s", log_console=console)
    logging.getLogger("sqm.streams.engine.faust.ingest").warning(
        "dead-lettered %d of %d events; first reason: %s", 2, 9, "missing field 'type' [x]")
    assert console.file.getvalue() == (  # type: ignore[attr-defined]
        "warning: dead-lettered 2 of 9 events; first reason: missing field 'type' [x]\n")


def test_json_logs_when_asked_and_for_the_worker(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.delenv("SQM_CONFIG", raising=False)
    monkeypatch.setenv("SQM_LOG_FORMAT", "json")
    settings_for(None, tmp_path / "s", log_console=Console(file=io.StringIO()))
    [handler] = logging.getLogger().handlers
    assert isinstance(handler.formatter, JsonFormatter)
    monkeypatch.delenv("SQM_LOG_FORMAT")
    settings_for(None, tmp_path / "s", interactive=False)  # the worker
    [handler] = logging.getLogger().handlers
    assert isinstance(handler.formatter, JsonFormatter)


def test_a_warning_lands_above_the_progress_bar(root_logging: None) -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    setup_logging("WARNING", "json", console=console)
    assert isinstance(logging.getLogger().handlers[0], ConsoleHandler)
    with Progress(console=console, auto_refresh=False) as progress:
        task = progress.add_task("replay", total=2)
        progress.refresh()
        logging.getLogger("x").warning("dead-lettered 1 of 2 events")
        progress.update(task, completed=2)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    before, after = text.split("warning: dead-lettered 1 of 2 events\n")
    assert before.endswith("\r\x1b[2K")  # the bar's line is cleared for the warning
    assert "replay" in after and "100%" in after  # and the bar drawn again below it


# counts in the right number


def test_summary_lines_count_in_the_right_number() -> None:
    assert ReplaySummary(1, 1, 0, 1, 0, 1, 0.5).line() == (
        "replayed 1 event in 0.5 s: 1 stored (0 distinct, 1 duplicate merged), 0 dead-lettered, "
        "1 contact")
    # What tests and scripts parse, unchanged.
    assert ReplaySummary(26, 22, 20, 2, 4, 6, 2.0).line() == (
        "replayed 26 events in 2.0 s: 22 stored (20 distinct, 2 duplicates merged), "
        "4 dead-lettered, 6 contacts")
    assert "NOT EXACT: 1 correction to windows older" in ReplaySummary(
        1, 1, 1, 0, 0, 1, 0.5, dropped_corrections=1).line()


def test_simulate_says_1_contact(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["simulate", str(tmp_path / "x.jsonl"), "--contacts", "1",
                                 "--days", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert " events for 1 contact over 1 day to " in result.output
