"""Test evaluator: imports the candidate and returns whatever its `main()` returns as metrics."""
from evaluators.common import load_candidate, call_candidate


def evaluate(program_path, workload):
    module = load_candidate(program_path)
    return {"metrics": {"value": call_candidate(module.main)}, "artifacts": {}}
