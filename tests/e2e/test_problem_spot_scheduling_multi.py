"""A 30-iteration offline run of the built-in `spot_scheduling_multi` problem through the CLI."""
from __future__ import annotations

from tests.conftest import ROOT
from tests.e2e.test_cli_runs import db, evolve


def test_spot_multi_run_finishes_and_beats_the_start(tmp_path):
    done = evolve(tmp_path, "start", str(ROOT / "problems" / "spot_scheduling_multi"), "--iterations", "30",
                  "--name", "x", timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    con = db(tmp_path, "x")
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    start = con.execute("SELECT score FROM programs WHERE mutation='initial'").fetchone()[0]
    best = con.execute("SELECT MAX(score) FROM programs WHERE status='evaluated'").fetchone()[0]
    assert best > start, (start, best)
