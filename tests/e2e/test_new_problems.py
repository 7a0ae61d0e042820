"""Offline runs of the problems added in issue 18 through the CLI: each finishes and beats its start.

One parametrized test instead of a file per problem. Every run is `evolution.deterministic` (its
choices follow from the seed, not from which evaluation finishes first), so a run that beats its
start here does so on every machine; `sandbox.wall_s` is cut so a candidate that hangs costs seconds,
not the problem's minute. The seeds and iteration counts are ones we measured to beat the start (how
often other seeds do is noted per problem; see each problem's README).
"""
from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.e2e.test_cli_runs import db, evolve

# problem, iterations, seed, what the best must beat the start's score by
RUNS = [
    # 10 of 10 seeds beat the start in 30 iterations (-615.50 -> -480.49 with seed 0)
    ("cloudcast", 30, 0, 1.0),
    # 8 of 10 seeds in 30 iterations; seed 0 already in 15 (-0.0541 -> -0.0462)
    ("gpu_model_placement", 20, 0, 1e-3),
    # the hit rate: seeds 2, 4-7 gain 0.04-0.12, seed 0 nothing in 30 deterministic iterations
    ("llm_sql", 30, 2, 0.01),
    ("moe_expert_affinity", 30, 0, 1e-4),
    # the HOP switch or its constants: 38.02 -> 48.75
    ("spot_scheduling_multi", 30, 0, 1.0),
]


@pytest.mark.parametrize("problem, iterations, seed, gain", RUNS, ids=[r[0] for r in RUNS])
def test_offline_run_finishes_and_beats_the_start(tmp_path, problem, iterations, seed, gain):
    done = evolve(tmp_path, "start", str(ROOT / "problems" / problem), "--iterations", str(iterations),
                  "--name", "x", "--set", "evolution.deterministic=true", "--set", f"evolution.seed={seed}",
                  "--set", "sandbox.wall_s=15", "--set", "sandbox.cpu_s=15", timeout=240)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    assert f"iteration budget of {iterations} reached" in done.stdout
    con = db(tmp_path, "x")
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    start = con.execute("SELECT score FROM programs WHERE mutation = 'initial'").fetchone()[0]
    best = con.execute("SELECT MAX(score) FROM programs WHERE status = 'evaluated'").fetchone()[0]
    assert start is not None and best > start + gain, (start, best)
