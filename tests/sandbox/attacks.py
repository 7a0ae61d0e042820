"""A hostile candidate that hunts for held-out data and host files, and the problem it attacks.

Imported by the tests, and run as a controller script (possibly as another user) by
tests/sandbox/test_root.py: `python attacks.py BACKEND PROBLEM_DIR TARGETS_JSON` prints what
the candidate managed, as JSON. Needs only the standard library and the `sandbox` package.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path

MARKER = "HELD-OUT-MARKER-d41c9e"

PROBLEM_YAML = f"""\
name: hidden
description: a held-out section that no candidate may read
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {{name: value, direction: max}}
workloads:
  stages:
    - {{name: search, workload: {{seed: 1}}}}
  holdout:
    - {{name: secret, workload: {{seed: 99, tag: {MARKER}}}}}
"""

EVALUATOR = """\
from pathlib import Path
from evaluators.common import call_candidate, load_candidate

def evaluate(program_path, workload):
    data = Path(__file__).parent / "data" / "table.txt"  # declared in sandbox.evaluator_files
    table = data.read_text().strip() if data.exists() else None
    value = call_candidate(load_candidate(program_path).main)
    return {"metrics": {"value": value, "table": table}, "artifacts": {}}
"""


def make_problem(parent: str | None = None, owner: int | None = None) -> Path:
    """A problem folder others may read (mode 755/644, as a user's checkout is) with MARKER in its
    held-out section, an evaluator beside it, its declared data, and an undeclared secret file."""
    folder = Path(tempfile.mkdtemp(prefix="evolve-holdout-test-", dir=parent or "/tmp"))
    (folder / "data").mkdir()
    (folder / "data" / "table.txt").write_text("42\n")
    (folder / "problem.yaml").write_text(PROBLEM_YAML)
    (folder / "notes.txt").write_text(f"also {MARKER}\n")
    (folder / "evaluate.py").write_text(EVALUATOR)
    (folder / "initial.py").write_text("def main():\n    # EVOLVE-BLOCK-START\n    return 1\n    # EVOLVE-BLOCK-END\n")
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if owner is not None:
            os.chown(path, owner, owner)
    return folder


def hostile(problem: Path, targets: dict | None = None) -> str:
    """The candidate: every way it can think of to reach the marker, the host's private files and
    the files it must not write. Its `main()` returns {attack: outcome}; an outcome is 'denied',
    or 'LEAK' (read the marker or the controller's secret), 'READ' (read a private file), 'WRITTEN'
    (wrote a protected one), 'REACHED' (could signal the controller)."""
    targets = targets or {}
    body = f'''
import os, sys, time
M = {MARKER!r}.encode()
PROBLEM = {str(problem)!r}
TARGETS = {targets!r}
out = {{}}

def read(name, path, private=False):
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        out[name] = "denied"
        return
    out[name] = "LEAK" if M in data else ("READ" if private else "read")

def write(name, path):
    try:
        with open(path, "a") as fh:
            fh.write("")
        out[name] = "WRITTEN"
    except OSError:
        out[name] = "denied"

def main():
    read("yaml by absolute path", PROBLEM + "/problem.yaml")
    read("other file of the problem", PROBLEM + "/notes.txt")
    for up in range(1, 6):
        read(f"yaml {{up}} levels up", "/".join([".."] * up) + "/problem.yaml")
    read("yaml via /proc/self/cwd", "/proc/self/cwd/problem.yaml")
    ev = sys.modules.get("problem_evaluator")
    if ev is not None:
        read("yaml beside the evaluator", os.path.join(os.path.dirname(ev.__file__), "problem.yaml"))
    out["environment"] = "LEAK" if any(M in v.encode() for v in os.environ.values()) else "denied"
    for pid in ["1", str(os.getppid()), str(TARGETS.get("controller_pid", 1))]:
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as fh:
                env = fh.read()
            out[f"/proc/{{pid}}/environ"] = "LEAK" if M in env or b"controller-secret" in env else "denied"
        except OSError:
            out[f"/proc/{{pid}}/environ"] = "denied"
        read(f"yaml via /proc/{{pid}}/cwd", f"/proc/{{pid}}/cwd/problem.yaml")
        read(f"yaml via /proc/{{pid}}/root", f"/proc/{{pid}}/root" + PROBLEM + "/problem.yaml")
    found, deadline = [], time.monotonic() + 6
    for top in ["/tmp", "/work", "/home", "/root", "/var", "/"]:
        for root, dirs, files in os.walk(top):
            if root.startswith(("/proc", "/sys", "/dev")) or time.monotonic() > deadline:
                dirs[:] = []
                continue
            for f in files:
                if f.endswith((".yaml", ".yml", ".db", ".txt")):
                    try:
                        with open(os.path.join(root, f), "rb") as fh:
                            if M in fh.read(1 << 20):
                                found.append(os.path.join(root, f))
                    except OSError:
                        pass
    out["walk the file system"] = "LEAK" if found else "denied"
    out["walk found"] = sorted(set(found))[:5]
    for name, path in TARGETS.get("private", {{}}).items():
        read(name, path, private=True)
    for name, path in TARGETS.get("protected", {{}}).items():
        write(name, path)
    try:
        os.kill(int(TARGETS.get("controller_pid", 1)), 0)  # signal 0: only asks whether a signal would go through
        out["signal the controller"] = "REACHED"
    except OSError:
        out["signal the controller"] = "denied"
    status = open("/proc/self/status").read()
    out["uid"], out["gid"], out["groups"] = os.getuid(), os.getgid(), os.getgroups()
    out["no_new_privs"] = "NoNewPrivs:\\t1" in status
    out["home"] = sorted(os.listdir(os.environ.get("HOME", "/nonexistent"))) if os.environ.get("HOME") else None
    write("work dir", "scratch.txt")
    here = os.stat(".")
    out["work dir private"] = here.st_uid == os.getuid() and here.st_mode & 0o077 == 0
    return out
'''
    return textwrap.dedent(body)


def leaks(report: dict) -> dict:
    """The attacks that got through."""
    return {k: v for k, v in report.items() if v in ("LEAK", "READ", "WRITTEN", "REACHED") and k != "work dir"}


def run(backend_name, problem: Path, targets: dict | None = None, allow_root: bool = True):
    """Run the hostile candidate through `backend_name` (or a backend object) with the problem's
    evaluator; the RunResult."""
    import sandbox
    from sandbox import request
    backend = sandbox.select(backend_name, allow_root=allow_root)[0] if isinstance(backend_name, str) else backend_name
    targets = {"controller_pid": os.getpid(), **(targets or {})}
    spec = request.evaluation(str(problem / "evaluate.py"), "evaluate", hostile(problem, targets), {"seed": 1},
                              evaluator_files=(problem / "data",), wall_s=60, cpu_s=60, memory_mb=1024,
                              result="/result/result" if backend.name == "docker" else "fd")
    return backend, asyncio.run(backend.run(spec))


if __name__ == "__main__":  # a controller of its own (another user, another interpreter)
    name, folder, extra = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    if extra.pop("no_landlock", False):
        from sandbox import landlock
        landlock.abi = lambda: 0
    used, res = run(name, folder, extra)
    print(json.dumps({"status": res.status, "error": res.error[-2000:], "stderr": res.stderr[-2000:],
                      "result": res.result, "user": getattr(used, "user", None),
                      "hides_files": getattr(used, "hides_files", None)}))
