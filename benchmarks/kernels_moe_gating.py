"""moe_gating_triton: evaluate initial.py and improved.py (correctness, and speed where CUDA is).

python benchmarks/kernels_moe_gating.py
On a machine without CUDA the kernels run under Triton's interpreter and no speed is reported.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.kernels import moe_gating as M  # noqa: E402


def main() -> None:
    for program in ("initial.py", "improved.py"):
        path = str(ROOT / "problems" / "moe_gating_triton" / program)
        for stage in ("correctness", "speed"):
            out = M.evaluate(path, {"stage": stage})
            print(program, stage, json.dumps(out["metrics"]))
            if stage == "speed":
                for row in out["artifacts"].get("shapes", []):
                    print("   ", json.dumps(row))
                if "skipped" in out["artifacts"]:
                    print("   ", out["artifacts"]["skipped"])


if __name__ == "__main__":
    main()
