"""eplb's prepare(): the search's workloads built once, each evaluation and probe handed a copy."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import evaluators.eplb as eplb

ROOT = Path(__file__).resolve().parents[2]
INITIAL = str(ROOT / "problems" / "eplb" / "initial.py")
PROBE = {"name": "drift-lognormal", "seeds": [0, 1], "layers": 4, "eval_windows": 2}
SMOKE = {"name": "small", "seed": 1, "repeats": 1}


def test_prepared_workloads_give_the_same_results_and_hand_out_copies(monkeypatch):
    monkeypatch.setattr(eplb, "_PREPARED", {})
    cold_probe, cold = eplb.probe(INITIAL, PROBE), eplb.evaluate(INITIAL, SMOKE)
    eplb.prepare(PROBE)
    eplb.prepare(SMOKE)
    assert len(eplb._PREPARED) == 2 + 1  # the probe's two seeds; the stage (its seed given: one form)
    assert eplb.probe(INITIAL, PROBE) == cold_probe
    warm = eplb.evaluate(INITIAL, SMOKE)
    assert warm["metrics"]["balancedness_next"] == cold["metrics"]["balancedness_next"]
    for spec in (SMOKE, *eplb._seeded(PROBE)):  # what an evaluation gets shares no memory with what was built
        handed, kept = eplb._workload(spec), eplb._PREPARED[eplb._key(spec)]
        assert np.array_equal(handed.load, kept.load) and not np.shares_memory(handed.load, kept.load)
