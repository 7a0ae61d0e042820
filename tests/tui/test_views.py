"""Snapshot facts, filters, charts and the plain live progress, on the fixture database."""
from __future__ import annotations

import io

from rich.console import Console

from evolve.runs import open_run
from evolve.tui import charts, progress, snapshot, summary
from evolve.tui import table as tbl
from tests.tui.fixture_db import make_run


def snap_of(tmp_path):
    make_run(tmp_path / "runs", "demo")
    factory, run = open_run(tmp_path / "runs", "demo")
    return factory, run, snapshot.load(factory, run.id)


def test_snapshot_facts(tmp_path):
    _, _, snap = snap_of(tmp_path)
    assert snap.best.id == 6 and snap.initial.score == -7.0
    assert snap.best_curve() == [-7.0, -5.0, -5.0, -2.0, -2.0, -1.0]
    assert [r.id for r in snap.improvements()] == [1, 2, 4, 6]
    assert snap.pareto_ranks() == {1: 0, 2: 1, 4: 0, 6: 0}
    assert snap.failure_reasons() == {"timeout": 1}
    assert snap.by_id[4].model == "fake/model-a" and snap.spent() == 0.0123
    facts = summary.facts(snap)
    assert facts["counts"]["pending"] == 1 and facts["improvements"][-1]["id"] == 6


def test_filter_words():
    row = snapshot.Row(id=12, iteration=3, status="failed", mutation="offline:crossover", score=None, metrics={},
                       island=2, model="openai/gpt-4.1-mini")
    assert tbl.matches(row, "status:fail island:2 model:gpt mut:cross")
    assert tbl.matches(row, "12") and tbl.matches(row, "#12") and not tbl.matches(row, "13")
    assert not tbl.matches(row, "island:1") and not tbl.matches(row, "status:evaluated")


def test_step_chart_reaches_the_top_at_the_best():
    lines = charts.step_chart([None, 1.0, 1.0, 3.0], width=40, height=4)
    plot = lines[1:5]
    assert plot[0].startswith("         3") and plot[0].rstrip().endswith("█")
    assert plot[-1].startswith("         1") and plot[-1][11] == " "  # nothing scored at the first evaluation
    assert charts.step_chart([None, None]) == ["best score over evaluations", "(nothing scored yet)"]


def test_plain_progress_lines_and_pending_note(tmp_path):
    factory, run, snap = snap_of(tmp_path)
    out = io.StringIO()
    console = Console(file=out, width=200)
    reporter = progress.make_progress(console, 10, 0, factory=factory, run=run)
    assert type(reporter) is progress.PlainProgress  # not a terminal
    with reporter:
        for pid in (1, 2, 3):
            from evolve.db.models import Program

            with factory() as session:
                reporter.recorded(session.get(Program, pid), -5.0 if pid > 1 else -7.0)
        reporter.note("migration: island 0 -> 1")
    text = out.getvalue()
    assert "[0/10] #1 evaluated" in text and "[1/10] #2 evaluated" in text and "(new best)" in text
    assert "timeout" in text and "migration: island 0 -> 1" in text
    assert "1 program(s) were being evaluated" in text and "evolve resume demo" in text


def test_rich_progress_shows_the_database_view(tmp_path):
    factory, run, _ = snap_of(tmp_path)
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True)
    reporter = progress.make_progress(console, 10, 5, factory=factory, run=run)
    assert isinstance(reporter, progress.RichProgress)
    with reporter:
        from evolve.db.models import Program

        with factory() as session:
            reporter.recorded(session.get(Program, 6), -1.0)
    text = out.getvalue()
    assert "new best" in text and "starting program" in text and "fake/model-a" in text
    assert "failed 1 (timeout 1)" in text
