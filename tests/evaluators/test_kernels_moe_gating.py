"""moe_gating_triton: the kernels under Triton's interpreter (no GPU here), the reference, bad kernels."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import importlib.util

import pytest

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed: pip install -e '.[gpu]'", allow_module_level=True)
# the evaluator decides this in a fresh sandbox process before triton is imported; in the
# test process triton must see it before its first import too (tests run the CPU path)
os.environ["TRITON_INTERPRET"] = "1"
torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[gpu]'")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluators.kernels import moe_gating as M  # noqa: E402

PROBLEM = ROOT / "problems" / "moe_gating_triton"
CPU = {"EVOLVE_GPUS": "0"}  # as the sandbox says "no GPU"
SHAPES = {"shapes": [[1, 8, 1], [5, 64, 2], [6, 160, 4]]}
BROKEN_KERNEL = PROBLEM.joinpath("initial.py").read_text()


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    for key, value in CPU.items():
        monkeypatch.setenv(key, value)


def write(tmp_path, code: str) -> str:
    path = tmp_path / "cand.py"
    path.write_text(code)
    return str(path)


def test_reference_ties_go_to_lower_index_and_weights_renormalize():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    w, idx = M.reference(logits, 2)
    assert idx.tolist() == [[1, 2], [0, 1]]
    assert w.tolist() == [[0.5, 0.5], [0.5, 0.5]]
    w1, idx1 = M.reference(torch.tensor([[0.0, 1.0]]), 2)
    e = torch.exp(torch.tensor(1.0))
    assert idx1.tolist() == [[1, 0]] and w1[0, 0].item() == pytest.approx((e / (1 + e)).item())


def test_logits_have_ties_and_are_seeded():
    a = M.make_logits(16, 64, 3, "cpu")
    assert torch.equal(a, M.make_logits(16, 64, 3, "cpu"))
    assert (a[1] == a[1, 0]).all()
    assert a.unique().numel() < a.numel()


@pytest.mark.parametrize("program", ["initial.py", "improved.py"])
def test_kernels_correct_under_interpreter(program):
    out = M.evaluate(str(PROBLEM / program), {"stage": "correctness", **SHAPES})
    assert out["metrics"] == {"valid": True, "correct": True, "max_abs_err": out["metrics"]["max_abs_err"],
                              "shapes_checked": 3, "interpreted": True}, out["artifacts"]
    assert out["metrics"]["max_abs_err"] < 1e-6
    assert "TRITON_INTERPRET=1" in out["artifacts"]["device"] and os.environ["TRITON_INTERPRET"] == "1"


def test_speed_stage_skipped_with_reason_never_faked():
    out = M.evaluate(str(PROBLEM / "initial.py"), {"stage": "speed"})
    assert out["metrics"] == {"valid": True, "speed_measured": False}
    assert "no CUDA device" in out["artifacts"]["skipped"] and "EVOLVE_GPUS=0" in out["artifacts"]["skipped"]


def test_probe_reports_chosen_experts():
    got = M.probe(str(PROBLEM / "initial.py"), {})
    assert got == M.probe(str(PROBLEM / "improved.py"), {})
    assert [len(shape["indices"]) for shape in got] == [t for t, _, _ in M.INTERPRETER_SHAPES]


def test_cost_only_evaluation_skips_correctness():
    out = M.evaluate(str(PROBLEM / "initial.py"), {"stage": "correctness", "measure": "cost"})
    assert out["metrics"] == {}


@pytest.mark.parametrize("old, new, reason", [
    ("tl.store(indices_ptr + out, idx, mask=slots < K)", "tl.store(indices_ptr + out, idx + 1, mask=slots < K)",
     "indices["),
    ("w = w / tl.sum(w, axis=0)", "w = w / tl.sum(w, axis=0) * 1.01", "weights["),
    ("w = w / tl.sum(w, axis=0)", "w = w / 0.0 - w / 0.0", "finite"),
    ("dtype=torch.float32, device", "dtype=torch.float64, device", "float32"),
    ("weights = torch.empty((tokens, k)", "weights = torch.empty((tokens, k + 1)", "shape"),
    ("row = tl.program_id(0)", "row = tl.program_id(0) + undefined_name", "undefined_name"),
    ("def moe_gating(logits, k):", "def moe_gating(logits, k):\n    return torch.topk(logits, k)\n", "Triton"),
    ("return weights, indices\n# EVOLVE", "return weights\n# EVOLVE", "(weights, indices)"),
])
def test_bad_kernels_fail_with_reason(tmp_path, old, new, reason):
    assert old in BROKEN_KERNEL
    out = M.evaluate(write(tmp_path, BROKEN_KERNEL.replace(old, new, 1)), {"stage": "correctness", **SHAPES})
    assert out["metrics"]["valid"] is False
    assert reason in out["artifacts"]["error"], out["artifacts"]["error"]


def test_unknown_workload_key_is_a_failure():
    out = M.evaluate(str(PROBLEM / "initial.py"), {"stage": "fast"})
    assert out["metrics"]["valid"] is False and "stage" in out["artifacts"]["error"]
