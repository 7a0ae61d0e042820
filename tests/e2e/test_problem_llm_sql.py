"""llm_sql through the CLI: 30 offline iterations finish and beat the starting program."""
from __future__ import annotations

import sqlite3

from tests.conftest import ROOT
from tests.e2e.test_cli_runs import evolve


def test_llm_sql_run_beats_the_starting_program(tmp_path):
    done = evolve(tmp_path, "start", str(ROOT / "problems" / "llm_sql"), "--iterations", "30", "--name", "x",
                  timeout=240)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "iteration budget of 30 reached" in done.stdout
    con = sqlite3.connect(tmp_path / "runs" / "x" / "evolve.db")
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    initial = con.execute("SELECT score FROM programs WHERE iteration = 0").fetchone()[0]
    best = con.execute("SELECT max(score) FROM programs WHERE status = 'evaluated'").fetchone()[0]
    assert initial is not None and best > initial + 0.01, (initial, best)
