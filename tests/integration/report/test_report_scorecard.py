"""The report's scorecard per team and agent: its indicators equal the test's own count over
`sqm.contacts FINAL`, and its scores equal `sqm scorecard` on the same period (the report
reuses the scorecard, it does not recompute it differently)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.report.conftest import Built
from tests.integration.report.test_report_data import close, mine

pytestmark = pytest.mark.integration
CASES = [(name, by) for name in ("all", "tenant") for by in ("queue", "agent")]


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def indicators(contacts: list[dict[str, Any]], fcr: dict[str, bool], by: str
               ) -> dict[str, tuple[float | None, int]]:
    """docs/scorecard.md's table, one indicator at a time: (value, contacts behind it)."""
    answered = [c for c in contacts if c["first_response_s"] is not None]
    rated = [c for c in contacts if c["csat"] is not None]
    out = {
        "first_response_s": (mean([float(c["first_response_s"]) for c in answered]),
                             len(answered)),
        "response_in_sla": (mean([bool(c["answered_in_sla"]) for c in answered]),
                            len(answered)),
        "fcr_rate": (mean([fcr[c["contact_id"]] for c in contacts]), len(contacts)),
        "resolution_s": (mean([float(c["resolution_s"]) for c in contacts
                               if c["resolution_s"] is not None]),
                         sum(c["resolution_s"] is not None for c in contacts)),
        "repeat_rate": (mean([c["is_repeat"] for c in contacts]), len(contacts)),
        "csat_share": (mean([c["csat"] >= 4 for c in rated]), len(rated)),
        "csat_mean": (mean([c["csat"] for c in rated]), len(rated)),
    }
    for dim in ("professionalism", "patience"):
        scores = [c["ratings"][dim] for c in contacts if dim in c["ratings"]]
        out[dim] = (mean(scores), len(scores))
    if by == "queue":
        offered = [c for c in contacts if c["answered_at"] is not None
                   or (c["is_abandoned"] and not c["is_short_abandon"])]
        out["answered_rate"] = (mean([c["answered_at"] is not None for c in offered]),
                                len(offered))
    return out


@pytest.mark.parametrize(("name", "by"), CASES)
def test_indicators_equal_an_independent_count(built: Built, name: str, by: str) -> None:
    r = built.reports[name]
    # FCR per contact, as test_first_contact_resolution_per_channel defines it.
    window = timedelta(milliseconds=r.data["meta"]["repeat_window_ms"])
    by_customer: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for c in built.raw.contacts:
        if c["created_at"] is not None:
            by_customer[(c["tenant_id"], c["customer_id"])].append(c)
    fcr: dict[str, bool] = {}
    for cs in by_customer.values():
        cs.sort(key=lambda c: (c["created_at"], c["contact_id"]))
        for a, b in zip(cs, [*cs[1:], None], strict=True):
            fcr[a["contact_id"]] = (a["resolved_at"] is not None and a["reopen_count"] == 0
                                    and not (b and b["created_at"] <= a["created_at"] + window))
    column = "first_agent_id" if by == "agent" else "queue"
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for c in mine(built.raw.contacts, r, "created_at"):
        if c[column] is not None:
            groups[(c["tenant_id"], c[column])].append(c)
    got = {(e["tenant_id"], e["entity"]): e for e in r.data["scorecard"][by]}
    assert set(got) == set(groups)
    for key, contacts in groups.items():
        for ind, (value, n) in indicators(contacts, fcr, by).items():
            shown = got[key]["indicators"][ind]
            assert shown["n"] == n and close(shown["value"], value), (key, ind, shown, value)
        if by == "agent":  # weighted by the efficiency goal, never measured per agent
            ar = got[key]["indicators"]["answered_rate"]
            assert (ar["value"], ar["n"], ar["score"], ar["status"]) == (None, 0, None, "none")


@pytest.mark.parametrize(("name", "by"), CASES)
def test_scores_equal_sqm_scorecard(built: Built, name: str, by: str) -> None:
    r = built.reports[name]
    got = {(e["tenant_id"], e["entity"]): e for e in r.data["scorecard"][by]}
    for goal in r.data["meta"]["goals"]:
        cli = built.scorecards[(name, by, goal)]
        assert {(row["tenant_id"], row[by]) for row in cli} == set(got)
        for row in cli:
            e = got[(row["tenant_id"], row[by])]
            s = e["scores"][goal]
            assert s["score"] == pytest.approx(row["score"], abs=6e-5)
            assert s["coverage"] == pytest.approx(row["coverage"], abs=6e-4)
            assert e["fcr_provisional"] == row["fcr_provisional"]
            for ind in s["weights"]:
                shown = e["indicators"][ind]
                assert shown["n"] == row[f"{ind}_n"] and shown["status"] == row[f"{ind}_status"]
                assert shown["value"] == pytest.approx(row[ind], abs=6e-5)
                assert (shown["score"] is None) == (row[f"{ind}_score"] is None)
                if shown["score"] is not None:
                    assert shown["score"] == pytest.approx(row[f"{ind}_score"], abs=6e-5)
