"""Find a configuration that cannot work before the first candidate: keys, model names, api_base.

`check` looks at the environment and litellm's model list only; `probe` also
sends each model one tiny request (a few tokens) and reads the failure, if any.
"""
from __future__ import annotations

import os

from evolve.llm.client import Attempt, LLMConfigError, call_once, litellm

PROBE = [{"role": "user", "content": "Reply with the word ok."}]


def check_model(model) -> None:
    """Raise LLMConfigError naming the model and the fix when its key or name is wrong."""
    lib = litellm()
    if model.api_key_env and not os.environ.get(model.api_key_env):
        raise LLMConfigError(f"model {model.name}: the environment variable {model.api_key_env} (its api_key_env) "
                             f"is not set; export {model.api_key_env}=<your key> and start again")
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
    if attempt.outcome in ("ok", "empty", "rate_limited"):
        return ""
    where = f" at api_base {model.api_base}" if model.api_base else ""
    key = model.api_key_env or "the provider's API key variable"
    if attempt.status in (401, 403):
        return f"model {model.name}: the API key was refused{where}; check {key}"
    if attempt.status == 404:
        return f"model {model.name}: not found{where}; check the model name (and api_base)"
    if attempt.outcome == "timeout":
        return f"model {model.name}: no answer within {model.timeout_s:g} s{where}; check api_base or timeout_s"
    if attempt.outcome == "server_error" and "connection" in attempt.error.lower():
        return f"model {model.name}: cannot connect{where}; check api_base and that the server is running"
    if attempt.outcome == "server_error":
        return ""  # the provider is there, just failing now: retries and cooldown handle it
    if attempt.status == 400:
        return ""  # reached and understood (e.g. the probe's tiny max_tokens refused)
    return f"model {model.name}: the probe call failed{where}: {attempt.error[:300]}"


async def preflight(models: list, mode: str = "probe") -> list[Attempt]:
    """Raise LLMConfigError on the first unusable model; return the probe attempts (for the ledger)."""
    if mode == "off":
        return []
    for model in models:
        check_model(model)
    attempts = []
    if mode == "probe":
        for model in models:
            attempt = await call_once(model, PROBE, max_tokens=5, timeout=min(model.timeout_s, 30.0))
            attempts.append(attempt)
            problem = explain_probe(model, attempt)
            if problem:
                raise LLMConfigError(problem)
    return attempts
