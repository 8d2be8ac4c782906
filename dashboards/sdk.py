"""The Grafana Foundation SDK modules the boards use, imported once without its import warning.

The SDK warns at import time that the classic `dashboard` model is superseded by `dashboardv2`.
The classic model is deliberate here: it is what Grafana's file provisioning and
`POST /api/dashboards/db` accept. Import SDK modules from here so the warning stays silent.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
    from grafana_foundation_sdk.builders import alerting as ab
    from grafana_foundation_sdk.builders import common as cb
    from grafana_foundation_sdk.builders import dashboard as db
    from grafana_foundation_sdk.builders import expr as eb
    from grafana_foundation_sdk.builders import stat, table, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import alerting as am
    from grafana_foundation_sdk.models import common as cm
    from grafana_foundation_sdk.models import dashboard as dm

__all__ = ["JSONEncoder", "ab", "am", "cb", "cm", "db", "dm", "eb", "stat", "table", "timeseries"]
