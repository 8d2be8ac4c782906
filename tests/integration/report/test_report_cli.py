"""`sqm report` as a person meets it: the page shows the data block's numbers, opens offline,
says its period and policy version; an empty period or a bad option is one line."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from sqm.streams.cli import cli
from sqm.streams.report.render import SECTIONS
from tests.integration.report.conftest import Built, sqm

pytestmark = pytest.mark.integration


class Cells(HTMLParser):
    """Each table's rows as lists of `data-v` values (None for a text cell), and the KPIs."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[Any]]] = {}
        self.kpis: dict[str, Any] = {}
        self._table: str | None = None
        self._section = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a["id"]
            self.tables[a["id"] or ""] = []
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr" and self._table and self._section != "thead":
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table and self._section != "thead":
            v = a.get("data-v")
            self.tables[self._table][-1].append(None if v is None else orjson.loads(v))
        elif tag == "div" and a.get("data-key"):
            self.kpis[a["data-key"] or ""] = orjson.loads(a["data-v"] or "null")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None


def cells(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("name", ["all", "tenant"])
def test_tables_and_cards_show_the_data_blocks_numbers(built: Built, name: str) -> None:
    d = built.reports[name].data
    page = cells(built.reports[name].html)
    fields = ["offered", "answered", "service_level", "wait_s_avg", "wait_s_p50", "wait_s_p90",
              "abandoned", "short_abandoned", "abandon_rate"]
    want = [[None, *(r[f] for f in fields)] for r in [*d["by_channel"], d["summary"]]]
    assert page.tables["t-service"] == want
    bot = ["contacts", "bot_resolved", "bot_contained", "containment", "contained_share",
           "escalated", "escalation_rate"]
    assert page.tables["t-bot"] == [[None, *(r[f] for f in bot)]
                                    for r in [*d["bot"]["by_channel"], d["bot"]["total"]]]
    assert page.tables["t-fcr"] == [
        [None, None, r["contacts"], r["repeat_rate"], r["fcr_rate"], r["fcr_provisional"]]
        for r in d["fcr"]]
    csat = [row[1:4] for row in page.tables["t-surveys"]]
    assert csat == [[r["csat_count"], r["csat_mean"], r["csat_share"]]
                    for r in [*d["by_channel"], d["summary"]]]
    opened = sum(a["kind"] != "at_risk" for a in d["alerts"])
    for key, v in page.kpis.items():
        got: Any = d
        for p in key.split("."):
            got = opened if key == "alerts.breach_anomaly" else got[p]
        assert v == got, key
    assert len(page.kpis) == 10


@pytest.mark.parametrize("by", ["queue", "agent"])
def test_scorecard_cells_are_the_indicators(built: Built, by: str) -> None:
    d = built.reports["all"].data
    rows = page_rows = cells(built.reports["all"].html).tables[f"t-score-{by}"]
    assert len(rows) == len(d["scorecard"][by])
    entities = {(e["tenant_id"], e["entity"]): e for e in d["scorecard"][by]}
    names = [n for n in next(iter(entities.values()))["indicators"]
             if any(n in d["scorecard"][by][0]["scores"][g]["weights"] for g in d["meta"]["goals"])]
    html = built.reports["all"].html
    for row, (key, e) in zip(page_rows, sorted(entities.items(), key=lambda kv: _natural(kv[0])),
                             strict=True):
        assert row[2:4] == [e["scores"][g]["score"] for g in d["meta"]["goals"]]
        assert row[4:] == [e["indicators"][n]["value"] for n in names]
        assert f">{key[1]}</td>" in html


def _natural(key: tuple[str, str]) -> tuple[Any, ...]:
    return (key[0], *(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key[1])))


def test_the_page_opens_offline_and_says_what_it_covers(built: Built) -> None:
    r = built.reports["tenant"]
    html = r.html
    assert not re.search(r"<script[^>]*\bsrc=", html) and "<link" not in html
    assert html.count("plotly.js v") == 1  # the library inlined once
    assert "Service quality report — shop-2" in html
    assert ('Period <b id="period-start">2026-03-04 05:00</b> to '
            '<b id="period-end">2026-03-07 05:00</b> UTC') in html
    assert re.search(r'id="policy-version">default \([\d,]+ contacts\)</b>', html)
    # Every chart the sections list is drawn: a week of traffic has something for each.
    charts = [name for *_, figs, _ in SECTIONS for name, _ in figs]
    assert re.findall(r'class="plot" data-plot="([^"]+)"', html) == charts
    assert "Nothing to plot" not in html


def test_empty_period_unknown_tenant_and_bad_options_are_one_line(built: Built,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    store = str(built.store)
    cases = [
        (["--end", "2020-01-01T00:00:00Z"], "no data for the store from 2019-12-25 00:00 to "
         "2020-01-01 00:00 UTC: its SLA windows run from 2026-03-02"),
        (["--tenant", "nobody"], "no data for tenant nobody from "),
        (["--period", "90m"], "--period: '90m' is not a whole number of hours"),
        (["--end", "2026-03-07T12:00:00"], "needs a UTC offset"),
    ]
    for args, fragment in cases:
        run = sqm("report", "--store", store, "--out", str(out), *args)
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert run.returncode == 1 and len(lines) == 1, (args, run.stderr)
        assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert not out.exists()
    empty = tmp_path / "empty"
    assert sqm("migrate", "--store", str(empty)).returncode == 0
    run = sqm("report", "--store", str(empty), "--out", str(out))
    assert (run.returncode, run.stderr.strip()) == (
        1, "error: --end latest: the store holds no contacts")


def test_help_shows_the_defaults() -> None:
    result = CliRunner().invoke(cli, ["report", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = re.sub(r"\s+", " ", result.output)
    for fragment in ("--period", "[default: 7d]", "[default: latest]", "[default: report.html]",
                     "--tenant", "--store"):
        assert fragment in text, fragment
