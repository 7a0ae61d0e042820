"""The process backend and root: a run started as root drops to uid/gid 65534 (no groups,
no_new_privs, its own work dir); as any user, Landlock keeps it to the system, the interpreter,
the evaluator and its work dir; root that cannot drop is refused unless allowed by name.

Each case runs a controller of its own (tests/sandbox/attacks.py) with an interpreter uid 65534
can run, as root or as uid 65534, and checks on the host what the hostile candidate reached.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import sandbox
from evolve.problem import ProblemError, load_problem
from sandbox import confine, landlock
from tests.conftest import ROOT
from tests.sandbox.attacks import leaks, make_problem

ATTACKS = Path(__file__).with_name("attacks.py")
SECRET_ENV = {"EVOLVE_TEST_API_KEY": "controller-secret"}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the controller starts as root here)")
needs_landlock = pytest.mark.skipif(not landlock.abi(), reason=landlock.why_unavailable() or "-")


def _python_for_nobody() -> str:
    """An interpreter (with the project) that uid 65534 can run; skips the test where there is none."""
    for python in (sys.executable, "/usr/local/bin/python3", "/usr/bin/python3"):
        if os.path.exists(python) and not confine.drop_problem(python):
            return python
    pytest.skip(f"no interpreter here that uid 65534 can run ({confine.drop_problem(sys.executable)})")


def _controller(python: str, problem: Path, targets: dict, user: int | None = None) -> dict:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **SECRET_ENV}
    who = {"user": user, "group": user, "extra_groups": []} if user is not None else {}
    done = subprocess.run([python, str(ATTACKS), "process", str(problem), json.dumps(targets)], env=env, cwd="/",
                          capture_output=True, text=True, timeout=240, **who)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["status"] == "ok", out
    return out


@pytest.fixture
def host(request):
    """Files of the controller's user that a candidate must neither read nor write: a home with an
    ssh key and a .netrc (0600, in folders others may enter), a project and a run folder, and the
    problem. `request.param`: the uid that owns them (None: this process's)."""
    owner = getattr(request, "param", None)
    top = Path(tempfile.mkdtemp(prefix="evolve-root-test-"))
    home, project, run = top / "home", top / "project", top / "project" / "runs" / "r1"
    (home / ".ssh").mkdir(parents=True)
    run.mkdir(parents=True)
    files = {home / ".ssh" / "id_rsa": "PRIVATE KEY", home / ".netrc": "machine x password hunter2",
             project / "README.md": "readme", run / "evolve.db": "db"}
    for path, text in files.items():
        path.write_text(text)
    for path in [top, *top.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if owner is not None:
            os.chown(path, owner, owner)
    for secret in (home / ".ssh", home / ".ssh" / "id_rsa", home / ".netrc"):
        os.chmod(secret, 0o700 if secret.is_dir() else 0o600)
    problem = make_problem(str(top), owner)
    targets = {"private": {"~/.ssh/id_rsa": str(home / ".ssh" / "id_rsa"), "~/.netrc": str(home / ".netrc")},
               "protected": {"project file": str(project / "README.md"), "new project file": str(project / "x.py"),
                             "run database": str(run / "evolve.db"), "new file in the run": str(run / "x"),
                             "evaluator": str(problem / "evaluate.py"), "problem yaml": str(problem / "problem.yaml")}}
    if os.geteuid() == 0:
        targets["private"]["/etc/shadow"] = "/etc/shadow"
        targets["private"]["root's ~/.ssh"] = "/root/.ssh/id_rsa"
    before = {p: p.read_bytes() for p in top.rglob("*") if p.is_file()}
    yield problem, targets
    after = {p: p.read_bytes() for p in top.rglob("*") if p.is_file()}
    shutil.rmtree(top, ignore_errors=True)
    assert after == before, "the candidate changed or created host files"


@needs_root
@needs_landlock
def test_process_as_root_drops_privileges_and_hides_the_host(host):
    problem, targets = host
    out = _controller(_python_for_nobody(), problem, targets)
    report = out["result"]["metrics"]["value"]
    assert out["user"] == [confine.NOBODY, confine.NOBODY] and out["hides_files"] is True
    assert leaks(report) == {}, report
    assert (report["uid"], report["gid"], report["groups"]) == (65534, 65534, [])
    assert report["no_new_privs"] and report["work dir"] == "WRITTEN" and report["work dir private"]
    assert set(report["home"]) <= {"candidate.py", "scratch.txt"}  # HOME is the fresh work dir
    assert out["result"]["metrics"]["table"] == "42"


@needs_root
def test_process_as_root_without_landlock_still_protects_root_files(host):
    problem, targets = host
    out = _controller(_python_for_nobody(), problem, {**targets, "no_landlock": True})
    report = out["result"]["metrics"]["value"]
    assert out["user"] == [confine.NOBODY, confine.NOBODY] and out["hides_files"] is False
    assert {k: v for k, v in leaks(report).items() if not k.startswith(("yaml", "other file", "walk"))} == {}
    assert report["yaml by absolute path"] == "LEAK"  # what Landlock is for: `evolve doctor` says so
    assert (report["uid"], report["groups"], report["no_new_privs"]) == (65534, [], True)


@needs_root
@needs_landlock
@pytest.mark.parametrize("host", [confine.NOBODY], indirect=True)
def test_process_as_a_plain_user_is_confined_by_landlock(host):
    problem, targets = host
    out = _controller(_python_for_nobody(), problem, targets, user=confine.NOBODY)
    report = out["result"]["metrics"]["value"]
    assert out["user"] is None and out["hides_files"] is True
    assert leaks(report) == {}, report  # its own files, the controller's environment and signals included
    assert report["no_new_privs"] and report["work dir private"]


def test_auto_refuses_root_that_cannot_drop(monkeypatch):
    monkeypatch.setattr(sandbox, "why_unavailable", lambda name: "bwrap is not installed" if name == "bwrap" else "")
    monkeypatch.setattr(confine, "drop_problem", lambda python=None: "uid 65534 cannot run /root/py (/root is mode 700)")
    with pytest.raises(sandbox.SandboxError) as auto:
        sandbox.select("auto")
    with pytest.raises(sandbox.SandboxError) as named:
        sandbox.select("process")
    for exc in (auto, named):
        assert "apt-get install bubblewrap" in str(exc.value) and "sandbox.allow_root: true" in str(exc.value)
        assert "/root is mode 700" in str(exc.value)
    backend, note = sandbox.select("process", allow_root=True)
    assert backend.user is None and "as root" in note


def test_allow_root_is_only_for_the_process_backend(tiny_problem):
    yaml = tiny_problem / "problem.yaml"
    yaml.write_text(yaml.read_text().replace("sandbox: {", "sandbox: {allow_root: true, "))
    with pytest.raises(ProblemError, match="allow_root applies to sandbox.backend: process"):
        load_problem(tiny_problem)
    yaml.write_text(yaml.read_text().replace("allow_root: true, ", "allow_root: true, backend: process, "))
    assert load_problem(tiny_problem).spec.sandbox.allow_root is True


def test_unreachable_names_the_folder_that_keeps_others_out():
    top = Path(tempfile.mkdtemp(prefix="evolve-root-test-"))
    try:
        os.chmod(top, 0o755)
        (top / "private" / "py").mkdir(parents=True)
        os.chmod(top / "private", 0o700)
        assert confine.unreachable([str(top / "private" / "py")]) == \
            f"{top}/private is mode 700: other users cannot enter it"
        assert confine.unreachable(["/usr/bin/env"]) == ""
    finally:
        shutil.rmtree(top)


def test_an_evaluator_the_dropped_user_cannot_reach_is_staged(tiny_problem):
    from evolve.executor import reachable_evaluator
    (tiny_problem / "data").mkdir()
    (tiny_problem / "data" / "table.txt").write_text("42")
    yaml = tiny_problem / "problem.yaml"
    yaml.write_text(yaml.read_text().replace("sandbox: {", "sandbox: {evaluator_files: [data], "))
    problem = load_problem(tiny_problem)
    dropping = type("P", (), {"unreadable": staticmethod(confine.unreachable)})()  # judged by mode bits
    assert confine.unreachable([problem.evaluator_ref])  # pytest's temp dirs are mode 700
    staged = Path(reachable_evaluator(problem, dropping))
    assert staged.read_text() == (tiny_problem / "evaluate.py").read_text()
    assert sorted(p.name for p in staged.parent.iterdir()) == ["data", "evaluate.py"]  # no YAML, no initial.py
    assert confine.unreachable([str(staged), str(staged.parent / "data" / "table.txt")]) == ""
    assert staged.parent.stat().st_mode & 0o777 == 0o755 and staged.stat().st_mode & 0o777 == 0o644
    assert staged.parent.name.startswith("evolve-stage-")
    assert reachable_evaluator(problem, object()) == problem.evaluator_ref  # bwrap, docker: as it is
    shutil.rmtree(staged.parent)
