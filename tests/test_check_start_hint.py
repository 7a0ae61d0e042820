"""`evolve check` ends with an `evolve start` command that works for the problem it checked."""
from __future__ import annotations

import re
import shlex

import pytest

from evolve.commands.check import start_command
from evolve.problem import load_problem
from tests.conftest import write_problem
from tests.e2e.test_cli_runs import evolve


@pytest.mark.parametrize("yaml_name", ["problem.yaml", "other name.yaml"])
def test_the_suggested_start_command_starts_the_problem(tmp_path, yaml_name):
    folder = write_problem(tmp_path / "p")
    if yaml_name != "problem.yaml":  # a YAML file of another name: the folder alone is no problem
        (folder / "problem.yaml").rename(folder / yaml_name)
    check = evolve(tmp_path, "check", str(folder / yaml_name), timeout=240)
    assert check.returncode == 0, check.stdout + check.stderr
    suggested = re.search(r"Start with `(evolve start [^`]+)`", check.stdout.replace("\n", " "))
    assert suggested, check.stdout
    argv = shlex.split(suggested.group(1))[1:]
    started = evolve(tmp_path, *argv, "--iterations", "1", "--name", "hinted", timeout=240)
    assert started.returncode == 0, started.stdout + started.stderr
    assert (tmp_path / "runs" / "hinted" / "evolve.db").is_file()


def test_a_folder_is_suggested_only_for_its_problem_yaml(tmp_path):
    folder = write_problem(tmp_path / "p")
    assert start_command(load_problem(folder)) == f"evolve start {shlex.quote(str(folder.resolve()))}"
    (folder / "problem.yaml").rename(folder / "eplb.yaml")
    assert start_command(load_problem(folder / "eplb.yaml")) == \
        f"evolve start {shlex.quote(str((folder / 'eplb.yaml').resolve()))}"


def test_a_built_in_problem_is_suggested_by_its_name():
    assert start_command(load_problem("txn_scheduling")) == "evolve start txn_scheduling"
