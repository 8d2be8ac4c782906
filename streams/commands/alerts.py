"""`sqm alerts ack`, and the sub-command groups (`alerts`, `dashboards`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sqm.streams.commands.base import (
    Command,
    ConfigOpt,
    Group,
    cli,
    guarded,
    out,
    settings_for,
)
from sqm.streams.words import plural

if TYPE_CHECKING:
    pass


alerts_app = typer.Typer(cls=Group, no_args_is_help=True, add_completion=False)


@alerts_app.command("ack", cls=Command)
@guarded
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(
        metavar="ALERT_ID", help="The alert's id (sqm.alerts.alert_id).")],
    config: ConfigOpt = None,
) -> None:
    """Acknowledge a firing alert: it stays open, marked acknowledged, until it resolves."""
    from sqm.streams.alert_ack import send_ack

    settings = settings_for(config, None)
    n = send_ack(settings, alert_id)
    out.print(f"acknowledgement of {alert_id} sent to the {plural(n, 'alert partition')}; the "
              "worker holding it records it in sqm.alerts (state acknowledged)")


def mount_subcommands() -> None:
    from sqm.dashboards.cli import app as dashboards_app

    cli.add_typer(dashboards_app, name="dashboards", cls=Group,
                  help="Build and push the Grafana dashboards.")
    cli.add_typer(alerts_app, name="alerts", help="Act on alerts: acknowledge one.")


