"""Repeat-contact detection within one (tenant, customer).

A contact is a repeat when the same tenant and customer (and, when the policy says so, the same
order_id or topic) has another contact created in `[created_at − window, created_at)`; on equal
`created_at` the smaller `contact_id` is earlier.
Ordering contacts by `(created_at, contact_id)`, only the nearest earlier one needs checking:
any other earlier contact was created no later than it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEFAULT_REPEAT_WINDOW_MS = 7 * 24 * 3600 * 1000


def repeat_flags(
    created: Iterable[tuple[int, str]],
    window_ms: int = DEFAULT_REPEAT_WINDOW_MS,
    issue: Mapping[str, str | None] | None = None,
) -> Mapping[str, bool]:
    """`(created_at, contact_id)` pairs → contact_id → is_repeat.

    With `issue` (contact id → order_id or topic), only a contact of the same issue counts;
    contacts without one form their own group ("no order given" is one issue)."""
    flags: dict[str, bool] = {}
    previous: dict[str | None, int] = {}
    for created_at, contact_id in sorted(created):
        group = issue.get(contact_id) if issue is not None else None
        last = previous.get(group)
        flags[contact_id] = last is not None and last >= created_at - window_ms
        previous[group] = created_at
    return flags
