"""The alert policy: threshold rules, anomaly rules and at-risk settings (docs/alerting.md).

Validated once with pydantic; a bad file becomes one line (`AlertConfigError`). Durations are
written `90s`, `15m`, `1h30m`, `8d` and kept as integer milliseconds.
"""

from __future__ import annotations

import operator
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from sqm.streams.core.alerting.defaults import DEFAULT_ANOMALY_DATA, DEFAULT_RULE_DATA
from sqm.streams.core.records import CHANNELS, PRIORITIES

MINUTE_MS = 60_000
DAY_MS = 86_400_000

# From the one-minute windows (sqm.sla_1m), over `window`.
ROLLING_METRICS = ("service_level", "abandonment_rate", "repeat_rate", "avg_wait_s", "csat")
# From the set of waiting contacts, as of the clock: `window` plays no part.
GAUGE_METRICS = ("backlog", "at_risk_count")
# Not computable from sla_1m: evaluated only when the caller supplies a source for them.
SUPPLIED_METRICS = ("wait_p90_s",)
# Window metrics a caller may also supply per agent (the windows have no agent dimension).
AGENT_SUPPLIABLE = ("wait_p90_s", "csat")

Metric = Literal[
    "service_level", "abandonment_rate", "repeat_rate", "avg_wait_s",
    "backlog", "at_risk_count", "wait_p90_s", "csat",
]
Comparison = Literal["<", "<=", ">", ">="]
Severity = Literal["warning", "critical"]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNIT_MS = (DAY_MS, 3_600_000, MINUTE_MS, 1000)
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class AlertConfigError(ValueError):
    """Invalid alert policy; str() is one line for a person."""


def parse_duration(value: object) -> int:
    """`1h30m` → 5_400_000 ms. Only strings (and the number 0): a bare 900 is ambiguous."""
    if value == 0 and not isinstance(value, bool):
        return 0
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and any(m.groups()):
            return sum(int(g) * u for g, u in zip(m.groups(), _UNIT_MS, strict=True) if g)
    raise ValueError(f"{value!r} is not a duration; write it like 90s, 15m, 1h30m or 8d")


Duration = Annotated[int, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Scope(_Model):
    """Per dimension: a value (that one only), `*` (each value apart), omitted (all together)."""

    tenant: str | None = Field(default=None, min_length=1)
    channel: str | None = None
    queue: str | None = Field(default=None, min_length=1)
    priority: str | None = None
    agent: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _known_values(self) -> Scope:
        if self.channel not in (None, "*", *CHANNELS):
            raise ValueError(f"scope.channel must be '*' or one of {', '.join(CHANNELS)}")
        if self.priority not in (None, "*", *PRIORITIES):
            raise ValueError(f"scope.priority must be '*' or one of {', '.join(PRIORITIES)}")
        return self

    @property
    def specs(self) -> tuple[str | None, str | None, str | None, str | None, str | None]:
        return (self.tenant, self.channel, self.queue, self.priority, self.agent)


class Rule(_Model):
    """A threshold rule: fires when `metric comparison threshold` holds for `for`."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    metric: Metric
    scope: Scope = Field(default_factory=Scope)
    window: Duration = 15 * MINUTE_MS
    comparison: Comparison
    threshold: float
    # Healthy side of `threshold`; the gap between them is the hysteresis. Default: threshold.
    resolve_threshold: float | None = None
    for_: Duration = Field(default=0, alias="for")
    severity: Severity = "warning"
    # Minimum denominator (answered + abandoned − short for service level, created for repeat
    # rate, answered for average wait, responses for CSAT). Below it: not evaluated at all.
    min_sample: float = Field(default=0, ge=0)
    enabled: bool = True

    @property
    def low_is_bad(self) -> bool:
        return self.comparison in ("<", "<=")

    @property
    def resolve_at(self) -> float:
        return self.threshold if self.resolve_threshold is None else self.resolve_threshold

    def breaches(self, value: float) -> bool:
        return _OPS[self.comparison](value, self.threshold)

    def recovers(self, value: float) -> bool:
        """The resolve condition (inclusive): at or beyond resolve_threshold on the healthy side."""
        return value >= self.resolve_at if self.low_is_bad else value <= self.resolve_at

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        r, t = self.resolve_at, self.threshold
        strict = self.comparison in ("<", ">")
        healthy = (r > t or (strict and r == t)) if self.low_is_bad else (
            r < t or (strict and r == t))
        if not healthy:
            side = "above" if self.low_is_bad else "below"
            equal = "" if strict else " (strictly, with a non-strict comparison)"
            raise ValueError(f"resolve_threshold {r:g} must be {side} threshold {t:g}{equal}")
        if self.metric in ROLLING_METRICS and (self.window % MINUTE_MS or not self.window):
            raise ValueError("window must be a whole number of minutes (at least 1m)")
        if self.window > DAY_MS:
            raise ValueError("window must be at most 1d")  # bounds the state kept for it
        if self.scope.agent is not None and self.metric not in AGENT_SUPPLIABLE:
            supplied = ", ".join(AGENT_SUPPLIABLE)
            raise ValueError(f"an agent scope needs a metric the caller supplies ({supplied})")
        if self.metric in GAUGE_METRICS and self.min_sample:
            raise ValueError(f"min_sample has no meaning for {self.metric} (always defined)")
        return self

    @property
    def from_windows(self) -> bool:
        """Evaluated over the one-minute windows (else a gauge or a caller-supplied source)."""
        return self.metric in ROLLING_METRICS and self.scope.agent is None


class AnomalyRule(_Model):
    """Fires when the metric strays from the same scope's EWMA baseline (anomaly.py)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    metric: Literal["volume", "service_level"]  # volume = offered contacts over `window`
    scope: Scope = Field(default_factory=Scope)
    window: Duration = MINUTE_MS
    direction: Literal["up", "down"] | None = None  # default: volume up, service level down
    method: Literal["ratio", "zscore"] = "ratio"
    threshold: float = Field(gt=0)  # the score (ratio or z) at or above which it breaches
    resolve_threshold: float | None = None  # score at or below which it resolves
    alpha: float = Field(default=0.1, gt=0, le=1)  # EWMA weight of each new observation
    min_baseline: int = Field(default=30, ge=1)  # observations before the rule may fire
    # Smallest denominator: the baseline (ratio, up), the observation (ratio, down) or the
    # standard deviation (zscore). Keeps tiny baselines from turning noise into big ratios.
    floor: float = Field(default=1.0, gt=0)
    min_sample: float = Field(default=0, ge=0)  # minimum denominator of the service level
    for_: Duration = Field(default=0, alias="for")
    severity: Severity = "warning"
    enabled: bool = False

    @property
    def up(self) -> bool:
        return (self.direction or ("up" if self.metric == "volume" else "down")) == "up"

    @property
    def resolve_at(self) -> float:
        return self.threshold if self.resolve_threshold is None else self.resolve_threshold

    @model_validator(mode="after")
    def _consistent(self) -> AnomalyRule:
        if self.resolve_at > self.threshold:
            raise ValueError(
                f"resolve_threshold {self.resolve_at:g} must be at most threshold "
                f"{self.threshold:g}"
            )
        if self.window % MINUTE_MS or not self.window or self.window > DAY_MS:
            raise ValueError("window must be a whole number of minutes from 1m to 1d")
        if self.scope.agent is not None:
            raise ValueError("anomaly rules cannot be scoped to an agent")
        if self.metric == "volume" and self.min_sample:
            raise ValueError("min_sample is for service_level; volume uses floor")
        return self


class AtRiskConfig(_Model):
    """Per-contact pre-breach warnings (at_risk.py)."""

    enabled: bool = True
    fraction: float = Field(default=0.8, gt=0, lt=1)  # share of the target used before warning
    severity: Severity = "warning"
    rule_id: str = "contact-at-risk"
    # One `breach` alert per contact that passes its target while waiting; off to keep the
    # volume sane (the queue-level rules on service level and at_risk_count cover it).
    contact_breach: bool = False
    breach_severity: Severity = "critical"
    breach_rule_id: str = "contact-breach"
    # A contact waiting longer than this is dropped (it would otherwise stay in state forever).
    max_wait: Duration = 8 * DAY_MS


DEFAULT_RULES: tuple[Rule, ...] = tuple(Rule.model_validate(r) for r in DEFAULT_RULE_DATA)
DEFAULT_ANOMALIES: tuple[AnomalyRule, ...] = tuple(
    AnomalyRule.model_validate(r) for r in DEFAULT_ANOMALY_DATA
)


class AlertConfig(_Model):
    """The whole policy file. Omitted sections take the defaults; a given list replaces them."""

    rules: tuple[Rule, ...] = DEFAULT_RULES
    anomalies: tuple[AnomalyRule, ...] = DEFAULT_ANOMALIES
    at_risk: AtRiskConfig = Field(default_factory=AtRiskConfig)

    @model_validator(mode="after")
    def _unique_ids(self) -> AlertConfig:
        ids = [r.id for r in self.rules] + [a.id for a in self.anomalies]
        ids += [self.at_risk.rule_id, self.at_risk.breach_rule_id]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"rule ids must be unique: {', '.join(dup)}")
        return self


DEFAULT_CONFIG = AlertConfig.model_validate({})


def _one_line(exc: ValidationError, data: dict[str, Any], where: str) -> AlertConfigError:
    """`alerts: FILE: rules[2] (id sl-low).threshold: Input should be ...` (the first error)."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if len(loc) >= 2 and loc[0] in ("rules", "anomalies") and loc[1].isdigit():
        items = data.get(loc[0])
        item = items[int(loc[1])] if isinstance(items, list) and int(loc[1]) < len(items) else None
        rid = f" (id {item['id']})" if isinstance(item, dict) and "id" in item else ""
        loc = [f"{loc[0]}[{loc[1]}]{rid}", *loc[2:]]
    msg = str(err["msg"]).removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return AlertConfigError(f"alerts: {where}{'.'.join(loc) or 'policy'}: {msg}{more}")


def parse_config(data: Any, source: str = "") -> AlertConfig:
    """Validate an already-parsed policy (a mapping); raise AlertConfigError with one line."""
    where = f"{source}: " if source else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AlertConfigError(f"alerts: {where}the policy must be a mapping")
    try:
        return AlertConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, data, where) from None


def load_rules(path: str | Path) -> AlertConfig:
    """Read and validate a policy file (YAML; see deploy/config/alerts.example.yaml)."""
    p = Path(path)
    if not p.is_file():
        raise AlertConfigError(f"alerts: file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise AlertConfigError(f"alerts: {p} is not valid YAML{line}") from None
    return parse_config(data, str(p))
