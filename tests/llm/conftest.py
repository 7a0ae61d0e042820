"""Fixtures of the LLM tests: `fake_llm(script)` starts a scripted OpenAI-compatible server (see fakes.py)."""
from tests.llm.fakes import fake_llm  # noqa: F401
