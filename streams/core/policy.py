"""Contract v1's SLA targets: the built-in defaults of the policy file (policy_file.py)."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_FIRST_RESPONSE_TARGETS_S: Mapping[str, int] = {
    "chat": 30,
    "phone": 20,
    "app": 60,
    "social": 3600,
    "email": 14400,
}
