"""Bad input is found before the first candidate: a missing key, an unknown model, a wrong api_base."""
from __future__ import annotations

import asyncio
import socket

import pytest

from evolve.llm.client import LLMConfigError
from evolve.llm.fake_server import Step
from evolve.llm.preflight import preflight
from evolve.problem import ModelSpec


def run(models, mode="probe"):
    return asyncio.run(preflight(models, mode))


def test_missing_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("EVOLVE_TEST_KEY", raising=False)
    m = ModelSpec(name="openai/gpt-4o-mini", api_key_env="EVOLVE_TEST_KEY")
    with pytest.raises(LLMConfigError, match=r"openai/gpt-4o-mini.*EVOLVE_TEST_KEY.*is not set"):
        run([m], "check")


def test_provider_default_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(LLMConfigError, match=r"anthropic/claude-3-5-sonnet-20240620: set .*ANTHROPIC_API_KEY"):
        run([ModelSpec(name="anthropic/claude-3-5-sonnet-20240620")], "check")


def test_model_without_a_provider_is_refused():
    with pytest.raises(LLMConfigError, match=r"nonsense-model: litellm cannot tell its provider"):
        run([ModelSpec(name="nonsense-model", api_key_env="PATH")], "check")


def test_unknown_model_of_a_known_provider_is_refused_unless_priced(monkeypatch):
    monkeypatch.setenv("EVOLVE_TEST_KEY", "sk-test")
    m = ModelSpec(name="openai/gpt-nonexistent-9", api_key_env="EVOLVE_TEST_KEY")
    with pytest.raises(LLMConfigError, match=r"gpt-nonexistent-9: unknown to litellm's model list"):
        run([m], "check")
    priced = ModelSpec(name="openai/gpt-nonexistent-9", api_key_env="EVOLVE_TEST_KEY", input_cost_per_token=1e-6)
    assert run([priced], "check") == []


def test_wrong_api_base_is_found_by_the_probe():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = ModelSpec(name="openai/local", api_base=f"http://127.0.0.1:{port}/v1", timeout_s=5)
    with pytest.raises(LLMConfigError, match=rf"openai/local: cannot connect at api_base http://127.0.0.1:{port}/v1"):
        run([m])


def test_refused_key_and_unknown_model_at_the_server(fake_llm):
    server = fake_llm([Step(status=401), Step(status=404)])
    m = ModelSpec(name="openai/local", api_base=server.url, api_key_env="PATH")
    with pytest.raises(LLMConfigError, match="API key was refused.*check PATH"):
        run([m])
    with pytest.raises(LLMConfigError, match="openai/local: not found at api_base"):
        run([m])


def test_probe_passes_and_returns_its_call(fake_llm):
    server = fake_llm(["ok", Step(status=429)])
    models = [ModelSpec(name="openai/a", api_base=server.url), ModelSpec(name="openai/b", api_base=server.url)]
    attempts = run(models)
    assert [a.outcome for a in attempts] == ["ok", "rate_limited"]
    assert server.chat_requests[0]["body"]["max_tokens"] == 5


def test_off_checks_nothing():
    assert run([ModelSpec(name="nonsense-model")], "off") == []
