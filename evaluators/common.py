"""Helpers every evaluator uses: load the candidate, call it safely, report failures.

Evaluators run inside the sandbox and never import `evolve`. The rule against reward
hacking: take what you measure with (timers here, reference data, validators) *before*
`load_candidate`, hand the candidate copies, and check its outputs yourself. The
sandbox runner adds tripwires for every evaluator (sandbox/guard.py: patched modules,
heap and stack inspection fail the run); `fingerprint` / `unchanged` catch a candidate
that edits the evaluator's reference data in place.
"""
from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

# Captured before any candidate is imported: the evaluator's own clocks.
perf_counter: Callable[[], float] = time.perf_counter
process_time: Callable[[], float] = time.process_time

TRACEBACK_LINES = 12


class CandidateError(Exception):
    """The candidate failed: raised, returned garbage, or lacks the required API."""


def trim_traceback(exc: BaseException, limit: int = TRACEBACK_LINES) -> str:
    """The last `limit` lines of an exception's traceback, for feedback to the user and LLM."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines).rstrip().splitlines()
    return "\n".join(text[-limit:])


def load_candidate(program_path: str | Path, module_name: str = "candidate"):
    """Import the candidate file as a fresh module; any error becomes a CandidateError."""
    path = Path(program_path)
    if not path.is_file():
        raise CandidateError(f"candidate file not found: {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CandidateError(f"cannot import candidate file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(module_name, None)
    try:
        spec.loader.exec_module(module)
    except MemoryError:
        raise  # the sandbox reports it as `oom`
    except BaseException as exc:  # SyntaxError, SystemExit, anything at import time
        raise CandidateError(f"importing the candidate failed:\n{trim_traceback(exc)}") from None
    return module


def require_callable(module, name: str) -> Callable[..., Any]:
    """The candidate's function `name`, or a CandidateError saying it is missing."""
    fn = getattr(module, name, None)
    if not callable(fn):
        raise CandidateError(f"the candidate must define a function `{name}`")
    return fn


def call_candidate(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Call candidate code; any exception (SystemExit included) becomes a CandidateError."""
    try:
        return fn(*args, **kwargs)
    except MemoryError:
        raise  # the sandbox reports it as `oom`
    except BaseException as exc:
        name = getattr(fn, "__name__", "candidate")
        raise CandidateError(f"`{name}` raised:\n{trim_traceback(exc)}") from None


def median_runtime(fn: Callable[[], Any], repeats: int = 5) -> float:
    """Median wall seconds of `repeats` calls of fn, timed with the evaluator's own clock."""
    import statistics
    times = []
    for _ in range(max(1, repeats)):
        start = perf_counter()
        call_candidate(fn)
        times.append(perf_counter() - start)
    return statistics.median(times)


def failure(reason: str, **metrics: Any) -> dict:
    """The result of an invalid candidate: `valid` false and the reason in artifacts."""
    return {"metrics": {"valid": False, **metrics}, "artifacts": {"error": reason}}


def fingerprint(value: Any) -> str:
    """A digest of reference data (arrays, dicts, lists, dataclasses), taken before the candidate runs."""
    import hashlib
    import pickle
    return hashlib.sha256(pickle.dumps(value, protocol=4)).hexdigest()


def unchanged(before: str, value: Any, what: str) -> None:
    """Raise CandidateError when `value` no longer matches the fingerprint taken before the candidate ran."""
    if fingerprint(value) != before:
        raise CandidateError(f"the candidate modified the evaluator's {what}; the run does not count")
