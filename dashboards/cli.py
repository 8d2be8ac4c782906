"""`sqm dashboards ...`: build the committed Grafana files, or push the boards to a Grafana.

Mounted by the main CLI with `cli.add_typer(app, name="dashboards")`. Errors are one line on
stderr and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sqm.dashboards.paths import PROJECT_ROOT

__all__ = ["app"]

app = typer.Typer(
    help="Grafana dashboards and alert rules, as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

RootOpt = Annotated[
    Path, typer.Option("--root", help="Project root holding deploy/grafana/.", show_default=False)
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(1)


@app.command()
def build(
    check: Annotated[
        bool, typer.Option("--check", help="Only verify the committed files are up to date.")
    ] = False,
    root: RootOpt = PROJECT_ROOT,
) -> None:
    """Regenerate deploy/grafana/ (board JSON, alert rules) from the code in dashboards/."""
    # Imported here, not at module level: `sqm` mounts this app and should not load the SDK
    # for unrelated commands.
    from sqm.dashboards.build import stale_files, write_files

    if not (root / "pyproject.toml").is_file():  # e.g. a non-editable install's site-packages
        raise _fail(f"{root} is not the sqm source tree (no pyproject.toml); pass --root")
    if check:
        stale = stale_files(root)
        if stale:
            names = ", ".join(str(p) for p in stale)
            raise _fail(f"stale Grafana files (run `sqm dashboards build`): {names}")
        out.print("Grafana files are up to date")
        return
    changed = write_files(root)
    out.print(f"updated: {', '.join(map(str, changed))}" if changed else "already up to date")


@app.command()
def push(
    url: Annotated[
        str,
        typer.Option(envvar="SQM_GRAFANA_URL", help="Grafana base URL.", show_default=False),
    ] = "",
    token: Annotated[
        str,
        typer.Option(
            envvar="SQM_GRAFANA_TOKEN",
            help="Service-account token (prefer the environment variable).",
            show_default=False,
        ),
    ] = "",
    timeout: Annotated[float, typer.Option(help="Seconds per HTTP request.")] = 10.0,
) -> None:
    """Upload the boards to a running Grafana (folder SQM), overwriting earlier versions."""
    from sqm.dashboards.build import BOARDS, dashboard_json
    from sqm.dashboards.push import push_dashboards
    from sqm.sinks.grafana import GrafanaError, GrafanaTarget

    if not url or not token:
        raise _fail("set SQM_GRAFANA_URL and SQM_GRAFANA_TOKEN (or --url and --token)")
    target = GrafanaTarget(url, token, timeout_s=timeout)
    try:
        pushed = push_dashboards(target, {uid: dashboard_json(uid) for uid in BOARDS})
    except GrafanaError as ex:
        raise _fail(str(ex)) from None
    out.print(f"pushed {', '.join(pushed)} to {target.shown_url}")
