"""The start-up probe tolerates a slow model: a timeout is tried again; only a definite answer stops the run."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from evolve.llm import preflight as pf
from evolve.llm.client import LLMConfigError
from evolve.llm.fake_answers import perturber
from evolve.llm.fake_server import Step
from evolve.problem import ModelSpec
from tests.e2e.test_cli_runs import evolve
from tests.llm.fakes import llm_problem


def run(models, **kw):
    return asyncio.run(pf.preflight(models, "probe", **kw))


def test_a_slow_first_answer_is_tried_again(fake_llm):
    server = fake_llm([Step(content="ok", delay=1.5), "ok"])
    attempts = run([ModelSpec(name="openai/slow", api_base=server.url, timeout_s=0.5)], retries=2, backoff=0.01)
    assert [a.outcome for a in attempts] == ["timeout", "ok"]
    assert len(server.chat_requests) == 2 and pf.unanswered(attempts) == ""


def test_a_model_that_never_answers_in_time_does_not_stop_the_run(fake_llm):
    server = fake_llm([Step(content="ok", delay=1.0)], repeat_last=True)
    attempts = run([ModelSpec(name="openai/slow", api_base=server.url, timeout_s=0.3)], retries=2, backoff=0.01)
    assert [a.outcome for a in attempts] == ["timeout"] * 3  # retries + 1 tries, then the run may start
    assert "openai/slow (3 tries)" in pf.unanswered(attempts)


def test_retries_wait_the_backoff_of_every_call(fake_llm, monkeypatch):
    waits = []
    monkeypatch.setattr(pf, "backoff_s", lambda n, base, retry_after, rng: waits.append((n, base)) or 0.0)
    server = fake_llm([Step(content="ok", delay=1.0)], repeat_last=True)
    run([ModelSpec(name="openai/slow", api_base=server.url, timeout_s=0.2)], retries=2, backoff=1.5)
    assert waits == [(1, 1.5), (2, 1.5)]  # client.backoff_s: the policy of llm.retries / llm.backoff_s


@pytest.mark.parametrize("step, expected", [
    (Step(status=401), r"openai/m: the API key was refused at api_base"),
    (Step(status=403), r"openai/m: the API key was refused"),
    (Step(status=404), r"openai/m: not found at api_base"),
    (Step(status=400, body=json.dumps({"error": {"message": "The model `m` does not exist.",
                                                 "type": "invalid_request_error", "code": "model_not_found"}})),
     r"openai/m: not found at api_base"),
])
def test_a_definite_refusal_stops_at_once(fake_llm, step, expected):
    server = fake_llm([step, "ok"])
    started = time.monotonic()
    with pytest.raises(LLMConfigError, match=expected):
        run([ModelSpec(name="openai/m", api_base=server.url, timeout_s=5)], retries=3, backoff=5.0)
    assert len(server.chat_requests) == 1 and time.monotonic() - started < 4  # not retried


def test_other_answers_let_the_run_start(fake_llm):
    other_400 = Step(status=400, body=json.dumps({"error": {"message": "max_tokens is too small", "code": 400}}))
    server = fake_llm([Step(status=500), Step(status=429, retry_after=0), other_400])
    models = [ModelSpec(name=f"openai/{n}", api_base=server.url, timeout_s=5) for n in "abc"]
    attempts = run(models, retries=3, backoff=0.01)
    assert len(attempts) == 3 and len(server.chat_requests) == 3  # each once: only a timeout is tried again


def test_start_goes_on_after_a_slow_probe_through_the_cli(tmp_path, fake_llm):
    answers = perturber(seed=0)
    first = []

    def script(request):  # the probe (max_tokens 5) answers late once, then in time
        if request.get("max_tokens") == 5 and not first:
            first.append(request)
            return Step(content="ok", delay=2.5)
        return answers(request)

    server = fake_llm(script)
    llm_problem(tmp_path / "p", server.url, concurrency=1)
    done = evolve(tmp_path, "start", "p", "--name", "slow", "--iterations", "2",
                  "--set", "llm.models[].timeout_s=1", timeout=240)
    assert done.returncode == 0, done.stderr + done.stdout
    probes = [r for r in server.chat_requests if r["body"].get("max_tokens") == 5]
    assert len(probes) == 2 and "iteration budget of 2 reached" in done.stdout


def test_start_stops_on_a_refused_key_through_the_cli(tmp_path, fake_llm):
    server = fake_llm([Step(status=401)], repeat_last=True)
    llm_problem(tmp_path / "p", server.url)
    done = evolve(tmp_path, "start", "p", "--name", "refused", timeout=240)
    assert done.returncode == 2, done.stderr + done.stdout
    assert "openai/fake: the API key was refused at api_base" in done.stderr
    assert len(server.chat_requests) == 1 and not (tmp_path / "runs").exists()
