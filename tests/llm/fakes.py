"""The fake OpenAI-compatible server as a fixture, and a tiny problem whose models point at it (shared by tests/llm and tests/mutate).

    def test_x(fake_llm):
        server = fake_llm(["an answer", Step(status=429, retry_after=0), Step(delay=5)])
        problem = llm_problem(tmp_path, server.url)
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from evolve.llm.fake_server import FakeLLMServer
from evolve.problem import load_problem
from tests.conftest import TINY_HEAD, write_problem


@pytest.fixture
def fake_llm():
    """A factory: fake_llm(script, **kw) -> a started FakeLLMServer, stopped after the test."""
    servers: list[FakeLLMServer] = []

    def start(script, **kw) -> FakeLLMServer:
        server = FakeLLMServer(script, **kw).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


BASE_YAML = TINY_HEAD + """\
    - {name: only, workload: {target: 10}}
"""


def llm_problem(folder: Path, api_base: str | None, program: str | None = None, **llm):
    """The tiny problem with `llm:` settings; models default to one fake model at api_base."""
    llm.setdefault("models", [{"name": "openai/fake", "api_base": api_base, "timeout_s": 5}])
    llm.setdefault("retries", 2)
    llm.setdefault("backoff_s", 0.01)
    llm.setdefault("mutation", {"diff": 1.0, "rewrite": 0.0, "crossover": 0.0})
    text = BASE_YAML + textwrap.indent(yaml.safe_dump({"llm": llm}, sort_keys=False), "")
    kw = {"program": program} if program else {}
    write_problem(folder, text, **kw)
    return load_problem(folder)
