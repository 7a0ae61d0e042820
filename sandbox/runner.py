"""The in-sandbox entry point: import the evaluator, call it, write result.json.

Usage (inside the work dir): python -m sandbox.runner request.json
request.json: {"evaluator": "evaluators.x" | "/abs/evaluate.py", "function": "evaluate" | "probe",
               "program": "candidate.py", "workload": {...}}
Imports nothing from `evolve`: it must start fast and trust nothing.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import resource
import sys
import traceback

RESULT_FILE = "result.json"


def _load_evaluator(ref: str):
    if ref.endswith(".py"):
        spec = importlib.util.spec_from_file_location("problem_evaluator", ref)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(ref)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write(payload: dict) -> None:
    tmp = RESULT_FILE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, allow_nan=True, default=_jsonable)
    os.replace(tmp, RESULT_FILE)


def _jsonable(value):
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as fh:
        request = json.load(fh)
    try:
        evaluator = _load_evaluator(request["evaluator"])
        fn = getattr(evaluator, request["function"])
        value = fn(os.path.abspath(request["program"]), request.get("workload") or {})
    except MemoryError:
        _write({"error": "MemoryError", "oom": True, "cpu_s": _cpu_seconds()})
        return 3
    except BaseException as exc:  # the evaluator itself failed: report, never hang
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        _write({"error": "\n".join(tb.rstrip().splitlines()[-15:]), "cpu_s": _cpu_seconds()})
        return 1
    _write({"value": value, "cpu_s": _cpu_seconds()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
