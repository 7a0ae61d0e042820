"""What a person reads in a terminal: evaluator text is never markup, a failure is said once and
trimmed to the candidate's frames, and tables fit 80 columns without cutting a score or an id."""
from __future__ import annotations

import io
import re
import textwrap

from rich.console import Console

from evaluators.common import (
    CandidateError,
    call_candidate,
    load_candidate,
    trim_traceback,
)
from evolve.commands import inspect
from evolve.problem import Objective
from evolve.tui import detail, snapshot, summary
from evolve.tui import table as tbl

MARKUP = "[bold red]x[/] and outcome[\"value\"] = [fn(p, w) for _ in range(repeat)]"


def render(renderable, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


def wide_snapshot(n: int = 12) -> snapshot.Snapshot:
    """Scores with many digits, long mutation names, two objectives, parents and generations."""
    rows = []
    for i in range(1, n + 1):
        status = "evaluated" if i % 4 else "infeasible"
        score = 0.3712833333 + i / 997 if status == "evaluated" else None
        rows.append(snapshot.Row(
            id=1000 + i, iteration=i, status=status, mutation="offline:add_term+constant+constant+swap_statements",
            score=score, metrics={"hit_rate": score, "runtime_s": 0.0123456789 * i} if score else {"valid": False},
            parent_id=1000 + i // 2 if i > 1 else None, generation=i // 2, island=0,
            model="openai/gpt-4.1-mini-2025-04-14"))
    run = {"id": 1, "name": "cache_eviction-20261202-020644", "problem": "cache_eviction", "status": "finished",
           "config": {}}
    objectives = [Objective(name="hit_rate", direction="max"), Objective(name="runtime_s", direction="min")]
    return snapshot.Snapshot(run, objectives, rows, set())


def test_trim_keeps_the_candidates_frames_only(tmp_path):
    candidate = tmp_path / "candidate.py"
    candidate.write_text(textwrap.dedent("""\
        def value():
            return helper()

        def helper():
            raise KeyError("[bold red]boom[/]")
        """))
    module = load_candidate(candidate)

    def evaluator_plumbing():  # an evaluator frame above the candidate's
        return module.value()

    try:
        call_candidate(evaluator_plumbing)
    except CandidateError as exc:
        text = str(exc)
    assert text.count("Traceback (most recent call last)") == 1
    assert "in evaluator_plumbing" not in text and "common.py" not in text and __file__ not in text
    assert f'File "{candidate}", line 2, in value' in text and "in helper" in text
    assert text.rstrip().endswith("KeyError: '[bold red]boom[/]'")


def test_trim_without_a_candidate_frame_drops_only_the_import_machinery(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    try:
        load_candidate(bad)
    except CandidateError as exc:
        text = str(exc)
    assert "SyntaxError" in text and "<frozen" not in text and "common.py" not in text

    def evaluator_bug():
        raise ValueError("the evaluator's own error")

    try:
        evaluator_bug()
    except ValueError as exc:
        text = trim_traceback(exc)
    assert "in evaluator_bug" in text  # an evaluator's own error keeps the evaluator's frames


def test_fit_drops_low_value_columns_first_and_never_cuts_a_score():
    snap = wide_snapshot()
    rows = tbl.sort_rows(snap, snap.rows, "score")
    for width in (80, 200):
        text = render_table(snap, rows, width)
        assert max(len(line) for line in text.splitlines()) <= width
        for r in rows:
            if r.score is not None:
                assert f"{r.score:.6g}" in text, (width, r.score)
            assert str(r.id) in text
        assert "infeasible" in text and "evaluated" in text and snap.name in text
        assert "…" not in text.replace("offline:", "").split("made by")[0]  # nothing cut left of made-by
    narrow = render_table(snap, rows, 80)
    assert "parent" not in narrow and " gen " not in narrow  # parent and generation gave way first
    wide = render_table(snap, rows, 200)
    assert "parent" in wide and "offline:add_term+constant+constant+swap_statements" in wide


def render_table(snap, rows, width: int) -> str:
    out = io.StringIO()
    inspect.print_table(Console(file=out, width=width, color_system=None), snap, rows)
    return out.getvalue()


def test_fit_keeps_natural_widths_when_the_table_fits():
    keys, labels = ["id", "score", "mutation"], ["id", "score", "made by"]
    cells = [["1", "0.371283", "initial"]]
    assert tbl.fit(keys, labels, cells, 200) == [(0, 2), (1, 8), (2, 7)]
    shrunk = dict(tbl.fit(keys, labels, [["1", "0.371283", "m" * 60]], 40))
    assert shrunk[1] == 8 and tbl.SHRUNK_MIN <= shrunk[2] < 60
    assert tbl.fit(keys, labels, cells, 10, keep=keys) == [(0, 2), (1, 8), (2, 7)]  # shrinking never widens


def test_summary_and_detail_print_evaluator_text_literally():
    snap = wide_snapshot(3)
    snap.rows[0].mutation = MARKUP
    snap.rows[0].model = "[link=http://x]m[/link]"
    row = snap.rows[0]
    text = render(summary.render(snap), 200) + render(detail.summary(snap, row), 200)
    assert MARKUP in text
    assert "[link=http://x]m[/link]" in text


def test_feedback_says_a_failure_once():
    error = ("stage 'smoke' requirement not met: valid = False, required True\n`priority` raised:\n"
             "Traceback (most recent call last):\n  File \"/sandbox/work/candidate.py\", line 19, in priority\n"
             "    return [x for x in range(3)][9]\nIndexError: list index out of range " + MARKUP)
    artifact = error.split("\n", 1)[1]
    row = snapshot.Row(id=8, iteration=7, status="infeasible", mutation="m", score=None, metrics={}, error=error)
    got = snapshot.Detail("x = 1\n", None, [{"stage": "smoke", "status": "ok", "passed": False, "error": error,
                                             "artifacts": {"error": artifact, "cache_size": 200}}], [])
    text = render(detail.feedback(got, row), 400)
    assert text.count("IndexError") == 1 and text.count("Traceback") == 1
    assert MARKUP in text and '"cache_size": 200' in text  # the other artifacts are still shown


def test_code_is_wrapped_not_cut():
    long_line = "x = " + " + ".join(f"value_{i}" for i in range(30))
    got = snapshot.Detail(long_line + "\n", None, [], [])
    text = render(detail.code(got), 80)
    assert "value_29" in text and all(len(line) <= 80 for line in text.splitlines())


def test_report_summary_is_a_table_with_budget_and_savings():
    from evolve.commands.report import savings_rows, summary_rows

    snap = wide_snapshot(4)
    snap.run["config"] = {"evolution": {"budget": {"iterations": 7, "wall_time": "2m"}, "concurrency": 3},
                          "llm": {"budget": {"max_usd": 1.5}}}
    snap.dedup = {"syntactic": 2, "functional": 1, "evaluations_saved": 3, "seconds_saved": 4.0,
                  "probe_seconds": 0.5, "unhashable": 0, "audited": 0, "collisions": 0, "collision_rate": None}
    snap.cascade = {"stopped_early": 5, "seconds_saved": 1.0, "seconds_spent": 3.0, "share_saved": 0.25}
    rows = dict(summary_rows(snap))
    assert rows["budget"] == "7 iterations, 2m wall time, $1.5 LLM spend; 3 evaluation(s) at once"
    assert summary.facts(snap)["budget"]["concurrency"] == 3 and summary.facts(snap)["budget"]["max_usd"] == 1.5
    saved = dict(savings_rows(snap))
    assert saved["duplicates caught"].startswith("3: 2 by their code") and saved["stopped early by the cascade"] == "5"
    assert not any(re.search(r"[{}]", v) for v in {**rows, **saved}.values())  # words, not JSON
