"""SLA targets: the one place that answers "what is the target for this contact?".

Issue #3 brings the full policy file (per tenant, priority, business hours); until then the
defaults of contract v1 apply to every tenant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_FIRST_RESPONSE_TARGETS_S: Mapping[str, int] = {
    "chat": 30,
    "phone": 20,
    "app": 60,
    "social": 3600,
    "email": 14400,
}


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """First-response (answer) targets in seconds, per channel."""

    targets_s: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_FIRST_RESPONSE_TARGETS_S)
    )
    short_abandon_s: int = 5

    def target_s(self, tenant_id: str, channel: str, priority: str) -> int:
        # tenant and priority are part of the signature so callers need not change when
        # per-tenant and per-priority overrides arrive.
        return self.targets_s[channel]
