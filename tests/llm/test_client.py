"""One call against the fake server, through each client (litellm, plain HTTP): outcomes, retries, cost, budget stop.

Every test runs twice, once per `llm.models[].client`: the two paths must agree on every outcome.
"""
from __future__ import annotations

import asyncio
import os
import random

import pytest

from evolve.llm import client
from evolve.llm.fake_server import Step
from evolve.llm.ledger import Ledger
from evolve.problem import ModelSpec

MESSAGES = [{"role": "user", "content": "hello"}]


CLIENT = {"kind": "http"}


@pytest.fixture(autouse=True, params=["http", "litellm"])
def client_kind(request):
    CLIENT["kind"] = request.param
    return request.param


def model(url: str, **kw) -> ModelSpec:
    return ModelSpec(name="openai/fake", api_base=url, timeout_s=kw.pop("timeout_s", 5), client=CLIENT["kind"], **kw)


def complete(m, ledger=None, retries=3):
    ledger = ledger or Ledger()
    return asyncio.run(client.complete(m, MESSAGES, ledger, retries, 0.01, random.Random(0))), ledger


def test_ok_answer_with_tokens_and_yaml_price(fake_llm):
    server = fake_llm([Step(content="an answer", usage={"prompt_tokens": 100, "completion_tokens": 20})])
    m = model(server.url, input_cost_per_token=1e-6, output_cost_per_token=2e-6, temperature=0.3, max_tokens=77)
    (attempts, why), ledger = complete(m)
    [a] = attempts
    assert (a.outcome, a.response, a.prompt_tokens, a.completion_tokens) == ("ok", "an answer", 100, 20)
    assert abs(a.cost_usd - (100e-6 + 40e-6)) < 1e-12 and why == ""
    assert ledger.calls == 1 and abs(ledger.spent_usd - a.cost_usd) < 1e-12 and ledger.in_flight == 0
    sent = server.chat_requests[0]["body"]
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 77 and sent["messages"] == MESSAGES


def test_known_model_is_priced_from_litellms_price_map(fake_llm):
    server = fake_llm([Step(content="x", usage={"prompt_tokens": 1000, "completion_tokens": 100})])
    (attempts, _), _ = complete(ModelSpec(name="openai/gpt-4o-mini", api_base=server.url, api_key_env="PATH",
                                          client=CLIENT["kind"]))
    lib = client.litellm()
    price = lib.model_cost["gpt-4o-mini"]
    expected = 1000 * price["input_cost_per_token"] + 100 * price["output_cost_per_token"]
    assert expected > 0 and abs(attempts[0].cost_usd - expected) < 1e-12
    headers = {k.lower(): v for k, v in server.chat_requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer " + os.environ["PATH"]  # the key from api_key_env


def test_unpriced_self_hosted_model_costs_nothing(fake_llm):
    server = fake_llm(["x"])
    (attempts, _), _ = complete(model(server.url))
    assert attempts[0].outcome == "ok" and attempts[0].cost_usd == 0.0


def test_429_with_retry_after_then_ok(fake_llm):
    server = fake_llm([Step(status=429, retry_after=0), "fine"])
    (attempts, _), ledger = complete(model(server.url))
    assert [a.outcome for a in attempts] == ["rate_limited", "ok"]
    assert attempts[0].retry_after == 0.0 and attempts[0].status == 429
    assert len(server.chat_requests) == 2 and ledger.calls == 2  # litellm and openai do not retry on their own


def test_500s_are_retried_until_the_retries_run_out(fake_llm):
    server = fake_llm([Step(status=500)] * 3)
    (attempts, _), _ = complete(model(server.url), retries=2)
    assert [a.outcome for a in attempts] == ["server_error"] * 3 and len(server.chat_requests) == 3


def test_slow_answer_past_the_timeout_is_a_timeout_and_retried(fake_llm):
    server = fake_llm([Step(content="late", delay=3), "on time"])
    (attempts, _), _ = complete(model(server.url, timeout_s=0.5))
    assert [a.outcome for a in attempts] == ["timeout", "ok"] and attempts[1].response == "on time"


def test_malformed_body_is_a_server_error_and_empty_answers_are_empty(fake_llm):
    server = fake_llm([Step(body="{not json"), Step(body='{"choices": []}'), Step(content=None), Step(content="  ")])
    for expected in ("server_error", "empty", "empty", "empty"):
        (attempts, _), _ = complete(model(server.url), retries=0)
        assert [a.outcome for a in attempts] == [expected]


def test_auth_error_is_not_retried(fake_llm):
    server = fake_llm([Step(status=401), "never"])
    (attempts, _), _ = complete(model(server.url))
    assert [a.outcome for a in attempts] == ["error"] and attempts[0].status == 401
    assert len(server.chat_requests) == 1


def test_budget_reached_stops_the_retries(fake_llm):
    server = fake_llm([Step(status=500)] * 5)
    (attempts, why), ledger = complete(model(server.url), ledger=Ledger(max_calls=2), retries=4)
    assert len(attempts) == 2 and "LLM call budget of 2 reached" in why and len(server.chat_requests) == 2


def test_auto_takes_http_for_an_openai_compatible_server_only():
    from evolve.llm.openai_http import uses_http
    assert uses_http(ModelSpec(name="openai/x", api_base="http://127.0.0.1:1/v1"))
    assert not uses_http(ModelSpec(name="openai/gpt-4.1-mini"))  # the official API: litellm maps its params
    assert not uses_http(ModelSpec(name="anthropic/claude-sonnet-4-5", api_base="http://127.0.0.1:1"))
    assert uses_http(ModelSpec(name="openai/gpt-4.1-mini", client="http"))
    assert not uses_http(ModelSpec(name="openai/x", api_base="http://127.0.0.1:1/v1", client="litellm"))


def test_prompt_hash_is_stable_and_order_sensitive():
    a = client.prompt_hash([{"role": "user", "content": "x"}])
    assert a == client.prompt_hash([{"content": "x", "role": "user"}]) and len(a) == 64
    assert a != client.prompt_hash([{"role": "user", "content": "y"}])


def test_backoff_honours_retry_after_with_a_cap_else_grows():
    rng = random.Random(0)
    assert client.backoff_s(1, 2.0, 7.0, rng) == 7.0
    assert client.backoff_s(1, 2.0, 10_000.0, rng) == client.MAX_RETRY_AFTER_S
    waits = [client.backoff_s(n, 1.0, None, rng) for n in (1, 2, 3, 4)]
    assert all(0.5 * 2 ** i <= w <= 1.5 * 2 ** i for i, w in enumerate(waits))
