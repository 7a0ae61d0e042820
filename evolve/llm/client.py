"""One chat completion through litellm, with retries and backoff on 429, 5xx and timeouts.

litellm is imported on first use only (it takes seconds to import) and with its
bundled price map (no network fetch); an OpenAI-compatible server at `api_base` is
called over plain HTTP instead (evolve.llm.openai_http). Every attempt becomes one `Attempt`: the
ledger row of that call.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import time
from dataclasses import dataclass

RETRYABLE = ("rate_limited", "server_error", "timeout")
MAX_RETRY_AFTER_S = 120.0


class LLMConfigError(Exception):
    """The LLM configuration cannot work (key, model name, api_base); the message says what to fix."""


@dataclass
class Attempt:
    """One call to a model: its outcome, tokens, cost and answer."""

    model: str
    outcome: str  # ok | rate_limited | server_error | timeout | empty | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    response: str | None = None
    error: str = ""
    retry_after: float | None = None
    status: int | None = None  # HTTP status of a failed call, when known


def litellm():
    """The litellm module, imported now, quietly and with its local price map."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as module

    logging.getLogger("LiteLLM").setLevel(logging.ERROR)

    module.suppress_debug_info = True
    module.drop_params = True  # e.g. reasoning_effort on a model without it
    return module


def prompt_hash(messages: list[dict]) -> str:
    """The ledger key of a conversation: sha256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def render(messages: list[dict]) -> str:
    """A conversation as readable text, for the ledger."""
    return "\n\n".join(f"### {m['role']}\n{m['content']}" for m in messages)


def request_args(model, messages: list[dict], max_tokens: int | None = None, timeout: float | None = None) -> dict:
    """The keyword arguments of litellm.acompletion for a configured model (evolve.problem.ModelSpec)."""
    args = dict(model=model.name, messages=messages, temperature=model.temperature,
                max_tokens=max_tokens or model.max_tokens, timeout=timeout or model.timeout_s,
                num_retries=0, max_retries=0)
    if model.api_base:
        args["api_base"] = model.api_base
    key = api_key(model)
    if key:
        args["api_key"] = key
    if model.reasoning_effort:
        args["reasoning_effort"] = model.reasoning_effort
    return args


def api_key(model) -> str | None:
    """The key to send: from api_key_env; a placeholder for a local server at api_base that needs none."""
    key = os.environ.get(model.api_key_env) if model.api_key_env else None
    if key:
        return key
    if model.api_base and not model.api_key_env:
        return "not-needed"  # a local OpenAI-compatible server (vLLM, Ollama, fake-llm)
    return None  # litellm finds the provider's own variable


def classify(exc: BaseException) -> tuple[str, float | None]:
    """An exception from litellm -> (outcome, Retry-After seconds if the server sent one)."""
    lib = litellm()
    if isinstance(exc, (lib.Timeout, asyncio.TimeoutError)):
        return "timeout", None
    if isinstance(exc, lib.RateLimitError):
        return "rate_limited", _retry_after(exc)
    if isinstance(exc, (lib.InternalServerError, lib.ServiceUnavailableError, lib.APIConnectionError,
                        lib.BadGatewayError)):
        return "server_error", _retry_after(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return "server_error", _retry_after(exc)
    return "error", None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None and getattr(exc, "response", None) is not None:
        headers = getattr(exc.response, "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def cost_of(model, response, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars of one answer: the YAML prices when given, else litellm's price map, else 0."""
    if model.input_cost_per_token is not None or model.output_cost_per_token is not None:
        return prompt_tokens * (model.input_cost_per_token or 0.0) + completion_tokens * (model.output_cost_per_token or 0.0)
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:  # litellm priced it already (None: a model it has no price for)
        return float(hidden["response_cost"] or 0.0)
    try:
        return float(litellm().completion_cost(completion_response=response) or 0.0)
    except Exception:  # a model litellm has no price for (self-hosted): free unless priced in the YAML
        return 0.0


async def call_once(model, messages: list[dict], max_tokens: int | None = None,
                    timeout: float | None = None) -> Attempt:
    """One attempt, never raising for provider trouble: the outcome says what happened."""
    from evolve.llm import openai_http

    if openai_http.uses_http(model):
        return await openai_http.call_once(model, messages, max_tokens, timeout)
    lib = litellm()
    started = time.monotonic()
    try:
        response = await lib.acompletion(**request_args(model, messages, max_tokens, timeout))
    except Exception as exc:  # noqa: BLE001 - every provider failure becomes an outcome
        outcome, retry_after = classify(exc)
        return Attempt(model.name, outcome, latency_s=time.monotonic() - started,
                       error=f"{type(exc).__name__}: {str(exc)[:500]}", retry_after=retry_after,
                       status=getattr(exc, "status_code", None))
    latency = time.monotonic() - started
    usage = getattr(response, "usage", None)
    p_tok = int(getattr(usage, "prompt_tokens", 0) or 0)
    c_tok = int(getattr(usage, "completion_tokens", 0) or 0)
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        text = None
    cost = cost_of(model, response, p_tok, c_tok)
    outcome = "ok" if text and text.strip() else "empty"
    return Attempt(model.name, outcome, p_tok, c_tok, cost, latency, text,
                   error="" if outcome == "ok" else "the model answered with no text")


def backoff_s(attempt: int, base: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): Retry-After, else jittered exponential."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER_S)
    return base * (2 ** (attempt - 1)) * (0.5 + rng.random())


async def complete(model, messages: list[dict], ledger, retries: int, backoff_base: float,
                   rng: random.Random) -> tuple[list[Attempt], str]:
    """Ask `model`, retrying 429/5xx/timeouts; -> (every attempt, why it stopped short or "").

    Each attempt is admitted by the ledger first: a budget reached stops the retries.
    """
    attempts: list[Attempt] = []
    for number in range(retries + 1):
        blocked = ledger.reason()
        if blocked:
            return attempts, blocked
        ledger.begin()
        try:
            attempt = await call_once(model, messages)
        except BaseException:  # cancelled: the call never finished, nothing to book
            ledger.in_flight -= 1
            raise
        ledger.end(model.name, attempt.cost_usd)
        attempts.append(attempt)
        if attempt.outcome not in RETRYABLE or number == retries:
            break
        await asyncio.sleep(backoff_s(number + 1, backoff_base, attempt.retry_after, rng))
    return attempts, ""
