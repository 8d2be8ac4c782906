"""Where the generated Grafana files live, relative to the project root."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ALERTS_FILE", "DASHBOARDS_DIR", "NOTIFICATIONS_FILE", "PROJECT_ROOT"]

# The repository root: this package lives at <root>/dashboards (the project installs editable).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS_DIR = Path("deploy/grafana/dashboards")
ALERTS_FILE = Path("deploy/grafana/provisioning/alerting/sqm-alerts.yaml")
NOTIFICATIONS_FILE = Path("deploy/grafana/provisioning/alerting/sqm-notifications.yaml")
