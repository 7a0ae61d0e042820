"""The bench table, its renderings, the plot curves and the progress table, on results made by hand."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from evolve.bench import plots, progress, render
from evolve.bench.execute import Job
from evolve.bench.manifest import Bench
from evolve.bench.references import Reference
from evolve.bench.results import RunResult
from evolve.bench.suite import Planned
from evolve.bench.table import build


def _bench(problems=("txn_scheduling_adrs",), arms=("a", "b"), seeds=(0, 1)) -> Bench:
    runs = [Planned(f"x.{p}.{a}.s{s}", p, f"/p/{p}.yaml", a, s, {"evolution.budget.iterations": 10})
            for s in seeds for p in problems for a in arms]
    specs = [{"name": a, "settings": {"evolution.selection": "tournament"} if a == "b" else {}, "description": None}
             for a in arms]
    return Bench("x", Path("/tmp/none"), "sqlite:////tmp/none/bench.db", "suite.yaml", runs,
                 [Reference("txn_scheduling_adrs", "mine", "makespan_total", 300, "here"),
                  Reference("txn_scheduling_adrs", "rounded", "makespan_total", 323, "there", approx=True)],
                 "2026-01-01T00:00:00",
                 "a test bench", specs)


def _result(arm: str, seed: int, best: float, status: str = "finished", **kw) -> RunResult:
    return RunResult(f"x.txn_scheduling_adrs.{arm}.s{seed}", "txn_scheduling_adrs", arm, seed, status,
                     best_score=best, best_metrics={"makespan_total": -best, "adrs_score": 50.0},
                     directions={"makespan_total": "min", "adrs_score": "max"}, **kw)


def _results():
    return [_result("a", 0, -320, evaluations_to_best=3, cost_to_best=0.0, duplicates_saved=4),
            _result("a", 1, -330, evaluations_to_best=5, cost_to_best=0.0, duplicates_saved=2),
            _result("b", 0, -310), _result("b", 1, -340, status="stale")]


def test_cells_count_finished_seeds_only():
    table = build(_bench(), _results())
    a, b = table.cells
    assert (a.best.n, a.best.mean, a.unfinished) == (2, -325, 0)
    assert a.evaluations_to_best.mean == 4 and a.duplicates_saved.mean == 3
    assert (b.best.n, b.best.mean, b.unfinished) == (1, -310, 1)  # the killed run is not averaged in
    (c,) = table.comparisons
    assert (c.a, c.b, c.a_values, c.b_values) == ("b", "a", [-310], [-320, -330])
    assert c.difference.diff == pytest.approx(15) and c.test.method == "exact"


def test_references_published_and_the_suites_own():
    a = build(_bench(), _results()).cells[0]
    got = {(v.reference.label, v.reference.metric): v for v in a.vs}
    given = got[("given order", "makespan_total")]  # published: 537
    assert given.ours.mean == 325 and given.diff == -212 and given.better is True  # lower makespan is better
    assert given.relative == pytest.approx(-212 / 537)
    assert got[("mine", "makespan_total")].diff == 25 and got[("mine", "makespan_total")].better is False
    rounded = got[("rounded", "makespan_total")]  # "~323": 325 is 0.6% away, inside its rounding
    assert rounded.within and rounded.better is None and rounded.diff == 2
    score = got[("given order (leaderboard 0-100)", "adrs_score")]
    assert score.diff == 50 and score.relative is None and score.better is True  # a 0 reference: no ratio


def test_markdown_html_json():
    bench, results = _bench(), _results()
    table = build(bench, results)
    md = render.markdown(bench, table, {}, "matplotlib is not installed")
    assert "| txn_scheduling_adrs | a | 2 | -325 ± 7.1 | -330 – -320 | 4 | $0 | 3 | - |" in md
    assert "| txn_scheduling_adrs | b | 1 (+1 unfinished) |" in md
    assert ("| txn_scheduling_adrs | a | given order | makespan_total | 537 | 325 ± 7.1 | -212 (-39.48%), better |"
            in md)
    assert "| txn_scheduling_adrs | b vs a | +15 |" in md and "Not drawn: matplotlib is not installed." in md
    assert "| b | evolution.selection=tournament |  |" in md and "| a | (the problems as they are) |" in md
    assert "budget and settings: evolution.budget.iterations=10." in md and "a test bench" in md
    page = render.to_html(bench, table, {}, None)
    assert page.startswith("<!doctype html>") and "<td>b vs a</td>" in page
    data = json.loads(json.dumps(render.to_json(bench, table, results, {}, None)))
    # one value against two: 3 ways to split, the observed (highest) and the lowest equally far: p = 2/3
    assert data["table"][0]["best_score"]["mean"] == -325 and data["comparisons"][0]["p"] == pytest.approx(2 / 3)
    assert "curve" not in data["runs"][0]


def test_band_and_cost_curves():
    xs, mid, low, high = plots.band([[1, 2, 5], [0, 3]])
    assert xs == [1, 2, 3] and mid == [0.5, 2.5, 4] and low == [0, 2, 3] and high == [1, 3, 5]  # [0, 3] ends at 3
    assert plots._closed([1, 2, 3], [5, 6, 7]) == ([1, 2, 3, 3.04], [5, 6, 7, 7])  # the last step drawn too
    r = RunResult("r", "p", "a", 0, "finished", curve=[1, 2, 4], spend=[0.0, 0.5, 1.0])
    assert plots.at_cost(r, [0, 0.25, 0.5, 2]) == [1, 1, 2, 4]


def test_plots_written(tmp_path):
    if plots.available():
        pytest.skip(plots.available())
    spent = RunResult("r", "p", "a", 0, "finished", curve=[1, 2], spend=[0.0, 0.1], cost_usd=0.1)
    made = plots.draw("p", {"a": [spent], "b": [RunResult("s", "p", "b", 0, "finished", curve=[1, 1], spend=[0, 0])]},
                      tmp_path)
    assert set(made) == {"evaluations", "usd"} and all(p.stat().st_size > 1000 for p in made.values())


def test_progress_table_fits_80_columns():
    bench = _bench(problems=("txn_scheduling_adrs", "a_problem_with_a_very_long_name_indeed"),
                   arms=("power_law", "tournament_selection_arm"), seeds=(0, 11))
    jobs = [Job(p, state=s, programs=21, best=-0.0123456789, started=0.0, ended=75.0)
            for p, s in zip(bench.runs, ["finished", "running", "pending", "interrupted"] * 2)]
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True)
    console.print(progress.headline("x", jobs, 3725))
    console.print(progress.table(jobs, 100.0, limit=5, width=80))
    lines = [Text.from_ansi(line) for line in out.getvalue().splitlines()]
    assert max(line.cell_len for line in lines) <= 80
    text = "\n".join(line.plain for line in lines)
    assert "1h02m" in text and "2/8 finished" in text and "... 4 more" in text and "running" in text
    assert "20/10" in text and "-0.012346" in text
