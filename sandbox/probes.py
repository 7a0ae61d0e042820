"""A minimal evaluator for probe runs (`evolve doctor`, tests): it returns what the candidate's main() returns."""
from evaluators.common import call_candidate, load_candidate


def evaluate(program_path, workload):
    module = load_candidate(program_path)
    return {"metrics": {"value": call_candidate(module.main)}, "artifacts": {}}
