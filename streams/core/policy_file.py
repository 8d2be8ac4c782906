"""The SLA policy file (format and precedence: docs/policies.md).

`load_policy` validates a YAML file once, strictly (models in `policy_spec`), raising
`PolicyError` with one line; `Policy.targets_for` is the hot-path lookup, cached per distinct
answer. Without a file, `Policy.default()` reproduces contract v1 (`streams/core/policy.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sqm.streams.core import calendar as cal
from sqm.streams.core.policy import DEFAULT_FIRST_RESPONSE_TARGETS_S as DEFAULT_TARGETS
from sqm.streams.core.policy_spec import (
    Abandons,
    ClockKind,
    Comparison,
    Outcome,
    PolicyError,
    PolicyFile,
    Scope,
    Start,
    TargetSpec,
)
from sqm.streams.core.scorecard import DEFAULT_GOALS, DEFAULT_INDICATORS, Goal, Indicator

# --- resolved answers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockRules:
    start: Start = "queued"  # queued: earliest contact.queued, else created (contract v1)
    stop_on_bot_reply: bool = False  # human replies only
    pause_states: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    abandons: Abandons = "miss"
    short_abandon_s: int = 5
    comparison: Comparison = "le"

    def within(self, elapsed_ms: int, target_s: int) -> bool:
        limit = target_s * 1000
        return elapsed_ms <= limit if self.comparison == "le" else elapsed_ms < limit

    def is_short_abandon(self, wait_ms: int) -> bool:
        """Short abandons count in real (calendar) time: the customer left within seconds."""
        return wait_ms < self.short_abandon_s * 1000

    def abandon_outcome(self, wait_ms: int, elapsed_ms: int, target_s: int) -> Outcome:
        """What an abandoned contact adds to the service level: `wait_ms` in real time,
        `elapsed_ms` in the first-response target's clock."""
        if self.abandons == "exclude" or self.is_short_abandon(wait_ms):
            return "excluded"
        if self.abandons == "met_within_threshold" and self.within(elapsed_ms, target_s):
            return "met"
        return "missed"


@dataclass(frozen=True, slots=True)
class Target:
    seconds: int
    clock: ClockKind
    calendar_name: str | None  # None for calendar time
    calendar: cal.Calendar

    def elapsed_ms(self, start_ms: int, end_ms: int) -> int:
        return self.calendar.business_ms_between(start_ms, end_ms)

    def due_ms(self, start_ms: int) -> int:
        return self.calendar.add_business_ms(start_ms, self.seconds * 1000)


@dataclass(frozen=True, slots=True)
class Targets:
    first_response: Target
    next_response: Target | None  # None: no target
    resolution: Target | None
    clock: ClockRules
    service_level: ServiceLevel
    policy_version: str

    @property
    def first_response_s(self) -> int:
        return self.first_response.seconds

    @property
    def next_response_s(self) -> int | None:
        return self.next_response.seconds if self.next_response else None

    @property
    def resolution_s(self) -> int | None:
        return self.resolution.seconds if self.resolution else None


class Policy:
    """A validated policy file, its calendars built, with a cached lookup."""

    def __init__(self, spec: PolicyFile, source: str = "policy") -> None:
        self.spec = spec
        self.version = spec.version
        # Over the normalised model: key order, comments, '4h' vs 14400 do not change it.
        canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        self.hash = hashlib.sha256(canonical.encode()).hexdigest()
        self.calendars = {name: c.build() for name, c in spec.calendars.items()}
        self.repeat_window_ms = spec.repeat.window * 1000 if spec.repeat.window else None
        self.repeat_identity = spec.repeat.identity
        self._cache: dict[tuple[str | None, str, str, str | None], Targets] = {}
        self._check(source)

    @classmethod
    def default(cls) -> Policy:
        return cls(PolicyFile(version="default"))

    def targets_for(self, tenant_id: str, channel: str, priority: str, queue: str) -> Targets:
        tenant = self.spec.tenants.get(tenant_id)
        # Unknown tenants and queues share one cache entry: the cache stays file-sized.
        key = (
            tenant_id if tenant else None, channel, priority,
            queue if tenant and queue in tenant.queues else None,
        )
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(self._scopes(key[0], key[3]), channel, priority)
        return hit

    def _scopes(self, tenant_id: str | None, queue: str | None) -> list[Scope]:
        """Most specific first: tenant + queue, tenant, default."""
        tenant = self.spec.tenants.get(tenant_id) if tenant_id is not None else None
        scopes: list[Scope] = [self.spec.default]
        if tenant is not None:
            scopes.insert(0, tenant)
            if queue is not None:
                scopes.insert(0, tenant.queues[queue])
        return scopes

    def _resolve(self, scopes: list[Scope], channel: str, priority: str) -> Targets:
        calendar_name = next((s.calendar for s in scopes if s.calendar is not None), None)

        def target(kind: str) -> Target | None:
            spec = _pick(scopes, channel, priority, kind)
            if spec is None and kind == "first_response" and channel in DEFAULT_TARGETS:
                spec = TargetSpec(target=DEFAULT_TARGETS[channel])
            if spec is None:
                return None
            if spec.clock == "calendar":
                return Target(spec.target, "calendar", None, cal.ALWAYS_OPEN)
            if calendar_name is None:
                raise PolicyError(f"{channel}/{priority} {kind} counts business time but no "
                                  "calendar applies (set `calendar:` here or on a wider scope)")
            return Target(spec.target, "business", calendar_name, self.calendars[calendar_name])

        first = target("first_response")
        if first is None:
            raise KeyError(f"no first-response target for channel {channel!r}")
        clock = _inherit(scopes, "clock")
        if "pause_states" in clock:
            clock["pause_states"] = tuple(clock["pause_states"])
        return Targets(
            first, target("next_response"), target("resolution"), ClockRules(**clock),
            ServiceLevel(**_inherit(scopes, "service_level")), self.version,
        )

    def _check(self, source: str) -> None:
        """Refuse at load what would fail at lookup: unknown calendars, business time without
        one, for every scope the file defines (unknown tenants and queues resolve as these)."""
        places: list[tuple[str, str | None, str | None]] = [("default", None, None)]
        for tid, tenant in self.spec.tenants.items():
            places.append((f"tenants.{tid}", tid, None))
            places += [(f"tenants.{tid}.queues.{q}", tid, q) for q in tenant.queues]
        for where, tenant_id, queue in places:
            scopes = self._scopes(tenant_id, queue)
            if scopes[0].calendar is not None and scopes[0].calendar not in self.calendars:
                known = ", ".join(self.calendars) or "none defined"
                raise PolicyError(f"policy: {source}: {where}.calendar: unknown calendar "
                                  f"{scopes[0].calendar!r} (calendars: {known})")
            for channel in DEFAULT_TARGETS:
                for priority in ("low", "normal", "high", "urgent"):
                    try:
                        self._resolve(scopes, channel, priority)
                    except PolicyError as exc:
                        raise PolicyError(f"policy: {source}: {where}: {exc}") from None


def scorecard_config(policy: Policy | None) -> tuple[dict[str, Indicator], dict[str, Goal]]:
    """The scorecard's indicators and goals: the defaults, overridden by the policy file's
    `scorecard:` section (a goal of the same name is replaced whole)."""
    indicators = dict(DEFAULT_INDICATORS)
    goals = dict(DEFAULT_GOALS)
    if policy is not None:
        spec = policy.spec.scorecard
        for name, o in spec.indicators.items():
            base = indicators[name]
            indicators[name] = replace(
                base, target=o.target,
                min_count=o.min_count if o.min_count is not None else base.min_count)
        goals.update({name: Goal(name, dict(w)) for name, w in spec.goals.items()})
    return indicators, goals


def _pick(scopes: list[Scope], channel: str, priority: str, kind: str) -> TargetSpec | None:
    # Scope before priority: a tenant's channel-wide target beats the default's per-priority one.
    for scope in scopes:
        ct = scope.targets.get(channel)  # type: ignore[call-overload]
        if ct is None:
            continue
        pt = ct.priorities.get(priority)
        for spec in (getattr(pt, kind) if pt is not None else None, getattr(ct, kind)):
            if spec is not None:
                return spec
    return None


def _inherit(scopes: list[Scope], section: str) -> dict[str, Any]:
    """Field by field, the most specific scope that sets it wins."""
    merged: dict[str, Any] = {}
    for scope in reversed(scopes):
        merged.update(getattr(scope, section).model_dump(exclude_none=True))
    return merged


# --- loading -------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of duplicate keys; a duplicated tenant would vanish silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """A policy from already-parsed YAML/JSON data; `source` names it in errors."""
    if not isinstance(data, dict):
        raise PolicyError(f"policy: {source}: must be a mapping with at least `version:`")
    try:
        spec = PolicyFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        err = errors[0]
        where = ".".join(str(p) for p in err["loc"] if p != "[key]") or "file"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" or "[key]" in err["loc"]:
            msg = "unknown key" + (f" ({msg})" if "[key]" in err["loc"] else "")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PolicyError(
            f"policy: {source}: {where}: {msg}{more}"
        ) from None
    return Policy(spec, source)


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"policy: cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"policy: {path}: {problem}{where}") from None
    return parse_policy(data, str(path))
