"""The default alert policy, written as the policy file would be (rules.py validates it).

deploy/config/alerts.example.yaml spells out the same rules; tests check they agree.
"""

from __future__ import annotations

from typing import Any

EACH_QUEUE = {"tenant": "*", "channel": "*", "queue": "*"}

DEFAULT_RULE_DATA: list[dict[str, Any]] = [
    {"id": "service-level-low", "metric": "service_level", "scope": EACH_QUEUE,
     "window": "15m", "comparison": "<", "threshold": 0.8, "resolve_threshold": 0.85,
     "for": "2m", "severity": "critical", "min_sample": 10},
    {"id": "abandonment-high", "metric": "abandonment_rate", "scope": EACH_QUEUE,
     "window": "15m", "comparison": ">", "threshold": 0.1, "resolve_threshold": 0.08,
     "for": "5m", "min_sample": 20},
    {"id": "repeat-rate-high", "metric": "repeat_rate", "scope": {"tenant": "*", "channel": "*"},
     "window": "1h", "comparison": ">", "threshold": 0.3, "resolve_threshold": 0.25,
     "for": "10m", "min_sample": 20},
    {"id": "avg-wait-high-chat", "metric": "avg_wait_s",
     "scope": {"tenant": "*", "channel": "chat", "queue": "*"}, "window": "15m",
     "comparison": ">", "threshold": 60, "resolve_threshold": 45, "for": "5m", "min_sample": 10},
    {"id": "backlog-high", "metric": "backlog", "scope": EACH_QUEUE, "comparison": ">",
     "threshold": 20, "resolve_threshold": 10, "for": "2m"},
    {"id": "at-risk-many", "metric": "at_risk_count", "scope": EACH_QUEUE, "comparison": ">=",
     "threshold": 5, "resolve_threshold": 2, "for": "1m", "severity": "critical"},
    {"id": "wait-p90-high-chat", "metric": "wait_p90_s",
     "scope": {"tenant": "*", "channel": "chat", "queue": "*"}, "window": "15m",
     "comparison": ">", "threshold": 60, "resolve_threshold": 45, "for": "5m",
     "min_sample": 20},
    {"id": "csat-low", "metric": "csat", "scope": {"tenant": "*", "channel": "*"},
     "window": "1d", "comparison": "<", "threshold": 3.5, "resolve_threshold": 3.8,
     "for": "30m", "min_sample": 20},
]
DEFAULT_ANOMALY_DATA: list[dict[str, Any]] = [
    {"id": "volume-spike", "metric": "volume", "scope": EACH_QUEUE, "window": "1m",
     "method": "ratio", "threshold": 3, "resolve_threshold": 2, "floor": 5,
     "min_baseline": 60, "for": "2m"},
    {"id": "service-level-drop", "metric": "service_level", "scope": EACH_QUEUE,
     "window": "15m", "method": "zscore", "threshold": 3, "resolve_threshold": 1.5,
     "floor": 0.05, "min_baseline": 120, "min_sample": 20, "for": "5m"},
]
