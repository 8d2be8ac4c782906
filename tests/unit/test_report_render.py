"""`sqm report`'s period rounding and rendering, without a store: a quiet period renders with
"nothing to plot" instead of failing, numbers read well, the data block cannot be broken out
of."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
import pytest

from sqm.streams.config import ConfigError
from sqm.streams.report.cells import dur, pct
from sqm.streams.report.command import report_scope
from sqm.streams.report.render import SECTIONS, render

COUNTERS = dict.fromkeys(["offered", "answered", "answered_in_sla", "sl_met", "sl_missed",
                          "abandoned", "short_abandoned", "wait_s_sum", "created",
                          "repeat_contacts", "csat_count", "csat_sum", "csat_good"], 0)
RATES = dict.fromkeys(["service_level", "abandon_rate", "wait_s_avg", "repeat_rate",
                       "csat_mean", "csat_share", "wait_s_p50", "wait_s_p90"])


class Latest:
    """A client whose newest contact event is `t` (all `--end latest` asks)."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def query(self, _sql: str) -> Any:
        return type("R", (), {"result_rows": [(self.t,)]})()


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("end", "period", "start_want", "end_want"), [
    ("2026-03-07T12:30:00+08:00", "3d", "2026-03-04T05:00:00+00:00", "2026-03-07T05:00:00+00:00"),
    ("2026-03-09T00:00:00Z", "7d", "2026-03-02T00:00:00+00:00", "2026-03-09T00:00:00+00:00"),
    ("latest", "24h", "2026-03-08T01:00:00+00:00", "2026-03-09T01:00:00+00:00"),
])
def test_the_period_is_whole_hours_ending_after_its_end(end: str, period: str, start_want: str,
                                                        end_want: str) -> None:
    scope = report_scope(Latest(t("2026-03-09T00:57:39.737+00:00")), period, end, None)
    assert (scope.start, scope.end) == (t(start_want), t(end_want))


def test_an_event_on_the_hour_stays_inside_latest() -> None:
    scope = report_scope(Latest(t("2026-03-09T01:00:00+00:00")), "7d", "latest", "shop-1")
    assert scope.end == t("2026-03-09T02:00:00+00:00") and scope.tenant == "shop-1"


def test_a_period_of_minutes_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a whole number of hours"):
        report_scope(Latest(t("2026-03-09T01:00:00+00:00")), "90m", "latest", None)


def test_durations_and_shares_read_well() -> None:
    assert [dur(s) for s in (4.25, 34.2, 95, 5400, 7 * 3600)] == [
        "4.2 s", "34 s", "1.6 min", "1.5 h", "7.0 h"]
    assert pct(0.59849) == "59.8 %"


def quiet() -> dict[str, Any]:
    """One contact created, nothing answered, surveyed or alerted."""
    return {
        "meta": {"period": {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"},
                 "tenant": "shop-1", "timezone": "UTC", "generated_at": "2026-03-03T08:00:00Z",
                 "policy_versions": [{"policy_version": "v7", "contacts": 1}],
                 "goals": ["satisfaction"], "repeat_window_ms": 604_800_000},
        "summary": {**COUNTERS, **RATES, "created": 1},
        "by_channel": [], "sla_hourly": [], "sla_hourly_total": [], "waits_hourly": [],
        "daily": [], "fcr": [], "csat_distribution": [],
        "nps": {"total": {"nps_responses": 0, "promoters": 0, "detractors": 0,
                          "nps_score": None}, "by_channel": []},
        "ratings": {"total": [], "by_channel": []},
        "bot": {"total": {"contacts": 1, "bot_resolved": 0, "bot_contained": 0,
                          "containment": None, "contained_share": 0.0, "escalated": 0,
                          "escalation_rate": 0.0}, "by_channel": [], "daily": []},
        "scorecard": {"agent": [], "queue": []},
        "alerts": [],
    }


def test_a_quiet_period_renders_every_section_with_nothing_to_plot() -> None:
    html = render(quiet())
    charts = [name for *_, figs, _ in SECTIONS for name, _ in figs]
    assert re.findall(r'class="empty" data-plot="([^"]+)"', html) == charts
    assert "No breach or anomaly alert" in html and "No contact created" in html
    assert 'id="policy-version">v7 (1 contacts)</b>' in html
    assert '<div class="value" data-key="summary.service_level" data-v="null">–</div>' in html


def test_the_data_block_cannot_be_closed_from_inside() -> None:
    data = quiet()
    data["alerts"] = [{"alert_id": "a1", "rule_id": "r", "kind": "breach",
                       "severity": "critical", "state": "firing", "metric": "csat",
                       "tenant_id": "shop-1", "channel": "chat", "queue": "", "priority": "",
                       "agent_id": "", "contact_id": None, "value": 2.0, "threshold": 3.0,
                       "started_at": "2026-03-02T10:00:00Z", "ended_at": None,
                       "message": "</script><script>alert(1)</script>"}]
    html = render(data)
    blob = re.search(r'id="sqm-report-data">(.*?)</script>', html, re.S)
    assert blob is not None and orjson.loads(blob.group(1)) == data
    assert "<script>alert(1)" not in html  # escaped in the table and in the data block
