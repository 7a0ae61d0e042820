"""One chat completion straight over HTTP to an OpenAI-compatible server (vLLM, Ollama, fake-llm, a proxy).

A model `openai/<name>` with an `api_base` speaks one protocol, `POST {api_base}/chat/completions`,
so it needs none of litellm's provider machinery: this path sends that request (evolve.llm.http1) and
reads the answer, which keeps litellm's seconds of import and per-call CPU out of the run
(`llm.models[].client` chooses; `auto` takes this path for exactly those models). Outcomes, the
Retry-After header and prices match the litellm path's (`client.call_once`): YAML prices, else
litellm's bundled price map read as JSON, else free.
"""
from __future__ import annotations

import importlib.util
import json
import os
import time
from functools import lru_cache
from pathlib import Path

from evolve.llm import http1
from evolve.llm.client import Attempt, api_key


def uses_http(model) -> bool:
    """Whether `model` is called over plain HTTP (True) or through litellm."""
    if model.client != "auto":
        return model.client == "http"
    return model.name.startswith("openai/") and bool(model.api_base)


def wire_name(model) -> str:
    """The model name the server knows: without litellm's provider prefix."""
    return model.name.split("/", 1)[1] if model.name.startswith("openai/") else model.name


def url_of(model) -> str:
    base = (model.api_base or "https://api.openai.com/v1").rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def body_of(model, messages: list[dict], max_tokens: int | None) -> dict:
    body = {"model": wire_name(model), "messages": messages, "temperature": model.temperature,
            "max_tokens": max_tokens or model.max_tokens}
    if model.reasoning_effort:
        body["reasoning_effort"] = model.reasoning_effort
    return body


async def call_once(model, messages: list[dict], max_tokens: int | None = None,
                    timeout: float | None = None) -> Attempt:
    """One attempt, never raising for provider trouble: the outcome says what happened."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {api_key(model) or os.environ.get('OPENAI_API_KEY', '')}", "Content-Type": "application/json"}
    try:
        response = await http1.post_json(url_of(model), body_of(model, messages, max_tokens), headers,
                                         timeout or model.timeout_s)
    except http1.Timeout as exc:
        return _failed(model, started, "timeout", f"Timeout: {exc}")
    except http1.HTTPError as exc:  # refused, reset, DNS: nothing answered
        return _failed(model, started, "server_error", f"APIConnectionError: connection failed: {exc}")
    latency = time.monotonic() - started
    if response.status_code >= 400:
        outcome = ("rate_limited" if response.status_code == 429
                   else "server_error" if response.status_code >= 500 else "error")
        return _failed(model, started, outcome, f"HTTP {response.status_code}: {response.text[:500]}",
                       _retry_after(response), response.status_code)
    try:
        data = response.json()
    except ValueError:
        return _failed(model, started, "server_error", f"the server's answer is not JSON: {response.text[:200]!r}")
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    p_tok, c_tok = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    try:
        text = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        text = None
    outcome = "ok" if isinstance(text, str) and text.strip() else "empty"
    return Attempt(model.name, outcome, p_tok, c_tok, price(model, p_tok, c_tok), latency,
                   text if isinstance(text, str) else None,
                   error="" if outcome == "ok" else "the model answered with no text")


def _failed(model, started: float, outcome: str, error: str, retry_after: float | None = None,
            status: int | None = None) -> Attempt:
    return Attempt(model.name, outcome, latency_s=time.monotonic() - started, error=error,
                   retry_after=retry_after, status=status)


def _retry_after(response) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def price(model, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars of one answer: the YAML prices when given, else litellm's bundled price map, else 0."""
    if model.input_cost_per_token is not None or model.output_cost_per_token is not None:
        return prompt_tokens * (model.input_cost_per_token or 0.0) + completion_tokens * (model.output_cost_per_token or 0.0)
    entry = price_map().get(model.name) or price_map().get(wire_name(model)) or {}
    return (prompt_tokens * float(entry.get("input_cost_per_token") or 0.0)
            + completion_tokens * float(entry.get("output_cost_per_token") or 0.0))


@lru_cache(maxsize=1)
def price_map() -> dict:
    """litellm's bundled model price map, read as JSON without importing litellm ({} without litellm)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "model_prices_and_context_window_backup.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
