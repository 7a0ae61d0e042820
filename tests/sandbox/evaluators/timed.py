"""Test evaluator: scores the candidate by speed (its clock captured before the import)."""
import numpy as np

from evaluators.common import call_candidate, load_candidate, perf_counter

SECRET = {"answer": 42}


def evaluate(program_path, workload):
    data = np.arange(1000, dtype=float)
    hidden = dict(SECRET)
    start = perf_counter()
    module = load_candidate(program_path)
    got = call_candidate(module.main, data.copy())
    elapsed = perf_counter() - start
    correct = bool(np.isclose(float(got), float(data.sum())))
    return {"metrics": {"valid": correct, "elapsed": elapsed, "score": hidden["answer"] if correct else 0},
            "artifacts": {}}
