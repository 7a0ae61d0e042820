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
import os
import sys
import time
import traceback
from typing import Any, Callable

# Captured before any candidate is imported: the evaluator's own clocks.
perf_counter: Callable[[], float] = time.perf_counter
process_time: Callable[[], float] = time.process_time

TRACEBACK_LINES = 40  # a safety cap: trimmed to the candidate's frames, a traceback is rarely longer

_HERE = os.path.dirname(os.path.abspath(__file__))
_PLUMBING = (os.path.join(os.path.dirname(_HERE), "sandbox") + os.sep, os.path.dirname(traceback.__file__) + os.sep)
_CANDIDATES: set[str] = set()  # files load_candidate imported: their frames are the candidate's


class CandidateError(Exception):
    """The candidate failed: raised, returned garbage, or lacks the required API."""


def trim_traceback(exc: BaseException, limit: int = TRACEBACK_LINES, files: tuple[str, ...] = ()) -> str:
    """The traceback from the candidate's first frame on (files load_candidate imported, plus `files`),
    at most `limit` lines: what the user and the LLM need, without the evaluator's and the runner's frames.

    Without a candidate frame (an evaluator's own error) only the leading runner and import frames go.
    """
    candidates = _CANDIDATES | {os.path.abspath(f) for f in files}
    top = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen, pending = set(), [top]
    while pending:  # the exception and those it was raised from or while handling
        te = pending.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list(_candidate_frames(list(te.stack), candidates))
        pending += [t for t in (te.__cause__, te.__context__) if t is not None]
    lines = "".join(top.format()).rstrip().splitlines()
    if len(lines) > limit:
        lines = [f"({len(lines) - limit + 1} earlier lines cut)"] + lines[-(limit - 1):]
    return "\n".join(lines)


def _candidate_frames(frames: list, candidates: set[str]) -> list:
    """The frames from the candidate's first one on; without one, all but the leading plumbing."""
    for i, frame in enumerate(frames):
        if os.path.abspath(frame.filename) in candidates:
            return frames[i:]
    i = 0
    while i < len(frames) and _is_plumbing(frames[i].filename):
        i += 1
    return frames[i:]


def _is_plumbing(filename: str) -> bool:
    """The sandbox runner, this module, the import machinery and the standard library."""
    if filename.startswith("<frozen "):
        return True
    if filename.startswith(_PLUMBING) and "site-packages" not in filename:
        return True
    return os.path.abspath(filename) == os.path.abspath(__file__)


def load_candidate(program_path: str | os.PathLike, module_name: str = "candidate"):
    """Import the candidate file as a fresh module; any error becomes a CandidateError."""
    path = os.fspath(program_path)  # no pathlib: the sandbox runner imports this module and must start fast
    if not os.path.isfile(path):
        raise CandidateError(f"candidate file not found: {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CandidateError(f"cannot import candidate file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(module_name, None)
    _CANDIDATES.add(os.path.abspath(path))
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


def guarded_step(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A per-tick policy `step(state)` whose exceptions (SystemExit included) become a CandidateError
    naming `state.tick`, with the candidate's traceback: simulators call it once per tick."""
    def guarded(state):
        try:
            return step(state)
        except BaseException as exc:  # the candidate's failure, reported with its traceback
            raise CandidateError(f"tick {state.tick}: `step` raised:\n{trim_traceback(exc)}") from None
    return guarded


def probe_decisions(program_path: str | os.PathLike, api: str,
                    decide: Callable[[Callable[..., Any]], tuple[Any, str]]) -> Any:
    """A probe's answer for the functional hash: the candidate's decisions, or {"error": reason}.

    `decide(fn)` gets the candidate's function `api` and returns (decisions, "") or (None, reason) when
    an answer was invalid; a CandidateError (import, missing API, a raise) becomes the error too.
    """
    try:
        decisions, reason = decide(require_callable(load_candidate(program_path), api))
    except CandidateError as exc:
        return {"error": str(exc)}
    return decisions if decisions is not None else {"error": reason}
