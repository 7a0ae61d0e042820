from pathlib import Path

import pytest

from evolve.problem import ProblemError, load_problem, parse_duration, resolve_problem_path
from tests.conftest import write_problem


def test_builtin_problem_loads_by_name():
    problem = load_problem("cache_eviction")
    assert problem.name == "cache_eviction"
    assert problem.spec.objectives[0].name == "hit_rate"
    assert "EVOLVE-BLOCK-START" in problem.initial_code
    assert problem.evaluator_ref == "evaluators.caching"


def test_tiny_problem_resolves_file_evaluator(tiny_problem):
    problem = load_problem(tiny_problem)
    assert problem.evaluator_ref == str((tiny_problem / "evaluate.py").resolve())
    assert problem.spec.evolution.budget.iterations == 5


def _yaml_with(tiny_problem: Path, old: str, new: str) -> Path:
    path = tiny_problem / "problem.yaml"
    path.write_text(path.read_text().replace(old, new))
    return path


def test_unknown_key_names_file_key_and_line(tiny_problem):
    path = _yaml_with(tiny_problem, "  concurrency: 2", "  concurency: 2")
    with pytest.raises(ProblemError) as err:
        load_problem(path)
    msg = str(err.value)
    assert str(path) in msg and "evolution.concurency" in msg and "line 15:" in msg
    assert "unknown key" in msg


def test_wrong_type_is_explained(tiny_problem):
    _yaml_with(tiny_problem, "iterations: 5", "iterations: many")
    with pytest.raises(ProblemError, match=r"evolution\.budget\.iterations.*'many'"):
        load_problem(tiny_problem)


def test_bad_direction(tiny_problem):
    _yaml_with(tiny_problem, "direction: max", "direction: up")
    with pytest.raises(ProblemError, match=r"objectives\.0\.direction"):
        load_problem(tiny_problem)


def test_missing_program_file(tiny_problem):
    _yaml_with(tiny_problem, "program: initial.py", "program: nope.py")
    with pytest.raises(ProblemError, match=r"key 'program'.*nope\.py does not exist"):
        load_problem(tiny_problem)


def test_missing_required_key(tiny_problem):
    _yaml_with(tiny_problem, "description: make value() return 10\n", "")
    with pytest.raises(ProblemError, match=r"key 'description': required key is missing"):
        load_problem(tiny_problem)


def test_evaluator_module_that_cannot_be_imported(tiny_problem):
    _yaml_with(tiny_problem, "evaluator: ./evaluate.py", "evaluator: evaluators.no_such_thing")
    with pytest.raises(ProblemError, match=r"problem.yaml:4: key 'evaluator'.*cannot be imported"):
        load_problem(tiny_problem)


def test_program_without_markers(tmp_path):
    folder = write_problem(tmp_path / "p", program="def value():\n    return 1\n")
    with pytest.raises(ProblemError, match="EVOLVE-BLOCK-START"):
        load_problem(folder)


def test_broken_yaml_syntax(tiny_problem):
    (tiny_problem / "problem.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ProblemError, match="not valid YAML"):
        load_problem(tiny_problem)


def test_missing_problem_lists_builtins(tmp_path):
    with pytest.raises(ProblemError, match="cache_eviction"):
        resolve_problem_path(tmp_path / "absent")


def test_condition_needs_a_bound(tiny_problem):
    _yaml_with(tiny_problem, "{name: valid, equals: true}", "{name: valid}")
    with pytest.raises(ProblemError, match="needs `equals`, `min` or `max`"):
        load_problem(tiny_problem)


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("4h", 14400), ("1d", 86400), ("12", 12)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
