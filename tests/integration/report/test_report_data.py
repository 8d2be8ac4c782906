"""Every number in the report's data block equals what the test recomputes on its own from the
store's raw rows (`sqm.sla_1m FINAL` per shard, `sqm.contacts FINAL`, `sqm.alerts FINAL`):
counters summed in Python, rates divided in Python, percentiles interpolated in Python."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.report.conftest import Built, Report

pytestmark = pytest.mark.integration
REPORTS = ["all", "tenant"]
COUNTERS = ["offered", "answered", "answered_in_sla", "sl_met", "sl_missed", "abandoned",
            "short_abandoned", "wait_s_sum", "created", "repeat_contacts", "csat_count",
            "csat_sum", "csat_good"]
WEEK = timedelta(days=7)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(t: datetime, r: Report) -> str:
    return iso(r.start + timedelta(days=(t - r.start) // timedelta(days=1)))


def hour(t: datetime) -> str:
    return iso(t.replace(minute=0, second=0, microsecond=0))


def div(a: float, b: float) -> float | None:
    return a / b if b else None


def close(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is want
    return got == pytest.approx(float(want), rel=1e-9, abs=1e-12)


def assert_rows(got: list[dict[str, Any]], want: dict[Any, dict[str, Any]],
                key: Callable[[dict[str, Any]], Any]) -> None:
    """The same groups, and in each every expected field equal."""
    assert {key(g) for g in got} == set(want)
    for g in got:
        for field, value in want[key(g)].items():
            assert close(g[field], value), (key(g), field, g[field], value)


def mine(rows: Iterable[dict[str, Any]], r: Report, column: str) -> list[dict[str, Any]]:
    return [c for c in rows if c[column] is not None and r.start <= c[column] < r.end
            and (r.tenant is None or c["tenant_id"] == r.tenant)]


# ---- sqm.sla_1m: counters summed over shards and windows, rates from the sums ----

def sla(built: Built, r: Report, key: Callable[[dict[str, Any]], Any]) -> dict[Any, Any]:
    sums: dict[Any, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for w in mine(built.raw.sla, r, "window_start"):
        for c in COUNTERS:
            sums[key(w)][c] += float(w[c]) if isinstance(w[c], Decimal) else w[c]
    out = {}
    for k, s in sums.items():
        not_short = s["abandoned"] - s["short_abandoned"]
        out[k] = {**s, "service_level": div(s["sl_met"], s["sl_met"] + s["sl_missed"]),
                  "abandon_rate": div(not_short, s["answered"] + not_short),
                  "wait_s_avg": div(s["wait_s_sum"], s["answered"]),
                  "repeat_rate": div(s["repeat_contacts"], s["created"]),
                  "csat_mean": div(s["csat_sum"], s["csat_count"]),
                  "csat_share": div(s["csat_good"], s["csat_count"])}
    return out


@pytest.mark.parametrize("name", REPORTS)
def test_service_level_abandonment_repeats_and_csat_counters(built: Built, name: str) -> None:
    r = built.reports[name]
    d = r.data
    [total] = sla(built, r, lambda w: "all").values()
    assert all(close(d["summary"][k], v) for k, v in total.items()), (d["summary"], total)
    assert d["summary"]["offered"] > 100  # the period is not empty
    assert_rows(d["by_channel"], sla(built, r, lambda w: w["channel"]), lambda g: g["channel"])
    assert_rows(d["sla_hourly"], sla(built, r, lambda w: (hour(w["window_start"]), w["channel"])),
                lambda g: (g["hour"], g["channel"]))
    assert_rows(d["sla_hourly_total"], sla(built, r, lambda w: hour(w["window_start"])),
                lambda g: g["hour"])
    assert_rows(d["daily"], sla(built, r, lambda w: (day(w["window_start"], r), w["channel"])),
                lambda g: (g["day"], g["channel"]))


# ---- sqm.contacts: answer-time percentiles (PERCENTILE.INC), surveys, the bot, FCR ----

def percentile(values: list[float], p: float) -> float:
    v = sorted(values)
    h = (len(v) - 1) * p
    lo = math.floor(h)
    return v[lo] + (h - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def waits(built: Built, r: Report, key: Callable[[dict[str, Any]], Any]) -> dict[Any, Any]:
    groups: dict[Any, list[float]] = defaultdict(list)
    for c in mine(built.raw.contacts, r, "answered_at"):
        if c["wait_s"] is not None:
            groups[key(c)].append(float(c["wait_s"]))
    return {k: {"answered": len(v), "wait_s_p50": percentile(v, 0.5),
                "wait_s_p90": percentile(v, 0.9)} for k, v in groups.items()}


@pytest.mark.parametrize("name", REPORTS)
def test_answer_time_percentiles(built: Built, name: str) -> None:
    r = built.reports[name]
    d = r.data
    assert_rows(d["waits_hourly"], waits(built, r, lambda c: (hour(c["answered_at"]),
                                                              c["channel"])),
                lambda g: (g["hour"], g["channel"]))
    per_channel = waits(built, r, lambda c: c["channel"])
    for g in d["by_channel"]:
        assert close(g["wait_s_p50"], per_channel[g["channel"]]["wait_s_p50"])
        assert close(g["wait_s_p90"], per_channel[g["channel"]]["wait_s_p90"])
    [total] = waits(built, r, lambda c: "all").values()
    assert close(d["summary"]["wait_s_p50"], total["wait_s_p50"])
    assert close(d["summary"]["wait_s_p90"], total["wait_s_p90"])


@pytest.mark.parametrize("name", REPORTS)
def test_csat_distribution_ratings_and_nps(built: Built, name: str) -> None:
    r = built.reports[name]
    d = r.data
    surveyed = mine(built.raw.contacts, r, "surveyed_at")
    dist: dict[Any, dict[str, int]] = defaultdict(lambda: {"responses": 0})
    for c in surveyed:
        if c["csat"] is not None:
            dist[(c["channel"], c["csat"])]["responses"] += 1
    assert_rows(d["csat_distribution"], dist, lambda g: (g["channel"], g["csat"]))
    # The distribution and the windows' CSAT counters count the same responses.
    assert sum(g["responses"] for g in d["csat_distribution"]) == d["summary"]["csat_count"]

    def rated(key: Callable[[dict[str, Any], str], Any]) -> dict[Any, Any]:
        scores: dict[Any, list[int]] = defaultdict(list)
        for c in surveyed:
            for dim, v in c["ratings"].items():
                scores[key(c, dim)].append(v)
        return {k: {"rated": len(v), "mean": sum(v) / len(v)} for k, v in scores.items()}

    assert_rows(d["ratings"]["by_channel"], rated(lambda c, dim: (c["channel"], dim)),
                lambda g: (g["channel"], g["dimension"]))
    assert_rows(d["ratings"]["total"], rated(lambda c, dim: dim), lambda g: g["dimension"])
    assert {g["dimension"] for g in d["ratings"]["total"]} == {"professionalism", "patience"}

    def nps(rows: list[dict[str, Any]]) -> dict[str, Any]:
        given = [c["nps"] for c in rows if c["nps"] is not None]
        pro, det = sum(v >= 9 for v in given), sum(v <= 6 for v in given)
        return {"nps_responses": len(given), "promoters": pro, "detractors": det,
                "nps_score": div(100 * (pro - det), len(given))}

    assert all(close(d["nps"]["total"][k], v) for k, v in nps(surveyed).items())
    channels = {c["channel"] for c in surveyed}
    assert_rows(d["nps"]["by_channel"],
                {ch: nps([c for c in surveyed if c["channel"] == ch]) for ch in channels},
                lambda g: g["channel"])


@pytest.mark.parametrize("name", REPORTS)
def test_bot_containment_and_escalations(built: Built, name: str) -> None:
    r = built.reports[name]
    created = mine(built.raw.contacts, r, "created_at")

    def bot(rows: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(rows)
        resolved = sum(c["resolved_by"] == "bot" for c in rows)
        kept = sum(c["bot_contained"] for c in rows)
        up = sum(c["transferred_to_human"] for c in rows)
        return {"contacts": n, "bot_resolved": resolved, "bot_contained": kept,
                "containment": div(kept, resolved), "contained_share": div(kept, n),
                "escalated": up, "escalation_rate": div(up, n)}

    def by(key: Callable[[dict[str, Any]], Any]) -> dict[Any, Any]:
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for c in created:
            groups[key(c)].append(c)
        return {k: bot(v) for k, v in groups.items()}

    b = r.data["bot"]
    assert all(close(b["total"][k], v) for k, v in bot(created).items())
    assert b["total"]["bot_contained"] > 0 and b["total"]["escalated"] > 0
    assert_rows(b["by_channel"], by(lambda c: c["channel"]), lambda g: g["channel"])
    assert_rows(b["daily"], by(lambda c: day(c["created_at"], r)), lambda g: g["day"])


@pytest.mark.parametrize("name", REPORTS)
def test_first_contact_resolution_per_channel(built: Built, name: str) -> None:
    """FCR: resolved, never reopened, and the customer's next contact (by creation, then id)
    not within the repeat window after, looking past the period (docs/scorecard.md)."""
    r = built.reports[name]
    window = timedelta(milliseconds=r.data["meta"]["repeat_window_ms"])
    by_customer: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for c in built.raw.contacts:
        if c["created_at"] is not None:
            by_customer[(c["tenant_id"], c["customer_id"])].append(c)
    next_of: dict[Any, datetime | None] = {}
    for contacts in by_customer.values():
        contacts.sort(key=lambda c: (c["created_at"], c["contact_id"]))
        for a, b in zip(contacts, [*contacts[1:], None], strict=True):
            next_of[(a["tenant_id"], a["contact_id"])] = b["created_at"] if b else None
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for c in mine(built.raw.contacts, r, "created_at"):
        groups[(c["tenant_id"], c["channel"])].append(c)
    want = {}
    for k, cs in groups.items():
        fcr = [c for c in cs if c["resolved_at"] is not None and c["reopen_count"] == 0
               and not ((n := next_of[(c["tenant_id"], c["contact_id"])]) is not None
                        and n <= c["created_at"] + window)]
        want[k] = {"contacts": len(cs), "fcr_rate": len(fcr) / len(cs),
                   "repeat_rate": sum(c["is_repeat"] for c in cs) / len(cs),
                   "fcr_provisional": sum(c["created_at"] + window > built.raw.horizon
                                          for c in cs)}
    assert_rows(r.data["fcr"], want, lambda g: (g["tenant_id"], g["channel"]))


@pytest.mark.parametrize("name", REPORTS)
def test_alerts_open_in_the_period(built: Built, name: str) -> None:
    r = built.reports[name]
    want = sorted((a for a in built.raw.alerts
                   if a["started_at"] < r.end and (a["ended_at"] is None or a["ended_at"] > r.start)
                   and (r.tenant is None or a["tenant_id"] in (r.tenant, ""))),
                  key=lambda a: (a["started_at"], a["alert_id"]))
    got = r.data["alerts"]
    assert [a["alert_id"] for a in got] == [a["alert_id"] for a in want]
    assert any(a["kind"] == "at_risk" for a in got)
    for g, w in zip(got, want, strict=True):
        assert datetime.fromisoformat(g["started_at"]) == w["started_at"]
        assert (g["ended_at"] is None) == (w["ended_at"] is None)
        assert (g["rule_id"], g["kind"], g["severity"], g["state"], g["value"],
                g["threshold"], g["message"]) == (w["rule_id"], w["kind"], w["severity"],
                                                  w["state"], w["value"], w["threshold"],
                                                  w["message"])


def test_period_policy_version_and_tenant(built: Built) -> None:
    everything = built.reports["all"].data["meta"]
    # --end latest: the hour after the newest event, seven days back.
    end = (built.raw.horizon + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    assert everything["period"] == {"start": iso(end - WEEK), "end": iso(end)}
    assert everything["tenant"] is None
    one = built.reports["tenant"].data["meta"]
    assert one["period"] == {"start": "2026-03-04T05:00:00Z", "end": "2026-03-07T05:00:00Z"}
    assert one["tenant"] == "shop-2"
    for r in built.reports.values():
        created = mine(built.raw.contacts, r, "created_at")
        versions: dict[str, int] = defaultdict(int)
        for c in created:
            versions[c["policy_version"]] += 1
        assert {v["policy_version"]: v["contacts"] for v in r.data["meta"]["policy_versions"]} \
            == versions == {"default": len(created)}
        assert "default (" in r.html and f"{len(created):,} contacts" in r.html
