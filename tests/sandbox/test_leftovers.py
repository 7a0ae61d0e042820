"""Nothing left behind: sandbox folders (`evolve-sbx-*`) and cgroups (`evolve-*`) are counted
before and after evaluations that end in each status, after a controller is SIGKILLed
mid-evaluation (then `sandbox.sweep_stale()`), and around a live owner, which is never swept.

Counts are of what one process owns (the owner is written in each name), so that other
evolve processes on the machine do not disturb them.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import sandbox
from sandbox import cgroup, owner, request, stale, workdir
from sandbox.forkserver import ForkPool
from sandbox.warm import WarmPool

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUN_IT = str(HERE / "evaluators" / "run_it.py")


def _param(name: str):
    reason = sandbox.why_unavailable(name.removesuffix("-fork"))
    return pytest.param(name, marks=pytest.mark.skipif(bool(reason), reason=f"{name}: {reason}"), id=name)


@pytest.fixture(params=[_param("bwrap"), _param("process")])
def backend(request):
    return sandbox.select(request.param, allow_root=True)[0]


def candidate(body: str) -> str:
    return "def main():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


def _marker() -> str:
    """A `sleep` argument no other process on the machine has: finds a candidate's forked child."""
    return f"{random.randint(5000, 9000)}.{random.randint(10**6, 10**7)}"


def _running(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in argv:
                found.append(int(entry.name))
    return found


def _wait_for(check, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _spec(code: str, **limits):
    limits = {"wall_s": 20, "cpu_s": 20, "memory_mb": 512, **limits}
    return request.evaluation(RUN_IT, "evaluate", code, {}, **limits)


# --- (a) every way an evaluation ends ----------------------------------------------------------
def _cases(marker: str) -> list[tuple[str, str, dict]]:
    fork = f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
    return [
        ("ok", candidate(fork + "return 1"), {}),
        ("error", candidate("raise ValueError('broken')"), {}),
        ("timeout", candidate(fork + "import time\ntime.sleep(30)"), {"wall_s": 1}),
        ("oom", candidate("x = bytearray(3_000_000_000)\nreturn len(x)"), {"memory_mb": 256}),
        ("output_cap", candidate(fork + "print('x' * 2_000_000)"), {"output_bytes": 1000}),
        ("killed", candidate(fork + "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), {}),
        ("invalid_result", candidate("import gc\ngc.get_objects()\nreturn 1"), {}),
    ]


async def _cancelled(runner, spec) -> str:
    task = asyncio.ensure_future(runner.run(spec))
    await asyncio.sleep(1.0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled"
    return "not cancelled"


def _zygote_paths(pool: ForkPool) -> set[Path]:
    """The work dirs and cgroups of the pool's zygotes (the only things it keeps between runs)."""
    found = set()
    for zygote in (z for waiting in pool.idle.values() for z in waiting):
        found.add(Path(zygote.started.path))
        for group in (zygote.started.group, *zygote.jobs):  # its own cgroup, and its children's
            found.update(group.groups.values() if group else ())
    return found


@pytest.mark.parametrize("warm", [False, True, "fork"], ids=["cold", "warm", "fork"])
def test_every_status_leaves_nothing(backend, warm):
    if warm == "fork" and backend.name != "bwrap":
        pytest.skip("fork servers are bwrap's")
    me = os.getpid()
    before = stale.leftovers(me)
    runner = {False: backend, True: WarmPool(backend, 1), "fork": ForkPool(backend, 1)}[warm]
    marker = _marker()
    seen = []
    try:
        for status, code, limits in _cases(marker):
            res = asyncio.run(runner.run(_spec(code, **limits)))
            seen.append(res.status)
            assert res.status == status, (status, res.status, res.error)
            if not warm:  # a warm pool keeps its next sandbox waiting, and removes it on close
                assert stale.leftovers(me) == before, status
            if warm == "fork":  # a fork pool keeps its zygotes; each child's cgroup is gone
                assert not runner.broken, runner.broken
                assert set(stale.leftovers(me)) - set(before) == _zygote_paths(runner), status
            assert _wait_for(lambda: not _running(marker), 5), f"{status}: a forked child survived"
        seen.append(asyncio.run(_cancelled(runner, _spec(candidate(
            f"import subprocess, time\nsubprocess.Popen(['sleep', '{marker}'])\ntime.sleep(30)")))))
        assert seen[-1] == "cancelled"
        if warm:
            assert len(stale.leftovers(me)) > len(before)  # waiting sandboxes, this process's own
    finally:
        if warm:
            runner.close()
    assert stale.leftovers(me) == before, seen
    assert _wait_for(lambda: not _running(marker), 5), "the cancelled run's child survived"


def test_a_start_that_fails_leaves_nothing(backend, monkeypatch):
    me = os.getpid()
    before = stale.leftovers(me)

    def broken(spec, path):
        raise RuntimeError("GPU 7 was assigned but /dev/nvidia7 does not exist")
    monkeypatch.setattr(backend, "command", broken)
    with pytest.raises(RuntimeError):
        backend.start(_spec(candidate("return 1")))
    assert stale.leftovers(me) == before


# --- (b) a controller SIGKILLed mid-evaluation -------------------------------------------------
CONTROLLER = '''
import asyncio, json, os, sys
import sandbox
from sandbox import process, request
from sandbox.forkserver import ForkPool
from sandbox.warm import WarmPool

name, run_it, hold = sys.argv[1:4]
marker = os.environ["SLEEPER"]  # not in this process's argv, where the test looks for the sleeper
if name == "process-no-namespaces":  # as on a machine where unshare cannot make namespaces
    process.namespaces_available = lambda *args: "switched off by the test"
    name = "process"
pool = (ForkPool if name == "bwrap-fork" else WarmPool)(sandbox.select(name.removesuffix("-fork"), allow_root=True)[0], 2)


def spec(main_body):
    code = "def main():\\n" + "".join("    " + line + "\\n" for line in main_body)
    return request.evaluation(run_it, "evaluate", code, {}, wall_s=600, cpu_s=600, memory_mb=512)


async def main():
    first = await pool.run(spec(["return 1"]))
    for _ in range(1000):  # the pool warms its next sandboxes (a fork pool: its zygotes are up)
        if sum(len(w) for w in (pool.ready if hasattr(pool, "ready") else pool.idle).values()) >= 2:
            break
        await asyncio.sleep(0.01)
    second = await pool.run(spec(["import subprocess, time",
                                  f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)",
                                  f"time.sleep({hold})", "return 2"]))
    return [first.status, second.status]

print(json.dumps(asyncio.run(main())), flush=True)
pool.close()
'''


def _controller(tmp_path: Path, name: str, marker: str, hold: float, monkeypatch) -> subprocess.Popen:
    """A controller process whose sandbox folders go to a temp dir of the test's own (and this
    process's too), so that no other evolve process's sweep reaches them."""
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER)
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLEEPER": marker, "TMPDIR": str(private)}
    return subprocess.Popen([sys.executable, str(script), name, RUN_IT, str(hold)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("name", [_param("bwrap"), _param("process"), _param("bwrap-fork"),
                                  pytest.param("process-no-namespaces", id="process-no-namespaces")])
def test_killed_controller_leaves_only_stale_leftovers_that_the_sweep_removes(tmp_path, name, monkeypatch):
    has_cgroup = cgroup.RunCgroup.create(8, 64)
    if has_cgroup is not None:
        has_cgroup.close()
    if name == "process-no-namespaces" and has_cgroup is None:
        pytest.skip("no writable cgroup: without namespaces, a candidate's forked child outlives a killed controller")
    marker = _marker()
    ctl = _controller(tmp_path, name, marker, hold=600, monkeypatch=monkeypatch)
    try:
        assert _wait_for(lambda: _running(marker) or ctl.poll() is not None), "the candidate never started"
        assert ctl.poll() is None, ctl.communicate()
        start = owner.start_time(ctl.pid)
        ctl.send_signal(signal.SIGKILL)
        ctl.wait()
    finally:
        if ctl.poll() is None:
            ctl.kill()
            ctl.wait()
        ctl.stdout.close()
        ctl.stderr.close()
    left = stale.leftovers(ctl.pid, start)
    folders = [p for p in left if p.name.startswith(workdir.PREFIX)]
    assert len(folders) >= 2, left  # the evaluation's and the waiting warm sandbox's (or the two zygotes')
    assert all(owner.is_stale(p.name, p.lstat().st_mtime) for p in left)
    if name != "process-no-namespaces":  # the pid namespace dies with the controller
        assert _wait_for(lambda: not _running(marker), 10), "the candidate's child outlived the controller"
    removed = sandbox.sweep_stale()
    assert removed >= len(folders)  # cgroups too, unless another process's sweep took them first
    assert stale.leftovers(ctl.pid, start) == []
    assert _wait_for(lambda: not _running(marker), 10), "the sweep left the candidate's child running"


# --- (c) what a live owner holds is never swept ------------------------------------------------
def test_a_live_controllers_sandboxes_are_never_swept(tmp_path, backend, monkeypatch):
    marker = _marker()
    ctl = _controller(tmp_path, backend.name, marker, hold=3, monkeypatch=monkeypatch)
    try:
        assert _wait_for(lambda: _running(marker) or ctl.poll() is not None), "the candidate never started"
        start = owner.start_time(ctl.pid)
        live = stale.leftovers(ctl.pid, start)
        assert live and not any(owner.is_stale(p.name, p.lstat().st_mtime) for p in live)
        sandbox.sweep_stale()
        assert all(p.exists() for p in live) and _running(marker)
        out, err = ctl.communicate(timeout=60)
    finally:
        if ctl.poll() is None:
            ctl.kill()
            ctl.communicate()
    assert ctl.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == ["ok", "ok"]  # its evaluation went on to the end
    assert stale.leftovers(ctl.pid, start) == []  # and it removed everything itself


def test_this_process_sandbox_survives_a_sweep(backend):
    started = backend.start(_spec(candidate("return 1")))
    try:
        mine = stale.leftovers(os.getpid())
        assert started.path in {str(p) for p in mine}
        sandbox.sweep_stale()
        assert all(p.exists() for p in mine)
    finally:
        backend.discard(started)
    assert not Path(started.path).exists()


def test_names_judge_pid_reuse_other_namespaces_and_old_names(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pid, ns = os.getpid(), owner.tag().rsplit("-", 1)[1]
    start = owner.start_time(pid)
    names = {
        f"evolve-sbx-{pid}-{start}-{ns}-live0000": False,  # this process
        f"evolve-sbx-{pid}-{start + 1}-{ns}-reused00": True,  # same pid, another start: pid reused
        f"evolve-sbx-{2 ** 22 + 7}-{start}-{ns}-gone0000": True,  # no such process
        f"evolve-result-{pid}-{start + 1}-{ns}-reused00": True,
        "evolve-sbx-1-1-00000000-otherns0": False,  # another pid namespace: cannot tell, keep
        "evolve-sbx-abcd_123": False,  # no owner, fresh
        "evolve-sbx-old_1234": True,  # no owner, older than LEGACY_AGE_S
        "evolve-sbx-2-2-00000000-lastboot": True,  # another namespace, older than this boot
        "evolve-something-else": False,
    }
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "candidate.py").write_text("x = 1\n")
    os.utime(tmp_path / "evolve-sbx-old_1234", (time.time() - 2 * owner.LEGACY_AGE_S,) * 2)
    os.utime(tmp_path / "evolve-sbx-2-2-00000000-lastboot", (1.0, 1.0))
    before = {p.name for p in stale.folders()}
    assert before == set(names) - {"evolve-something-else"}
    assert sandbox.sweep_stale() >= sum(names.values())
    assert {p.name for p in tmp_path.iterdir()} == {n for n, gone in names.items() if not gone}


def test_a_stale_cgroup_is_killed_and_removed():
    group = cgroup.RunCgroup.create(8, 64)
    if group is None:
        pytest.skip("no writable cgroup hierarchy on this machine; rlimits alone apply")
    parents = [g.parent for g in group.groups.values()]
    group.close()
    pid, ns = os.getpid(), owner.tag().rsplit("-", 1)[1]
    dead = [parent / f"evolve-{pid}-{owner.start_time(pid) + 1}-{ns}-0badc0de" for parent in parents]
    sleeper = subprocess.Popen(["sleep", _marker()], start_new_session=True)
    try:
        for g in dead:
            g.mkdir()
            (g / "cgroup.procs").write_text(str(sleeper.pid))
        (dead[0] / "made-by-the-candidate").mkdir()
        assert all(g in cgroup.named() for g in dead)
        sandbox.sweep_stale()  # (another evolve process's sweep may take them first: count not checked)
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert not any(g.exists() for g in dead)
    finally:
        sleeper.kill()
        sleeper.wait()
        for g in dead:
            cgroup.remove(g)
