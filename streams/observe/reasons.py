"""Dead-letter reasons as a few fixed categories: the reason text names values (ids, times,
offsets), so as a metric label it would make a new time series per bad event."""

from __future__ import annotations

# Every category `reason_category` can return; docs/deploy.md lists them.
CATEGORIES = ("encoding", "json", "duplicate_key", "schema_version", "event_type",
              "missing_field", "invalid_field", "future", "too_old", "late")


def reason_category(reason: str, stage: str = "ingest") -> str:
    """The category of one dead-letter reason (streams/core/validate.py's wording, the ingest
    batch's time limits, the customer stage's `late`)."""
    if stage == "late" or reason.startswith("late:"):
        return "late"
    if reason.startswith("not UTF-8"):
        return "encoding"
    if reason.startswith(("invalid JSON", "event is not a JSON object")):
        return "json"
    if reason.startswith("the key "):
        return "duplicate_key"
    if reason.startswith("unsupported schema_version"):
        return "schema_version"
    if reason.startswith(("missing field 'type'", "unknown event type", "type must be")):
        return "event_type"
    if reason.startswith("occurred_at") and " in the future " in reason:
        return "future"
    if reason.startswith("occurred_at") and " days in the past " in reason:
        return "too_old"
    # Type-specific fields are prefixed with the event type: "message.sent: missing field ...".
    if reason.startswith("missing field") or ": missing field " in reason:
        return "missing_field"
    return "invalid_field"
