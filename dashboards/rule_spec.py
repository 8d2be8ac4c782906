"""What one Grafana-managed SQM alert rule is made of, before it is laid out as A → B → C."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants

__all__ = ["NoData", "RuleSpec"]

# What a rule becomes when its query returns nothing, or fails. Grafana's choices; "OK" is
# deliberately not offered: a rule that cannot see its data must never look healthy.
NoData = Literal["Alerting", "NoData", "KeepLast"]
ExecErr = Literal["Alerting", "Error", "KeepLast"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    uid: str
    title: str
    query: cogbuilder.Builder[cogvariants.Dataquery]
    datasource_uid: str
    lookback_s: int
    reducer: Literal["last", "max", "mean"]
    op: Literal["gt", "lt"]
    limit: float
    pending: str
    severity: Literal["warning", "critical"]
    summary: str
    panel_id: int
    no_data: NoData
    exec_err: ExecErr = "Error"
