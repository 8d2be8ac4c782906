"""Which policy is "current" and which "proposed", and the check that "current" is the policy
the stored rows were derived under (otherwise its side would not be what the store says).

Current: `--current FILE`, else the settings' policy (`SQM_POLICY_FILE`, `policy_file:` in the
config file), else contract v1's defaults (version `default`): how `sqm worker` and `sqm
replay` resolve it (`Settings.policy`). Its version must be the `policy_version` of every
stored row of the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqm.streams.config import ConfigError, Settings
from sqm.streams.core.alerting import AtRiskConfig
from sqm.streams.core.policy_file import Policy, PolicyError, load_policy, scorecard_config
from sqm.streams.core.scorecard import Goal, Indicator
from sqm.streams.whatif.recompute import Rules


@dataclass(frozen=True, slots=True)
class Side:
    name: str  # current | proposed
    source: str  # where the policy came from, said in the output
    rules: Rules
    indicators: dict[str, Indicator]
    goals: dict[str, Goal]

    @property
    def version(self) -> str:
        return self.rules.policy.version


def proposed_side(path: Path, settings: Settings, at_risk: AtRiskConfig) -> Side:
    return _side("proposed", _load(path), str(path), settings, at_risk)


def current_side(path: Path | None, settings: Settings, at_risk: AtRiskConfig) -> Side:
    if path is not None:
        return _side("current", _load(path), str(path), settings, at_risk)
    if settings.policy_file is not None:
        return _side("current", settings.policy(), f"{settings.policy_file} (the settings' "
                     "policy file)", settings, at_risk)
    return _side("current", Policy.default(), "contract v1's defaults (no --current, no policy "
                 "file)", settings, at_risk)


def check_stored(current: Side, stored: Mapping[str, int]) -> None:
    """The period's stored rows (`stored`: how many per `policy_version`) must all come from
    the current policy's version."""
    if len(stored) > 1:
        listed = ", ".join(f"{v!r} ({n:,})" for v, n in sorted(stored.items()))
        raise ConfigError(f"the period's contacts were derived under {len(stored)} policy "
                          f"versions: {listed}; choose a --period and --end within one")
    (version, n), = stored.items()
    if version != current.version:
        raise ConfigError(
            f"the current policy, {current.source}, is version {current.version!r} but the "
            f"period's {n:,} contacts were derived under {version!r}: pass --current FILE "
            "with that policy")


def check_goal(goal: str, *sides: Side) -> None:
    for side in sides:
        if goal not in side.goals:
            raise ConfigError(f"--goal: {goal!r} is not one of {', '.join(side.goals)} "
                              f"(the {side.name} policy's goals)")


def _side(name: str, policy: Policy, source: str, settings: Settings,
          at_risk: AtRiskConfig) -> Side:
    indicators, goals = scorecard_config(policy)
    rules = Rules(policy, settings.repeat_window_ms(policy), at_risk)
    return Side(name, source, rules, indicators, goals)


def _load(path: Path) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
