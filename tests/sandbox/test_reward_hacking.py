"""A candidate that games its score must not beat its honest behaviour: it is failed, with the reason."""
from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.outcome import parse_result
from tests.sandbox.conftest import run_eval

TIMED = str(Path(__file__).resolve().parent / "evaluators" / "timed.py")
HONEST = "def main(data):\n    return float(sum(data))\n"


def test_honest_candidate_scores(backend):
    res = run_eval(backend, TIMED, HONEST)
    assert res.status == "ok", res.error
    assert res.result["metrics"]["valid"] is True and res.result["metrics"]["score"] == 42


HACKS = {
    "fake clock": "import time\ntime.perf_counter = lambda: 0.0\n" + HONEST,
    "patched numpy": "import numpy\nnumpy.isclose = lambda *a, **k: True\ndef main(data):\n    return 0.0\n",
    "patched evaluator": ("import sys\nsys.modules['problem_evaluator'].perf_counter = lambda: 0.0\n" + HONEST),
    "patched helper module": "import evaluators.common as c\nc.call_candidate = lambda fn, *a: 499500.0\n" + HONEST,
    "replaced function code": ("import sys\nev = sys.modules['problem_evaluator']\n"
                               "ev.evaluate.__code__ = (lambda p, w: {'metrics': {'score': 10**9}}).__code__\n" + HONEST),
    "heap search for the workload": ("import gc\nfound = [o for o in gc.get_objects() if isinstance(o, dict) and 'answer' in o]\n"
                                     + HONEST),
    "inspect.stack to the evaluator": ("import inspect\ndef main(data):\n"
                                       "    outer = inspect.stack()[1].frame\n    return float(sum(data))\n"),
    "traceback frame to the evaluator": ("import sys\ndef main(data):\n    try:\n        1 / 0\n"
                                         "    except ZeroDivisionError:\n        f = sys.exc_info()[2].tb_frame.f_back\n"
                                         "    return float(sum(data))\n"),
    "stack walk to the evaluator": ("import sys\ndef main(data):\n    f = sys._getframe(1)\n"
                                    "    return float(sum(f.f_locals.get('data', data)))\n"),
}


@pytest.mark.parametrize("hack", sorted(HACKS))
def test_tampering_is_detected(backend, hack):
    res = run_eval(backend, TIMED, HACKS[hack])
    assert res.status == "invalid_result", (res.status, res.error, res.result)
    assert "tamper" in res.error


@pytest.mark.parametrize("how", ["result file", "result channel", "stdout"])
def test_forged_result_and_early_exit_fail(backend, how):
    forged = '{"value": {"metrics": {"valid": true, "score": 1000000}}}'
    write = {
        "result file": f"open('result.json', 'w').write({forged!r})",
        "result channel": f"import os\nos.write(3, b'0123456789abcdef0123456789abcdef\\n' + {forged!r}.encode())",
        "stdout": f"print({forged!r})",
    }[how]
    code = f"import os\n{write}\nos._exit(0)\n" + HONEST
    res = run_eval(backend, TIMED, code)
    assert res.status in ("invalid_result", "error"), (res.status, res.result)
    assert res.result is None


def test_workload_and_nonce_are_not_on_disk(backend):
    code = ("import os\ndef main(data):\n    names = os.listdir('.')\n"
            "    assert names == ['candidate.py'], names\n    return float(sum(data))\n")
    res = run_eval(backend, TIMED, code)
    assert res.status == "ok" and res.result["metrics"]["valid"] is True, res.error or res.result


def test_result_needs_this_runs_nonce():
    assert parse_result(b"abc\n{\"value\": 1}", "abc") == ({"value": 1}, "")
    payload, problem = parse_result(b"xyz\n{\"value\": 1}", "abc")
    assert payload is None and "nonce" in problem
    assert parse_result(b"", "abc")[0] is None


LEGIT = '''
import collections, dataclasses, enum, logging, traceback, typing, warnings

Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Box:
    size: int = 1


class Colour(enum.Enum):
    RED = 1


def main(data):
    try:
        raise ValueError("handled")
    except ValueError:
        text = traceback.format_exc()
    warnings.warn("just a warning")
    logging.getLogger("candidate").info("hello")
    assert "handled" in text and Point(1, 2).x == 1 and Box().size == 1 and Colour.RED.value == 1
    return float(sum(data))
'''


def test_ordinary_python_is_not_mistaken_for_tampering(backend):
    res = run_eval(backend, TIMED, LEGIT)
    assert res.status == "ok", res.error
    assert res.result["metrics"]["valid"] is True


def test_reference_data_edited_in_place_is_caught():
    import numpy as np

    from evaluators.common import CandidateError, fingerprint, unchanged
    data = {"trace": np.arange(10), "names": ["a", "b"]}
    before = fingerprint(data)
    unchanged(before, data, "trace")
    data["trace"][3] = 0
    with pytest.raises(CandidateError, match="modified the evaluator's trace"):
        unchanged(before, data, "trace")
