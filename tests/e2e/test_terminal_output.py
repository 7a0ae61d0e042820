"""Through the real CLI: evaluator text printed literally, a candidate's failure said once without the
sandbox runner's frames, and 80-column tables that show every score in full (piped and under a pty)."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_EVALUATOR, TINY_PROGRAM, write_problem
from tests.e2e.pty_session import PtySession

MARKUP = "[bold red]x[/] and [fn(p, w) for _ in range(repeat)]"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")

MARKUP_EVALUATOR = f'''
def evaluate(program_path, workload):
    raise ValueError({MARKUP!r})
'''

# value() fails inside the candidate's own helper whenever a mutation changes a or b
FRAGILE_PROGRAM = TINY_PROGRAM.replace("    return a + b\n", "    return checked(a, b)\n") + '''

def checked(a, b):
    if a + b != 3.0:
        raise KeyError("[bold red]boom[/] " + repr((a, b)))
    return a + b
'''

LOADING_EVALUATOR = '''
from evaluators.common import CandidateError, call_candidate, failure, load_candidate


def evaluate(program_path, workload):
    try:
        x = float(call_candidate(load_candidate(program_path).value))
    except CandidateError as exc:
        return failure(str(exc))
    return {"metrics": {"valid": True, "closeness": -abs(x - 10)}, "artifacts": {}}
'''


def said(text: str, exception: str) -> int:
    """How many times the exception's final line (`KeyError: ...`) was printed."""
    return len(re.findall(rf"^\s*{exception}: ", text, re.MULTILINE))


def evolve(cwd: Path, *args: str, columns: int = 200, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "evolve", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def in_a_pty(cwd: Path, *args: str, columns: int = 80) -> str:
    """`evolve ARGS` under a real pseudo-terminal `columns` wide; its output with the ANSI codes stripped."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color")
    done = PtySession([sys.executable, "-m", "evolve", *args], cwd, env, cols=columns).finish(timeout=120)
    assert done.returncode == 0, done.output
    return ANSI.sub("", done.output).replace("\r", "")


def test_check_prints_markup_in_an_evaluator_error_literally(tmp_path):
    write_problem(tmp_path / "markup", evaluator=MARKUP_EVALUATOR)
    done = evolve(tmp_path, "check", "markup", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "ValueError" in line]
    assert lines and all(MARKUP in line for line in lines), done.stdout  # no line lost its brackets
    assert said(done.stdout, "ValueError") == 1  # once: the verdict points at the stage's error
    assert "sandbox/runner.py" not in done.stdout and "FAIL stage only" in done.stdout


def test_a_candidates_traceback_is_printed_once_without_the_runners_frames(tmp_path):
    broken = TINY_PROGRAM.replace("    return a + b\n", "    return helper(a, b)\n") + (
        "\n\ndef helper(a, b):\n    raise KeyError('[bold red]boom[/]')\n")
    write_problem(tmp_path / "cand", program=broken, evaluator=TINY_EVALUATOR)  # calls the candidate bare
    done = evolve(tmp_path, "check", "cand", timeout=180)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert out.count("Traceback (most recent call last)") == 1 and said(out, "KeyError") == 1, out
    assert "runner.py" not in out and 'evaluate.py", line' not in out  # the runner's and the evaluator's frames
    assert 'candidate.py", line 6, in value' in out and "in helper" in out and "[bold red]boom[/]" in out


@pytest.fixture(scope="module")
def fragile_run(tmp_path_factory):
    """A real run whose children fail inside the candidate, through evaluators.common (stored 3 times)."""
    cwd = tmp_path_factory.mktemp("fragile")
    write_problem(cwd / "fragile", program=FRAGILE_PROGRAM, evaluator=LOADING_EVALUATOR)
    done = evolve(cwd, "start", "fragile", "--iterations", "6", "--name", "fragile", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    con = sqlite3.connect(cwd / "runs" / "fragile" / "evolve.db")
    failed = [n for (n,) in con.execute("SELECT iteration + 1 FROM programs WHERE error LIKE '%boom%' ORDER BY id")]
    assert failed, "no child failed: the offline mutator left a and b alone"
    return cwd, failed[0], con  # the program's number in the run (what `evolve show` takes)


def test_show_prints_a_candidates_failure_once_and_literally(fragile_run):
    cwd, number, con = fragile_run
    stored = con.execute("SELECT error FROM programs WHERE iteration = ?", (number - 1,)).fetchone()[0]
    assert "Traceback" in stored and "common.py" not in stored  # the full trimmed text is in the database
    done = evolve(cwd, "show", str(number), "--run", "fragile")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.count("Traceback (most recent call last)") == 1 and said(out, "KeyError") == 1, out
    assert "[bold red]boom[/]" in out and "in checked" in out
    assert "common.py" not in out and 'evaluate.py", line' not in out and "runner.py" not in out


@pytest.fixture(scope="module")
def cache_run(tmp_path_factory):
    """A short cache_eviction run printed at 80 columns; its scores have six significant digits."""
    cwd = tmp_path_factory.mktemp("cache80")
    done = evolve(cwd, "start", str(ROOT / "problems" / "cache_eviction"), "--iterations", "8", "--name", "c80",
                  columns=80, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    con = sqlite3.connect(cwd / "runs" / "c80" / "evolve.db")
    scores = [s for (s,) in con.execute("SELECT score FROM programs WHERE status = 'evaluated' ORDER BY score DESC")]
    return cwd, done.stdout, scores


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("│")]


def assert_scores_in_full(text: str, scores: list[float], width: int) -> None:
    lines = table_lines(text)
    assert lines, text
    assert all(len(line) <= width for line in text.splitlines()), text
    assert "…" not in "".join(line.split("│")[2] + line.split("│")[3] for line in lines)  # ids and scores
    for score in scores:
        assert f"{score:.6g}" in text, (score, text)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    column = [c.strip() for c in header.split("┃")].index("status")
    for line in lines:
        status = line.split("│")[column].strip()
        assert status.split()[0] in ("evaluated", "infeasible", "failed", "duplicate", "pending", "rejected"), line


def test_the_end_of_run_table_shows_every_score_at_80_columns(cache_run):
    _, out, scores = cache_run
    table = out[out.index("stopped:"):]
    assert_scores_in_full(table, scores[:5], 80)


def test_leaderboard_at_80_and_200_columns(cache_run):
    cwd, _, scores = cache_run
    for width in (80, 200):
        done = evolve(cwd, "leaderboard", "c80", "--plain", columns=width)
        assert done.returncode == 0, done.stderr
        assert_scores_in_full(done.stdout, scores, width)
    assert "parent" in done.stdout  # at 200 columns nothing gives way


def test_leaderboard_under_a_real_80_column_terminal(cache_run):
    cwd, _, scores = cache_run
    out = in_a_pty(cwd, "leaderboard", "c80", "--plain")
    assert_scores_in_full(out, scores, 80)


def test_status_json_reads_the_runs_own_budget(cache_run):
    cwd, _, _ = cache_run
    con = sqlite3.connect(cwd / "runs" / "c80" / "evolve.db")
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    config["evolution"]["budget"]["iterations"], config["evolution"]["concurrency"] = 8, 3
    con.execute("UPDATE runs SET config = ?", (json.dumps(config),))
    con.commit()
    done = evolve(cwd, "status", "c80", "--json")
    budget = json.loads(done.stdout)["budget"]
    assert budget["iterations"] == 8 and budget["concurrency"] == 3
    report = evolve(cwd, "report", "c80", "-o", "rep")
    assert report.returncode == 0, report.stderr
    page = (cwd / "rep" / "index.html").read_text()
    assert "8 iterations; 3 evaluation(s) at once" in page and "stopped early by the cascade" in page
    assert "{&quot;" not in page  # the summary is words in a table, not JSON
