"""The `llm:` section of the problem YAML, and that litellm stays unimported until a model is called."""
from __future__ import annotations

import subprocess
import sys

import pytest

from evolve.problem import ProblemError, load_problem
from tests.conftest import write_problem
from tests.llm.fakes import BASE_YAML


def load(tmp_path, llm_yaml: str):
    return load_problem(write_problem(tmp_path / "p", BASE_YAML + llm_yaml))


def test_offline_stays_the_default_and_models_switch_to_llm(tmp_path):
    assert load(tmp_path, "").spec.llm.mutator == "offline"
    cfg = load(tmp_path, "llm:\n  models:\n    - {name: openai/gpt-4.1-mini, weight: 2}\n").spec.llm
    assert cfg.mutator == "llm" and cfg.models[0].weight == 2 and cfg.concurrency == 4
    assert (cfg.mutation.diff, cfg.mutation.rewrite, cfg.mutation.crossover) == (0.7, 0.2, 0.1)
    kept = load(tmp_path, "llm:\n  mutator: offline\n  models:\n    - {name: openai/x}\n").spec.llm
    assert kept.mutator == "offline"


def test_bad_llm_keys_name_the_key(tmp_path):
    with pytest.raises(ProblemError, match=r"key 'llm.models.0.nmae': unknown key"):
        load(tmp_path, "llm:\n  models:\n    - {nmae: openai/x}\n")
    with pytest.raises(ProblemError, match=r"mutator 'llm' needs at least one entry in llm.models"):
        load(tmp_path, "llm:\n  mutator: llm\n")
    with pytest.raises(ProblemError, match=r"llm.budget.max_usd"):
        load(tmp_path, "llm:\n  models: [{name: openai/x}]\n  budget: {max_usd: -1}\n")


def test_litellm_is_not_imported_by_the_cli_or_the_mutator_module():
    code = ("import sys, evolve.cli, evolve.mutate.llm, evolve.llm.commands, evolve.llm.preflight; "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
