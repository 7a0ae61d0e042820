"""The guard's snapshot taken once in a fork server (Guard.prepare) catches in each forked child what a fresh
snapshot would: patched module and class attributes, replaced function code, deleted names, replaced
modules, and a function's code swapped in raw memory (which no dict write shows)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

SCRIPT = textwrap.dedent('''
    import ctypes, json, os, sys
    from sandbox.guard import Guard
    import evaluators.common as common

    guard = Guard((os.path.dirname(os.path.dirname(os.path.abspath(common.__file__))) + os.sep,))
    guard.prepare()
    prepared = guard._tags is not None

    def patch_module(): common.load_candidate = None
    def patch_class(): common.CandidateError.__doc__ = "forged"  # a key the class has (new ones are not watched)
    def patch_code(): common.failure.__code__ = (lambda reason: {"metrics": {}}).__code__
    def patch_defaults(): common.trim_traceback.__defaults__ = (1, ())
    def delete(): del common.call_candidate
    def replace_module(): sys.modules["json"] = os
    def raw_code():  # the function's code pointer overwritten in memory: no dict changes, no setattr
        other = (lambda reason: None).__code__
        ctypes.c_void_p.from_address(id(common.failure) + 48).value = id(other)
        keep.append(other)
    def honest(): import fractions  # a new module is no tampering

    keep, out = [], {"prepared": prepared}
    for name, act in [("none", lambda: None), ("module", patch_module), ("class", patch_class), ("code", patch_code),
                      ("defaults", patch_defaults), ("delete", delete), ("sys.modules", replace_module),
                      ("raw code", raw_code), ("new import", honest)]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            guard.arm()
            act()
            os.write(w, json.dumps(guard.reasons()).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        out[name] = json.loads(os.read(r, 1 << 16))
        os.close(r)
    print(json.dumps(out))
''')


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_prepared_snapshot_catches_in_each_child_what_a_fresh_one_would():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen.pop("prepared") is (sys.implementation.name == "cpython" and sys.version_info[:2] in ((3, 11), (3, 12)))
    assert seen.pop("none") == [] and seen.pop("new import") == []
    expect = {"module": "replaced evaluators.common.load_candidate",
              "class": "replaced evaluators.common.CandidateError.__doc__",
              "code": "replaced evaluators.common.failure.__code__",
              "defaults": "replaced evaluators.common.trim_traceback.__defaults__",
              "delete": "deleted evaluators.common.call_candidate",
              "sys.modules": "replaced module json in sys.modules",
              "raw code": "replaced evaluators.common.failure.__code__"}
    for name, reason in expect.items():
        assert any(reason in r for r in seen[name]), (name, seen[name])
