"""LLM-driven runs through `evolve start`, against the local fake OpenAI-compatible server."""
from __future__ import annotations

import json
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
    # nothing is wrong with the run: it is interrupted (resumable) with exit 3, not `finished` with 0
    assert done.returncode == 3, done.stderr + done.stdout
    status, reason = rows(tmp_path, "down", "SELECT status, stop_reason FROM runs")[0]
    assert status == "interrupted" and "cooling down" in reason and "evolve resume" in reason, reason
    assert rows(tmp_path, "down", "SELECT COUNT(*) FROM programs")[0][0] < 21
    facts = json.loads(evolve(tmp_path, "status", "down", "--json").stdout)
    assert facts["rejected_by_reason"] == {"llm_failed": facts["counts"]["rejected"]}
    assert facts["llm_calls_by_outcome"] == {"server_error": facts["counts"]["rejected"]}


def test_rejections_are_named_by_reason(tmp_path):
    script = ["no patch here at all", Step(status=500), Step(status=500), Step(status=500)]
    with FakeLLMServer(script * 3) as server:
        llm_problem(tmp_path / "p", server.url, models=[{"name": "openai/fake", "api_base": server.url, **PRICED}],
                    concurrency=1, preflight="off", retries=2, max_patch_attempts=1)
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "r", "--iterations", "4")
        assert done.returncode == 0, done.stderr + done.stdout
    errors = [e for (e,) in rows(tmp_path, "r", "SELECT error FROM programs WHERE iteration > 0 ORDER BY iteration")]
    assert [e.split(":")[0] for e in errors] == ["patch_failed", "llm_failed", "patch_failed", "llm_failed"]
    assert "after 3 tries: server_error" in errors[1]
    facts = json.loads(evolve(tmp_path, "status", "r", "--json").stdout)
    assert facts["rejected_by_reason"] == {"patch_failed": 2, "llm_failed": 2}
    assert facts["llm_calls_by_outcome"] == {"ok": 2, "server_error": 6}
    shown = evolve(tmp_path, "status", "r").stdout
    assert "rejected 4 (llm_failed 2, patch_failed 2)" in shown and "server_error 6, ok 2" in shown


def test_a_replay_is_exact_under_latency_retries_and_two_slots(tmp_path):
    """Answers take 0-0.4 s and one in five is a 429 first, with two calls and two evaluations at once:
    timing decides the live run's parents and inspirations, and the replay still gives every program's
    code, parent, status and score back."""
    import random
    import threading

    rng, lock = random.Random(3), threading.Lock()
    answer = perturber(seed=1)

    def script(request):
        with lock:
            roll, delay = rng.random(), rng.uniform(0, 0.4)
        if roll < 0.2:
            return Step(status=429, retry_after=0)
        step = answer(request)
        step.delay = delay
        return step

    with FakeLLMServer(script) as server:
        llm_problem(tmp_path / "p", server.url, models=[{"name": "openai/fake", "api_base": server.url, **PRICED}],
                    concurrency=2, retries=3)
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "live", "--iterations", "14",
                      "--concurrency", "2")
        assert done.returncode == 0, done.stderr + done.stdout
    query = "SELECT iteration, parent_id, status, score, code FROM programs ORDER BY iteration"
    live = rows(tmp_path, "live", query)
    assert len(live) == 15
    retried = rows(tmp_path, "live", "SELECT COUNT(*) FROM llm_calls WHERE outcome = 'rate_limited'")[0][0]
    assert retried > 0  # the live run did retry
    again = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "replayed", "--iterations", "14",
                   "--concurrency", "2", "--replay", "live")
    assert again.returncode == 0, again.stderr + again.stdout
    replayed = rows(tmp_path, "replayed", query)

    def parents(table):  # parent ids differ between the two databases' runs only by an offset: compare iterations
        by_id = {}
        for name in ("live", "replayed"):
            by_id.update(dict(rows(tmp_path, name, "SELECT id, iteration FROM programs")))
        return [(it, by_id.get(pid), status, score, code) for it, pid, status, score, code in table]

    assert parents(replayed) == parents(live)
    assert rows(tmp_path, "replayed", "SELECT DISTINCT outcome, SUM(cost_usd) FROM llm_calls") == [("replayed", 0.0)]


def test_a_replay_that_cannot_rebuild_a_child_stops_diverged(tmp_path):
    with FakeLLMServer(perturber(seed=0)) as server:
        llm_problem(tmp_path / "p", server.url, models=[{"name": "openai/fake", "api_base": server.url, **PRICED}],
                    concurrency=1)
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "live", "--iterations", "4",
                      "--concurrency", "1")
        assert done.returncode == 0, done.stderr + done.stdout
    # the starting program changes: the recorded patches no longer give the recorded children
    initial = tmp_path / "p" / "initial.py"
    initial.write_text(initial.read_text().replace("# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-START\n# changed"))
    again = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "replayed", "--iterations", "4",
                   "--replay", "live")
    assert again.returncode == 1, again.stderr + again.stdout
    status, reason = rows(tmp_path, "replayed", "SELECT status, stop_reason FROM runs")[0]
    assert status == "diverged" and reason.startswith("replay diverged at #2")
    left = rows(tmp_path, "replayed", "SELECT outcome, prompt, error FROM llm_calls WHERE outcome = 'replay_diverged'")
    assert len(left) == 1 and "SEARCH" in left[0][1] and "replay diverged" in left[0][2]
