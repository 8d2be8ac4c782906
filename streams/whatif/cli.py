"""The `sqm whatif` command's options (registered in `streams/commands/analysis.py`); the work is in
`command.py`. Kept light to import: everything heavy is imported when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def whatif(
    policy: Annotated[Path, typer.Option(
        help="The proposed SLA policy YAML (docs/policies.md).")],
    store: Annotated[Path | None, typer.Option(
        metavar="<dir>", help="chDB data directory (sets SQM_CLICKHOUSE_URL); only read.",
        show_default="SQM_CLICKHOUSE_URL, else ./sqm-data/store")] = None,
    current: Annotated[Path | None, typer.Option(
        metavar="<file>", help="The policy the stored rows were derived under; its version must "
        "match theirs.", show_default="SQM_POLICY_FILE, else contract v1's targets")] = None,
    period: Annotated[str, typer.Option(help="Length of the period: 24h, 7d, 30d ...")] = "30d",
    end: Annotated[str, typer.Option(
        help="End of the period: latest (newest event stored), now or an RFC 3339 time.")
    ] = "latest",
    goal: Annotated[str, typer.Option(
        help="Scorecard goal to score (efficiency, satisfaction, or a policy file's).")
    ] = "efficiency",
    out_file: Annotated[Path | None, typer.Option(
        "--out", metavar="<file>",
        help="Also write an HTML page: SL per queue plotted, every changed contact.",
        show_default="no page")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    show: Annotated[str, typer.Option(
        help="all, summary (per tenant, channel and queue) or changes (changed contacts).")
    ] = "all",
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="<file>", help="YAML settings file.",
        show_default="SQM_CONFIG, else none")] = None,
) -> None:
    """Compare a period under another SLA policy, recomputed from the stored events.

    Side by side: service level, misses, at-risk contacts and scores, and the contacts whose
    outcome flips. Writes nothing into the store."""
    from sqm.streams.app_config import load_alert_config
    from sqm.streams.commands.base import err, out, settings_for
    from sqm.streams.config import ConfigError
    from sqm.streams.whatif.command import Request, run
    from sqm.streams.whatif.render import SHOW
    from sqm.streams.whatif.render import show as show_result

    if fmt not in ("table", "csv", "json"):
        raise ConfigError(f"--format: {fmt!r} is not one of table, csv, json")
    if show not in SHOW:
        raise ConfigError(f"--show: {show!r} is not one of {', '.join(SHOW)}")
    if out_file is not None and not out_file.parent.is_dir():
        raise ConfigError(f"--out: no such directory: {out_file.parent}")
    settings = settings_for(config, store)
    at_risk = load_alert_config(settings).at_risk
    result = run(settings, at_risk, Request(policy, current, period, end, goal))
    show_result(result, fmt, show, out)
    if result.mismatched and fmt != "table":
        from sqm.streams.whatif.render import check_line

        err.print(f"warning: {check_line(result).removeprefix('check:').strip()}",
                  highlight=False, soft_wrap=True, markup=False)
    if out_file is not None:
        from sqm.streams.whatif.html import write_html

        write_html(result, out_file)
        err.print(f"wrote {out_file}", highlight=False, markup=False)
