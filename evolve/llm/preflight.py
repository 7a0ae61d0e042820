"""Find a configuration that cannot work before the first candidate: keys, model names, api_base.

`check` looks at the environment and litellm's model list only (not litellm at all for a model
called over plain HTTP); `probe` also
sends each model one tiny request (a few tokens) and reads the failure, if any.
Only a definite answer stops the run: a refused key, an unknown model, nothing
listening at api_base. A probe that times out is tried again as any call is
(`llm.retries`, `llm.backoff_s`); one that never gets an answer in time, a 429 or a
5xx lets the run start (its calls retry, and a model that keeps failing cools down).
"""
from __future__ import annotations

import asyncio
import os
import random
import re

from evolve.llm import openai_http
from evolve.llm.client import Attempt, LLMConfigError, backoff_s, call_once, litellm
from evolve.problem import LLMConfig

PROBE = [{"role": "user", "content": "Reply with the word ok."}]
PROBE_TIMEOUT_S = 30.0  # per try (or the model's timeout_s when shorter)
# for a caller that gives neither: the defaults of llm.retries and llm.backoff_s
RETRIES, BACKOFF_S = (LLMConfig.model_fields[k].default for k in ("retries", "backoff_s"))
# a 400 that says the model is unknown (as some OpenAI-compatible servers and proxies answer)
_UNKNOWN_MODEL = re.compile(r"model_not_found|\bmodel\b[^.;\n]{0,80}\b(not found|does not exist)|invalid model|"
                            r"unknown model|no such model", re.IGNORECASE)


def check_model(model) -> None:
    """Raise LLMConfigError naming the model and the fix when its key or name is wrong."""
    if model.api_key_env and not os.environ.get(model.api_key_env):
        raise LLMConfigError(f"model {model.name}: the environment variable {model.api_key_env} (its api_key_env) "
                             f"is not set; export {model.api_key_env}=<your key> and start again")
    if openai_http.uses_http(model):  # one protocol, no provider to find: the probe checks the rest
        if not model.api_base and not model.api_key_env and not os.environ.get("OPENAI_API_KEY"):
            raise LLMConfigError(f"model {model.name}: set OPENAI_API_KEY (or name the variable holding the key "
                                 "with api_key_env), or give api_base for a local server")
        return
    lib = litellm()
    try:
        lib.get_llm_provider(model.name, api_base=model.api_base)
    except Exception:  # noqa: BLE001 - litellm raises BadRequestError for an unknown provider
        raise LLMConfigError(f"model {model.name}: litellm cannot tell its provider; write it as provider/model, "
                             "e.g. openai/gpt-4.1-mini, anthropic/claude-sonnet-4-5, or openai/<name> with "
                             "api_base for an OpenAI-compatible server") from None
    if model.api_base:
        return
    if not model.api_key_env:
        missing = lib.validate_environment(model=model.name).get("missing_keys") or []
        if missing:
            raise LLMConfigError(f"model {model.name}: set the environment variable {' and '.join(missing)} to its "
                                 "API key (or name the variable holding it with api_key_env)")
    priced = model.input_cost_per_token is not None or model.output_cost_per_token is not None
    if not priced:
        try:
            lib.get_model_info(model.name)
        except Exception:  # noqa: BLE001
            raise LLMConfigError(f"model {model.name}: unknown to litellm's model list; check the spelling "
                                 "(e.g. openai/gpt-4.1-mini), or, for a model newer than the installed litellm, "
                                 "give its input_cost_per_token and output_cost_per_token so spend can be "
                                 "counted") from None


def explain_probe(model, attempt: Attempt) -> str:
    """Why a probe answer means the model cannot be used, or "" when it can."""
    if attempt.outcome in ("ok", "empty", "rate_limited", "timeout"):
        return ""  # answered, or there and busy, or slow: retries and cooldown handle it
    where = f" at api_base {model.api_base}" if model.api_base else ""
    key = model.api_key_env or "the provider's API key variable"
    if attempt.status in (401, 403):
        return f"model {model.name}: the API key was refused{where}; check {key}"
    if attempt.status == 404 or (attempt.status == 400 and _UNKNOWN_MODEL.search(attempt.error)):
        return f"model {model.name}: not found{where}; check the model name (and api_base)"
    if attempt.outcome == "server_error" and "connection" in attempt.error.lower():
        return f"model {model.name}: cannot connect{where}; check api_base and that the server is running"
    if attempt.outcome == "server_error":
        return ""  # the provider is there, just failing now: retries and cooldown handle it
    if attempt.status == 400:
        return ""  # reached and understood (e.g. the probe's tiny max_tokens refused)
    return f"model {model.name}: the probe call failed{where}: {attempt.error[:300]}"


async def probe(model, retries: int = RETRIES, backoff: float = BACKOFF_S,
                rng: random.Random | None = None) -> list[Attempt]:
    """Ask `model` the probe, trying again after a timeout (as `client.complete` does); every attempt."""
    rng = rng or random.Random(0)
    attempts: list[Attempt] = []
    for number in range(retries + 1):
        attempt = await call_once(model, PROBE, max_tokens=5, timeout=min(model.timeout_s, PROBE_TIMEOUT_S))
        attempts.append(attempt)
        if attempt.outcome != "timeout" or number == retries:
            break
        await asyncio.sleep(backoff_s(number + 1, backoff, attempt.retry_after, rng))
    return attempts


async def preflight(models: list, mode: str = "probe", retries: int = RETRIES,
                    backoff: float = BACKOFF_S) -> list[Attempt]:
    """Raise LLMConfigError on the first unusable model; return the probe attempts (for the ledger)."""
    if mode == "off":
        return []
    for model in models:
        check_model(model)
    attempts = []
    if mode == "probe":
        rng = random.Random(0)
        for model in models:
            tries = await probe(model, retries, backoff, rng)
            attempts += tries
            problem = explain_probe(model, tries[-1])
            if problem:
                raise LLMConfigError(problem)
    return attempts


def unanswered(calls: list) -> str:
    """A note naming the models whose every probe try timed out (`calls`: attempts or ledger records)."""
    tried: dict[str, list[str]] = {}
    for call in calls:
        tried.setdefault(call.model, []).append(call.outcome)
    slow = [f"{m} ({len(o)} tr{'y' if len(o) == 1 else 'ies'})" for m, o in tried.items()
            if o and all(x == "timeout" for x in o)]
    if not slow:
        return ""
    return (f"no answer in time to the start-up probe from {', '.join(slow)}; starting anyway: its calls are "
            "retried, and a model that keeps failing cools down (check api_base and llm.models[].timeout_s)")
