"""Suite files: what a valid one plans, and errors that name the file, the line, the key and the fix."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evolve.bench import manifest
from evolve.bench.suite import SuiteError, load_suite
from tests.conftest import ROOT, write_problem

GOOD = """\
name: t
problems: [./tiny]
arms:
  - {name: plain}
  - {name: tourn, settings: {evolution.selection: tournament}}
seeds: [0, 3]
budget: {iterations: 5, wall_time: 2m}
settings: {sandbox.wall_s: 7}
"""


def _suite(tmp_path: Path, text: str) -> Path:
    write_problem(tmp_path / "tiny")
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _suite(tmp_path, text)
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    message = str(exc.value)
    assert str(path) in message  # every error names the file
    return message


def test_plan_names_runs_and_layers_settings(tmp_path):
    suite = load_suite(_suite(tmp_path, GOOD))
    plan = suite.plan("b")
    assert [p.run for p in plan] == ["b.tiny.plain.s0", "b.tiny.tourn.s0", "b.tiny.plain.s3", "b.tiny.tourn.s3"]
    assert plan[1].settings == {"evolution.budget.iterations": 5, "evolution.budget.wall_time": "2m",
                                "sandbox.wall_s": 7, "evolution.selection": "tournament", "evolution.seed": 0}
    assert plan[0].problem_path == str((tmp_path / "tiny" / "problem.yaml").resolve())  # beside the suite file


def test_builtin_problem_and_max_usd(tmp_path):
    suite = load_suite(_suite(tmp_path, GOOD.replace("./tiny", "cache_eviction").replace(
        "iterations: 5, wall_time: 2m", "max_usd: 1.5")))
    assert suite.problems == {"cache_eviction": str(ROOT / "problems" / "cache_eviction" / "problem.yaml")}
    assert suite.plan("b")[0].settings["llm.budget.max_usd"] == 1.5


def test_unknown_suite_key_names_line_and_known_keys(tmp_path):
    message = _error(tmp_path, GOOD + "parallel: 3\n")
    assert "line 9: key 'parallel': unknown key" in message and "seeds, budget" in message


def test_missing_and_empty_budget(tmp_path):
    assert "key 'budget': required key is missing" in _error(tmp_path, GOOD.replace(
        "budget: {iterations: 5, wall_time: 2m}\n", ""))
    message = _error(tmp_path, GOOD.replace("{iterations: 5, wall_time: 2m}", "{}"))
    assert "line 7: key 'budget'" in message and "at least one of iterations, wall_time, max_usd" in message
    assert "key 'budget.wall_time'" in _error(tmp_path, GOOD.replace("2m", "soon"))
    assert "key 'budget.iterations'" in _error(tmp_path, GOOD.replace("iterations: 5", "iterations: 0"))


def test_seeds_and_arms_checked(tmp_path):
    assert "a seed is listed twice" in _error(tmp_path, GOOD.replace("[0, 3]", "[1, 1]"))
    assert "0 or more" in _error(tmp_path, GOOD.replace("[0, 3]", "[-1]"))
    assert "key 'seeds'" in _error(tmp_path, GOOD.replace("[0, 3]", "[]"))
    assert "tourn used twice" in _error(tmp_path, GOOD.replace("name: plain", "name: tourn"))
    assert "quote it" in _error(tmp_path, GOOD.replace("name: plain", "name: off"))
    message = _error(tmp_path, GOOD.replace("name: plain", "name: 'a.b'"))
    assert "line 4: key 'arms.0.name': 'a.b' is not a usable name" in message


def test_setting_with_a_wrong_key_suggests_the_right_one(tmp_path):
    message = _error(tmp_path, GOOD.replace("evolution.selection: tournament", "evolution.selction: tournament"))
    assert "line 5: key 'arms.1.settings'" in message
    assert "did you mean `evolution.selection`?" in message


def test_setting_with_a_wrong_value_names_arm_and_problem(tmp_path):
    message = _error(tmp_path, GOOD.replace("selection: tournament", "selection: tournamnt"))
    assert ":5: arm 'tourn' on problem 'tiny'" in message and "'tournament'" in message


def test_seed_belongs_to_seeds(tmp_path):
    message = _error(tmp_path, GOOD.replace("{sandbox.wall_s: 7}", "{evolution.seed: 4}"))
    assert "key 'settings'" in message and "seeds come from the suite's `seeds` list" in message


def test_unknown_and_duplicate_problems(tmp_path):
    message = _error(tmp_path, GOOD.replace("[./tiny]", "[./tiny, ./nowhere]"))
    assert ":2: problems[1] './nowhere'" in message and "no such problem" in message
    message = _error(tmp_path, GOOD.replace("[./tiny]", "[./tiny, tiny/problem.yaml]"))
    assert "a second problem named 'tiny'" in message


def test_not_a_suite(tmp_path):
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "none.yaml")
    assert "not valid YAML" in _error(tmp_path, "problems: [\n")
    assert "a suite file is a YAML mapping" in _error(tmp_path, "- a\n")


def test_bench_folder_is_made_once(tmp_path):
    suite = load_suite(_suite(tmp_path, GOOD))
    bench = manifest.create(suite, "t", tmp_path / "runs", None)
    assert bench.db_url.endswith("runs/bench-t/bench.db")
    back = manifest.load(tmp_path / "runs", "t")
    assert back.runs == bench.runs and back.problems() == ["tiny"] and back.seeds() == [0, 3]
    with pytest.raises(manifest.BenchError, match="--resume t"):
        manifest.create(suite, "t", tmp_path / "runs", None)
    with pytest.raises(manifest.BenchError, match=r"benches there: t\)"):
        manifest.load(tmp_path / "runs", "u")


def test_builtin_suites_are_valid():
    for path in sorted((ROOT / "suites").glob("*.yaml")):
        suite = load_suite(path)
        assert suite.plan("x"), path
    smoke = load_suite(ROOT / "suites" / "smoke.yaml")
    assert len(smoke.plan("s")) == 8
    adrs = load_suite(ROOT / "suites" / "adrs.yaml")
    built_in = {p.name for p in (ROOT / "problems").iterdir() if (p / "problem.yaml").is_file()}
    assert set(adrs.problems) == built_in - {"moe_gating_triton"}  # it needs a GPU (see the suite's comment)
