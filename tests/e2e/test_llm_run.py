"""LLM-driven runs through `evolve start`, against the local fake OpenAI-compatible server."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from evolve.llm.fake_answers import perturber
from evolve.llm.fake_server import FakeLLMServer, Step
from tests.conftest import ROOT
from tests.llm.fakes import llm_problem

PRICED = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "timeout_s": 5}


def evolve(cwd, *args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "evolve", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def rows(cwd, name, query):
    con = sqlite3.connect(cwd / "runs" / name / "evolve.db")
    return con.execute(query).fetchall()


def test_llm_run_records_calls_costs_and_replays(tmp_path):
    with FakeLLMServer(perturber(seed=0)) as server:
        # one call and one evaluation at a time: the replay then reproduces the run exactly
        llm_problem(tmp_path / "p", server.url, models=[{"name": "openai/fake", "api_base": server.url, **PRICED}],
                    concurrency=1)
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "live", "--iterations", "6",
                      "--concurrency", "1")
        assert done.returncode == 0, done.stderr + done.stdout
    programs = rows(tmp_path, "live", "SELECT id, mutation, status, code FROM programs ORDER BY iteration")
    assert len(programs) == 7 and all(p[1] == "llm:diff" for p in programs[1:])
    calls = rows(tmp_path, "live", "SELECT program_id, model, outcome, cost_usd, prompt_tokens, prompt, response "
                                   "FROM llm_calls ORDER BY id")
    linked = [c for c in calls if c[0] is not None]
    assert len(linked) == 6 and all(c[1] == "openai/fake" and c[2] == "ok" for c in linked)
    assert all(c[3] > 0 and c[4] > 0 and "SEARCH" in c[5] and c[6] for c in linked)
    assert any(c[0] is None for c in calls)  # the preflight probe, counted in the ledger too
    # replay the run with no server at all: the same programs, no spend
    again = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "replayed", "--iterations", "6",
                   "--concurrency", "1", "--replay", "live")
    assert again.returncode == 0, again.stderr + again.stdout
    replayed = rows(tmp_path, "replayed", "SELECT id, mutation, status, code FROM programs ORDER BY iteration")
    assert [p[3] for p in replayed] == [p[3] for p in programs]
    outcomes = rows(tmp_path, "replayed", "SELECT DISTINCT outcome, SUM(cost_usd) FROM llm_calls")
    assert outcomes == [("replayed", 0.0)]


def test_rejected_patches_are_recorded_with_their_reason(tmp_path):
    script = ["no patch here at all", "<<<<<<< SEARCH\nnot in the program\n=======\nx = 1\n>>>>>>> REPLACE\n"]
    with FakeLLMServer(script * 4) as server:
        llm_problem(tmp_path / "p", server.url, models=[{"name": "openai/fake", "api_base": server.url, **PRICED}],
                    concurrency=1, preflight="off")
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "r", "--iterations", "4")
        assert done.returncode == 0, done.stderr + done.stdout
    rejected = rows(tmp_path, "r", "SELECT status, error FROM programs WHERE iteration > 0")
    assert len(rejected) == 4 and all(status == "rejected" and error for status, error in rejected)
    assert rows(tmp_path, "r", "SELECT COUNT(*) FROM evaluations")[0][0] == 1  # only the starting program


def test_missing_api_key_stops_before_anything_is_written(tmp_path):
    llm_problem(tmp_path / "p", None, models=[{"name": "openai/gpt-4.1-mini"}])
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    done = subprocess.run([sys.executable, "-m", "evolve", "start", str(tmp_path / "p"), "--name", "k"],
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "OPENAI_API_KEY" in done.stderr and "gpt-4.1-mini" in done.stderr
    assert not (tmp_path / "runs" / "k").exists()


def test_all_models_failing_stops_the_run_with_a_message(tmp_path):
    with FakeLLMServer([Step(status=500)], repeat_last=True) as server:
        llm_problem(tmp_path / "p", server.url, models=[{"name": "openai/fake", "api_base": server.url, **PRICED}],
                    concurrency=1, preflight="off", retries=0, cooldown_after=2, cooldown_s=600)
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "down", "--iterations", "20")
    assert done.returncode == 0, done.stderr
    reason = rows(tmp_path, "down", "SELECT stop_reason FROM runs")[0][0]
    assert "cool" in reason or "down" in reason or "fail" in reason, reason
    assert rows(tmp_path, "down", "SELECT COUNT(*) FROM programs")[0][0] < 21
