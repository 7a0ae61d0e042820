"""Kernel problems through the CLI: an exp_f32 run, `evolve verify` on it, moe_gating_triton on a CPU."""
from __future__ import annotations

import importlib.util
import sqlite3

import pytest

from evolve.cli import main


@pytest.fixture(scope="module")
def exp_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--runs-dir", str(runs), "start", "exp_f32", "--name", "e", "--iterations", "1"]) == 0
    return runs


def test_exp_run_scores_the_baseline(exp_run):
    with sqlite3.connect(exp_run / "e" / "evolve.db") as db:
        status, metrics = db.execute("SELECT status, metrics FROM programs WHERE id = 1").fetchone()
    assert status == "evaluated" and '"ops_per_element": 29.0' in metrics and '"max_ulp": 1' in metrics


def test_verify_checks_every_float_in_range(exp_run, capsys):
    rc = main(["--runs-dir", str(exp_run), "verify", "e", "1", "--range", "0.5", "0.52", "--parts", "3",
               "--jobs", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "335545" in out and "verified" in out  # 0.5 .. 0.52 holds 335545 float32 values


def test_verify_fails_a_program_that_misses_the_constraint(exp_run, tmp_path, capsys):
    with sqlite3.connect(exp_run / "e" / "evolve.db") as db:
        code = db.execute("SELECT code FROM programs WHERE id = 1").fetchone()[0]
        bad = code.replace("p = p * (r * r) + r + f32(1.0)", "p = p * (r * r) + r + f32(1.0001)")
        assert bad != code
        db.execute("UPDATE programs SET code = ? WHERE id = 1", (bad,))
    try:
        rc = main(["--runs-dir", str(exp_run), "verify", "e", "1", "--range", "0.5", "0.5001", "--parts", "2"])
        out = capsys.readouterr().out
        assert rc == 1 and "constraint not met: max_ulp" in out
    finally:
        with sqlite3.connect(exp_run / "e" / "evolve.db") as db:
            db.execute("UPDATE programs SET code = ? WHERE id = 1", (code,))


def test_verify_unknown_program_is_an_input_error(exp_run, capsys):
    assert main(["--runs-dir", str(exp_run), "verify", "e", "999"]) == 2
    assert "no program #999" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("triton") is None or importlib.util.find_spec("torch") is None,
                    reason="torch/triton not installed: pip install -e '.[gpu]'")
def test_moe_gating_on_cpu_runs_interpreter_and_skips_speed(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOLVE_GPU_COUNT", "0")  # gpus: auto resolves to none, as on a CPU machine
    rc = main(["--runs-dir", str(tmp_path), "start", "moe_gating_triton", "--name", "m", "--iterations", "1"])
    assert rc == 1  # no program can be scored without a GPU: the speed was not measured
    with sqlite3.connect(tmp_path / "m" / "evolve.db") as db:
        status, error, metrics = db.execute("SELECT status, error, metrics FROM programs WHERE id = 1").fetchone()
        stages = dict(db.execute("SELECT stage, status FROM evaluations WHERE program_id = 1").fetchall())
    assert status == "infeasible" and "speed_measured" in error and "no CUDA device" in error
    assert '"correct": true' in metrics and '"interpreted": true' in metrics
    assert stages == {"probe": "ok", "correctness": "ok", "speed": "ok"}  # the starting program is hashed too
