"""`--set KEY=VALUE`: parsed and checked against the schema, validated like the file, stored by the run."""
from __future__ import annotations

import argparse
import json
import re
import sqlite3

import pytest

from evolve import budget, overrides
from evolve.cli import main
from evolve.problem import ProblemError, load_problem
from evolve.runs import Overrides
from tests.conftest import TINY_HEAD, write_problem
from tests.e2e.test_cli_runs import evolve


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny problem in tmp_path/tiny, with the working directory at tmp_path (runs go to ./runs)."""
    monkeypatch.chdir(tmp_path)
    return write_problem(tmp_path / "tiny")


def load(folder, *settings: str, **flags):
    return overrides.load(folder, Overrides(settings=overrides.collect([overrides.parse(s) for s in settings]),
                                            **flags))


# --- parsing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, key, value", [
    ("llm.retries=5", "llm.retries", 5),
    ("dedup.functional=false", "dedup.functional", False),
    ("evolution.budget.wall_time=30m", "evolution.budget.wall_time", "30m"),
    ("evolution.budget.wall_time=", "evolution.budget.wall_time", None),
    ("llm.budget={max_usd: 5}", "llm.budget", {"max_usd": 5}),
    ("evolution.features=[]", "evolution.features", []),
    ("llm.models.0.timeout_s=30", "llm.models[0].timeout_s", 30),
    ("llm.models[].timeout_s=30", "llm.models[].timeout_s", 30),
    ("workloads.stages[0].workload.target=20", "workloads.stages[0].workload.target", 20),
    ("description='a: b'", "description", "a: b"),
])
def test_values_are_yaml_and_keys_canonical(text, key, value):
    assert overrides.parse(text) == (key, value)


@pytest.mark.parametrize("text, expected", [
    ("llm.timout_s=30", (r"unknown key `llm.timout_s`.*did you mean `llm.models\[\].timeout_s`.*Known keys "
                         r"under `llm`: mutator, models,.*retries")),
    ("llm.max_usd=5", r"did you mean `llm.budget.max_usd`"),
    ("evolution.iteration=5", r"did you mean `evolution.budget.iterations`"),
    ("nonsense=1", r"unknown key `nonsense`.*Known keys at the top: name, description"),
    ("llm.retries", r"not KEY=VALUE"),
    ("=5", r"not KEY=VALUE"),
    ("llm.models.timeout_s=3", r"`llm.models` holds a list.*llm.models\[\].timeout_s"),
    ("llm.retries.more=1", r"`llm.retries` holds a value"),
    ("llm..retries=1", r"not a key path"),
    ("llm.retries=[1", r"not YAML"),
])
def test_bad_settings_name_the_key_and_the_fix(text, expected):
    with pytest.raises(argparse.ArgumentTypeError, match=expected):
        overrides.parse(text)


def test_collect_keeps_order_and_the_last_of_a_key():
    got = overrides.collect([("a.b", 1), ("c", 2), ("a.b", 3)])
    assert list(got.items()) == [("c", 2), ("a.b", 3)]


# --- applying and validating -----------------------------------------------------------------------

def test_settings_reach_the_validated_problem(tmp_path):
    folder = write_problem(tmp_path / "p")  # the tiny YAML has no llm, dedup or seed keys: they are made
    problem = load(folder, "llm.retries=5", "dedup.functional=false", "evolution.seed=7",
                   "evolution.budget.iterations=20", "llm.budget.max_usd=5", "sandbox.gpus=auto")
    spec = problem.spec
    assert (spec.llm.retries, spec.dedup.functional, spec.evolution.seed) == (5, False, 7)
    assert (spec.evolution.budget.iterations, spec.llm.budget.max_usd, spec.sandbox.gpus) == (20, 5, "auto")
    assert spec.evolution.concurrency == 2  # what no setting names is the file's
    assert list(problem.settings) == ["llm.retries", "dedup.functional", "evolution.seed",
                                      "evolution.budget.iterations", "llm.budget.max_usd", "sandbox.gpus"]


def test_every_entry_and_one_entry_of_a_list(tmp_path):
    models = "llm:\n  models:\n    - {name: openai/a, api_base: 'http://127.0.0.1:1/v1'}\n" \
             "    - {name: openai/b, api_base: 'http://127.0.0.1:1/v1'}\n"
    folder = write_problem(tmp_path / "p", TINY_HEAD + "    - {name: only}\n" + models)
    spec = load(folder, "llm.models[].timeout_s=30", "llm.models[1].timeout_s=9").spec
    assert [m.timeout_s for m in spec.llm.models] == [30, 9]
    with pytest.raises(ProblemError, match=r"--set llm.models\[2\].name=x: `llm.models` has 2 entries, so \[2\] "
                                           r"is past its end"):
        load(folder, "llm.models[2].name=x")


def test_a_bad_value_names_the_flag_not_the_file(tmp_path):
    folder = write_problem(tmp_path / "p")
    with pytest.raises(ProblemError, match=r"^--set llm.retries=-1: key 'llm.retries': Input should be greater "
                                           r"than or equal to 0 \(got -1\)"):
        load(folder, "llm.retries=-1")
    with pytest.raises(ProblemError, match=r"^--set llm.mutator=llm: key 'llm': .*needs at least one entry"):
        load(folder, "llm.mutator=llm")
    with pytest.raises(ProblemError, match=r"^--set evolution.budget=5: key 'evolution.budget'"):
        load(folder, "evolution.budget=5")


def test_an_error_of_the_file_stays_the_files(tmp_path):
    folder = write_problem(tmp_path / "p", TINY_HEAD + "    - {name: only}\nllm: {retries: -3}\n")
    with pytest.raises(ProblemError) as got:
        load(folder, "dedup.functional=false")
    message = str(got.value)
    assert message.startswith(f"{folder / 'problem.yaml'}: invalid problem file") and "--set" not in message
    assert load(folder, "llm.retries=1").spec.llm.retries == 1  # a --set may mend it


def test_a_flag_and_a_set_of_the_same_key_conflict(tmp_path):
    folder = write_problem(tmp_path / "p")
    for flags, setting in [({"iterations": 4}, "evolution.budget.iterations=3"),
                           ({"iterations": 4}, "evolution.budget={iterations: 3}"),
                           ({"concurrency": 2}, "evolution.concurrency=3"),
                           ({"executor": "local"}, "executor.kind=ray"),
                           ({"models": ["openai/x"]}, "llm.models=[{name: openai/y}]")]:
        with pytest.raises(ProblemError, match=r"--set .* and --\S+ both set `"):
            load(folder, setting, **flags)


def test_a_set_below_model_applies_to_the_model_models(tmp_path):
    folder = write_problem(tmp_path / "p")
    spec = load(folder, "llm.models[].timeout_s=7", models=["openai/x", "openai/y"],
                api_base="http://127.0.0.1:9/v1").spec
    assert [(m.name, m.timeout_s, m.api_base) for m in spec.llm.models] == \
        [("openai/x", 7, "http://127.0.0.1:9/v1"), ("openai/y", 7, "http://127.0.0.1:9/v1")]
    assert spec.llm.mutator == "llm"


def test_remembered_settings_apply_under_the_new_ones_and_give_way_to_flags(tmp_path):
    folder = write_problem(tmp_path / "p")
    kept = {"llm.retries": 5, "evolution.seed": 7, "evolution.budget.iterations": 9}
    o = Overrides(settings={"evolution.seed": 8}, iterations=30)
    problem = overrides.load(folder, o, kept, "r")
    assert (problem.spec.llm.retries, problem.spec.evolution.seed) == (5, 8)
    assert problem.spec.evolution.budget.iterations == 5  # the file's: --iterations takes its place this time
    assert problem.settings == {"llm.retries": 5, "evolution.budget.iterations": 9, "evolution.seed": 8}
    with pytest.raises(ProblemError, match=r"--set llm.retries=-2 \(remembered by run r; give --set llm.retries="):
        overrides.load(folder, Overrides(), {"llm.retries": -2}, "r")


def test_a_budget_set_on_resume_wins_over_the_runs_budget(tmp_path):
    folder = write_problem(tmp_path / "p")
    stored = {"evolution": {"budget": {"iterations": 40, "patience": 3}, "concurrency": 4}}
    o = Overrides(settings={"evolution.budget.iterations": 12, "evolution.budget.patience": None})
    chosen = budget.plan(overrides.load(folder, o), stored, o)
    assert (chosen.limits.iterations, chosen.limits.patience, chosen.concurrency) == (12, None, 4)
    assert chosen.source["iterations"] == "command line, --set" and chosen.source["concurrency"] == "the run"
    plain = budget.plan(load_problem(folder), stored, Overrides())
    assert plain.limits.iterations == 40


# --- through the CLI -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["--set", "llm.timout_s=30"], r"argument --set: 'llm.timout_s=30': unknown key `llm.timout_s`.*Known keys"),
    (["--set", "llm.retries=-1"], r"--set llm.retries=-1: key 'llm.retries'"),
    (["--set", "evolution.budget.iterations=3", "--iterations", "4"], r"both set `evolution.budget.iterations`"),
])
def test_bad_input_exits_2_and_writes_nothing(tiny, capsys, argv, expected):
    try:
        code = main(["start", "tiny", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(expected, err), err
    assert not (tiny.parent / "runs").exists()


def test_a_run_stores_and_shows_its_settings_and_resume_keeps_them(tiny):
    cwd = tiny.parent
    done = evolve(cwd, "start", "tiny", "--name", "s", "--set", "evolution.budget.iterations=2",
                  "--set", "dedup.functional=false", "--set", "evolution.seed=7", timeout=240)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "settings (--set): evolution.budget.iterations=2, dedup.functional=false, evolution.seed=7" in done.stdout
    con = sqlite3.connect(cwd / "runs" / "s" / "evolve.db")
    config, seed = con.execute("SELECT config, seed FROM runs").fetchone()
    config = json.loads(config)
    assert config["overrides"] == {"evolution.budget.iterations": 2, "dedup.functional": False, "evolution.seed": 7}
    assert config["dedup"]["functional"] is False and config["evolution"]["seed"] == 7 and seed == 7
    assert con.execute("SELECT COUNT(*) FROM programs WHERE iteration > 0").fetchone()[0] == 2
    con.close()
    status = evolve(cwd, "status", "s", "--json")
    assert json.loads(status.stdout)["overrides"] == config["overrides"]
    again = evolve(cwd, "resume", "s", "--set", "evolution.budget.iterations=4", "--set", "llm.retries=1",
                   timeout=240)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "iterations 4 (command line, --set)" in again.stdout
    con = sqlite3.connect(cwd / "runs" / "s" / "evolve.db")
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    assert config["overrides"] == {"dedup.functional": False, "evolution.seed": 7,
                                   "evolution.budget.iterations": 4, "llm.retries": 1}
    assert config["llm"]["retries"] == 1
    # the run's own settings applied again: `evolution`, rewritten from the resumed spec, keeps seed 7
    assert config["evolution"]["seed"] == 7 and config["dedup"]["functional"] is False
    assert con.execute("SELECT COUNT(*) FROM programs WHERE iteration > 0").fetchone()[0] == 4
