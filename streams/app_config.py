"""Settings turned into the stages' configuration, without importing any engine."""

from __future__ import annotations

from sqm.streams.config import ConfigError, Settings
from sqm.streams.core.alerting import DEFAULT_CONFIG, AlertConfig, AlertConfigError, load_rules

__all__ = ["load_alert_config"]


def load_alert_config(settings: Settings) -> AlertConfig:
    if settings.alerts_config is None:
        return DEFAULT_CONFIG
    try:
        return load_rules(settings.alerts_config)
    except AlertConfigError as exc:
        raise ConfigError(str(exc)) from None
