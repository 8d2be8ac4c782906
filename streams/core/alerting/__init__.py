"""The alert engine: plain Python over plain data and an explicit clock.

Rules (`rules.py`) are evaluated over rolling one-minute windows (`rolling.py`) by a per
(rule, scope) state machine (`machine.py`, `engine.py`); waiting contacts raise pre-breach
warnings on a timer (`at_risk.py`); anomalies compare a scope with its own EWMA baseline
(`anomaly.py`). `AlertMonitor` (`monitor.py`) bundles them for the pipeline. Every output is an
`AlertChange`: one `sqm.alerts` row. See docs/alerting.md.
"""

from sqm.streams.core.alerting.anomaly import AnomalyDetector
from sqm.streams.core.alerting.at_risk import AtRiskTracker, WaitingContact, waiting_contact
from sqm.streams.core.alerting.changes import AlertChange, ScopeKey
from sqm.streams.core.alerting.engine import Engine
from sqm.streams.core.alerting.grid import MetricSource
from sqm.streams.core.alerting.monitor import AlertMonitor
from sqm.streams.core.alerting.rolling import RollingStore
from sqm.streams.core.alerting.rules import (
    DEFAULT_ANOMALIES,
    DEFAULT_CONFIG,
    DEFAULT_RULES,
    AlertConfig,
    AlertConfigError,
    AnomalyRule,
    AtRiskConfig,
    Rule,
    Scope,
    load_rules,
    parse_config,
)
from sqm.streams.core.alerting.samples import Sample
from sqm.streams.core.alerting.supplied import MeanSource, ScopedValues

__all__ = [
    "DEFAULT_ANOMALIES",
    "DEFAULT_CONFIG",
    "DEFAULT_RULES",
    "AlertChange",
    "AlertConfig",
    "AlertConfigError",
    "AlertMonitor",
    "AnomalyDetector",
    "AnomalyRule",
    "AtRiskConfig",
    "AtRiskTracker",
    "Engine",
    "MeanSource",
    "MetricSource",
    "RollingStore",
    "Rule",
    "Sample",
    "Scope",
    "ScopeKey",
    "ScopedValues",
    "WaitingContact",
    "load_rules",
    "parse_config",
    "waiting_contact",
]
