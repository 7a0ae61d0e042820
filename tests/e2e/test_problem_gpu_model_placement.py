"""A 30-iteration offline run of the built-in `gpu_model_placement` problem through the CLI."""
from __future__ import annotations

import json

from tests.conftest import ROOT
from tests.e2e.test_cli_runs import db, evolve


def test_gpu_model_placement_run_finishes_and_beats_the_start(tmp_path):
    done = evolve(tmp_path, "start", str(ROOT / "problems" / "gpu_model_placement"), "--iterations", "30", "--name", "x",
                  timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    status = json.loads(evolve(tmp_path, "status", "x", "--json").stdout)
    con = db(tmp_path, "x")
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished", status
    start = con.execute("SELECT score FROM programs WHERE mutation='initial'").fetchone()[0]
    best = con.execute("SELECT MAX(score) FROM programs WHERE status='evaluated'").fetchone()[0]
    assert best > start, (start, best)
