"""The report in a real headless browser (Debian's chromium driven by Playwright), offline:
every chart draws its traces from the data block, nothing is fetched from the network and the
console stays free of errors. Skipped only when no chromium is installed (`.ci/run` installs
it with apt)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sqm.streams.report.render import SECTIONS
from tests.integration.report.conftest import Built

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and Path(p).exists()), None)
pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium installed (apt-get install chromium; .ci/run does)")]

# Per chart: whether it has a main svg, how many trace groups it drew, and its traces.
PLOTS_JS = """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
    id: d.id,
    svg: d.querySelectorAll('svg.main-svg').length,
    drawn: d.querySelectorAll('g.trace, g.hm image').length,
    traces: (d.data || []).map(t => ({name: t.name ?? null, type: t.type, x: t.x ?? null,
        y: t.y ?? null, z: t.z ?? null, customdata: t.customdata ?? null})),
}))"""


@pytest.fixture(scope="module")
def shown(built: Built, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert CHROMIUM is not None
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    report = built.reports["all"]
    errors: list[str] = []
    fetched: list[str] = []
    shot = tmp_path_factory.mktemp("browser") / "report.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # Offline: anything but the file itself is refused, and recorded.
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith("file://")
                       else (fetched.append(route.request.url), route.abort())[1])
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.path.as_uri(), wait_until="load")
            charts = sum(len(figs) for *_, figs, _ in SECTIONS)
            page.wait_for_function(
                f"document.querySelectorAll('.plotly-graph-div svg.main-svg').length >= {charts}",
                timeout=60_000)
            plots = page.evaluate(PLOTS_JS)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return {"plots": {p["id"]: p for p in plots}, "errors": errors, "fetched": fetched,
            "shot": shot, "data": report.data}


def test_every_chart_renders_offline_without_errors(shown: dict[str, Any]) -> None:
    assert shown["errors"] == [] and shown["fetched"] == []
    names = [f"plot-{name}" for *_, figs, _ in SECTIONS for name, _ in figs]
    assert sorted(shown["plots"]) == sorted(names)
    for pid, plot in shown["plots"].items():
        assert plot["svg"] >= 1 and plot["drawn"] >= 1 and plot["traces"], pid
    png = Path(shown["shot"]).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 100_000


def _trace(shown: dict[str, Any], plot: str, name: str) -> dict[str, Any]:
    [t] = [t for t in shown["plots"][f"plot-{plot}"]["traces"] if t["name"] == name]
    return t


def test_charts_plot_the_data_blocks_numbers(shown: dict[str, Any]) -> None:
    d = shown["data"]
    for ch in {r["channel"] for r in d["daily"]}:
        rows = [r for r in d["daily"] if r["channel"] == ch]
        assert _trace(shown, "abandonment-daily", ch)["y"] == [r["abandon_rate"] for r in rows]
        assert _trace(shown, "repeat-daily", ch)["y"] == [r["repeat_rate"] for r in rows]
        waits = {r["hour"]: r["wait_s_p90"] for r in d["waits_hourly"] if r["channel"] == ch}
        plotted = _trace(shown, "waits-hourly", f"{ch} p90")
        got = {x.replace(" ", "T") + "Z": v for x, v in
               zip(plotted["x"], plotted["customdata"], strict=True) if v is not None}
        assert got == waits
    [heat] = shown["plots"]["plot-service-level-hourly"]["traces"]
    total = {r["hour"]: r["service_level"] for r in d["sla_hourly_total"]}
    assert {x.replace(" ", "T") + "Z": v for x, v in zip(heat["x"], heat["z"][0], strict=True)
            if v is not None} == {h: v for h, v in total.items() if v is not None}
    assert _trace(shown, "bot-daily", "escalated to a human")["y"] == [
        r["escalated"] for r in d["bot"]["daily"]]
    for goal in d["meta"]["goals"]:
        plotted = _trace(shown, "scores-queue", goal)
        assert sorted(zip(plotted["y"], plotted["x"], strict=True)) == sorted(
            (f"{e['tenant_id']} · {e['entity']}", e["scores"][goal]["score"])
            for e in d["scorecard"]["queue"])
    timeline = shown["plots"]["plot-alerts-timeline"]["traces"]
    assert sum(1 for t in timeline for x in t["x"] if x is not None) == 2 * len(d["alerts"])
