"""Fork servers (sandbox.forkserver): one zygote serves candidate after candidate, and no candidate
leaves anything a later one sees (a file, an environment variable, a module attribute, a patched
builtin, an IPC object, a process), nor reaches the zygote or another candidate."""
from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import pytest

import sandbox
from sandbox import request
from sandbox.forkserver import ForkPool

HERE = Path(__file__).resolve().parent
RUN_IT = str(HERE / "evaluators" / "run_it.py")
REASON = sandbox.why_unavailable("bwrap")
pytestmark = pytest.mark.skipif(bool(REASON), reason=f"bwrap: {REASON}")

SHM_KEY = 0x5EED1E
SOCKET = "\0evolve-fork-test-left-behind"

# the ancestry of this process in the sandbox's /proc (bwrap's pid namespace), up to pid 0: R -> G (-> C,
# where clone3 is refused) -> the zygote -> bwrap (1) -> 0; [-3] is the zygote
ANCESTORS = '''
def ancestors():
    chain, pid = [], "self"
    while pid != "0" and len(chain) < 8:
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
        pid = status["PPid"].strip()
        chain.append(int(pid))
    return chain
'''

FIRST = ANCESTORS + '''
import builtins, ctypes, json, os, socket, subprocess, sys

def main():
    written = []
    for path in ("left-behind.txt", "/tmp/left-behind.txt", "/dev/shm/left-behind", "/dev/left-behind",
                 os.path.join(os.environ.get("HOME", "."), "home-left-behind")):
        try:
            with open(path, "w") as fh:
                fh.write("secret")
            written.append(path)
        except OSError:
            pass
    os.environ["LEFT_BEHIND"] = "1"
    import evaluators
    evaluators.LEFT_BEHIND = True
    builtins.LEFT_BEHIND = True
    sys.modules["left_behind"] = sys
    sys.path.insert(0, "/tmp/left-behind-path")
    libc = ctypes.CDLL(None, use_errno=True)
    shm = libc.shmget({key}, 4096, 0o1666)  # IPC_CREAT | 0666: a SysV segment outlives its creator
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind({sock!r})
    listener.listen(1)
    subprocess.Popen(["sleep", "30.5432"], start_new_session=True, pass_fds=(listener.fileno(),))
    return {{"written": written, "shm": shm, "zygote": ancestors()[-3]}}
'''.format(key=SHM_KEY, sock=SOCKET)

# patches the guard sees (this candidate fails as invalid_result): they must not outlive it either
PATCH = ANCESTORS + '''
import builtins, json
import evaluators.common

def main():
    evaluators.common.load_candidate = lambda path: None
    json.dumps = lambda *a, **k: "forged"
    builtins.len = lambda x: 0
    return ancestors()[-3]
'''

SECOND = ANCESTORS + '''
import builtins, ctypes, json, os, socket, sys

def main():
    import evaluators, evaluators.common
    libc = ctypes.CDLL(None, use_errno=True)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect({sock!r})
        reached = True
    except OSError:
        reached = False
    sleepers = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and b"30.5432" in open(f"/proc/{{pid}}/cmdline", "rb").read():
                sleepers.append(pid)
        except OSError:
            pass
    files = {{p: os.path.exists(p) for p in ("left-behind.txt", "/tmp/left-behind.txt", "/dev/shm/left-behind",
                                          "/dev/left-behind", os.path.join(os.environ.get("HOME", "."),
                                                                           "home-left-behind"))}}
    return {{"cwd": sorted(os.listdir(".")), "files": files, "env": "LEFT_BEHIND" in os.environ,
            "module": hasattr(evaluators, "LEFT_BEHIND"),
            "helper": evaluators.common.load_candidate.__name__,
            "json": json.dumps([1]), "builtin": hasattr(builtins, "LEFT_BEHIND"), "len": len([1, 2]),
            "sys.modules": "left_behind" in sys.modules, "sys.path": "/tmp/left-behind-path" in sys.path,
            "shm": libc.shmget({key}, 0, 0) >= 0, "socket": reached, "sleepers": sleepers,
            "zygote": ancestors()[-3]}}
'''.format(key=SHM_KEY, sock=SOCKET)


def _spec(code: str, evaluator: str = RUN_IT, **limits):
    limits = {"wall_s": 20, "cpu_s": 20, "memory_mb": 1024, **limits}
    return request.evaluation(evaluator, "evaluate", textwrap.dedent(code), {}, **limits)


@pytest.fixture(params=["clone3", "fork"])
def pool(request, monkeypatch):
    """A fork pool whose children are born in their namespaces (clone3), or, as where the kernel or a seccomp
    filter refuses clone3, forked and unshared (EVOLVE_CLONE3=0)."""
    monkeypatch.setenv("EVOLVE_CLONE3", "1" if request.param == "clone3" else "0")
    made = ForkPool(sandbox.select("bwrap")[0], 1)
    made.path = request.param
    yield made
    made.close()


def test_the_chain_is_the_one_asked_for(pool):
    res = asyncio.run(pool.run(_spec(ANCESTORS + "\ndef main():\n    return ancestors()\n")))
    assert res.status == "ok", res.error + res.stderr
    chain = res.result["metrics"]["value"]  # R's parent G, (C,) the zygote, bwrap, 0
    assert chain[-2:] == [1, 0] and len(chain) == (4 if pool.path == "clone3" else 5), chain


def _zygotes(pool: ForkPool) -> list:
    return [z for waiting in pool.idle.values() for z in waiting]


def test_a_candidate_leaves_nothing_the_next_one_sees(pool):
    async def main():
        return [await pool.run(_spec(code)) for code in (FIRST, PATCH, SECOND)]

    first, patch, second = asyncio.run(main())
    assert first.status == "ok", first.error + first.stderr
    assert patch.status == "invalid_result" and "replaced builtins.len" in patch.error, patch.error
    assert second.status == "ok", second.error + second.stderr
    did = first.result["metrics"]["value"]
    assert "left-behind.txt" in did["written"] and "/tmp/left-behind.txt" in did["written"] and did["shm"] >= 0
    assert "/dev/left-behind" not in did["written"]  # /dev is read-only in a child
    seen = second.result["metrics"]["value"]
    assert seen["zygote"] == did["zygote"] > 1, "both candidates must be children of the same zygote"
    [zygote] = _zygotes(pool)
    assert zygote.served == 3 and not pool.broken
    assert seen == {**seen, "cwd": ["candidate.py"], "files": {k: False for k in seen["files"]}, "env": False,
                    "module": False, "helper": "load_candidate", "json": "[1]", "builtin": False, "len": 2,
                    "sys.modules": False, "sys.path": False, "shm": False, "socket": False, "sleepers": []}


PROBE = '''
import ctypes, os, threading

def main():
    libc = ctypes.CDLL(None, use_errno=True)
    me = os.getpid()
    visible = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    mine = int(os.readlink("/proc/self"))
    out = {"pid": me, "visible": visible, "reached": {}}
    for pid in visible:
        if pid == mine:
            continue
        got = []
        for name in ("environ", "mem", "maps"):  # through libc: the audit hook would flag /proc/*/mem
            fd = libc.open(f"/proc/{pid}/{name}".encode(), os.O_RDONLY)
            if fd >= 0:
                got.append(name)
                os.close(fd)
        for name in ("cwd", "root"):
            try:
                os.listdir(f"/proc/{pid}/{name}")
                got.append(name)
            except OSError:
                pass
        try:  # the numbers of its open files may be listed, not where they lead
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    os.readlink(f"/proc/{pid}/fd/{fd}")
                    got.append(f"fd {fd}")
                except OSError:
                    pass
        except OSError:
            pass
        if got:
            out["reached"][pid] = got
    signalled = []
    own = {me, threading.get_native_id(), 1}  # this process, the thread the candidate runs in, its own init
    for pid in sorted((set(visible) | set(range(1, 2048))) - own):  # in this child's pid namespace: nobody else
        try:
            os.kill(pid, 0)
            signalled.append(pid)
        except OSError:
            pass
        if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
            signalled.append(f"ptrace {pid}")
    out["signalled"] = signalled
    return out
'''


def test_a_child_cannot_reach_the_zygote_or_its_ancestors(pool):
    res = asyncio.run(pool.run(_spec(PROBE)))
    assert res.status == "ok", res.error + res.stderr
    seen = res.result["metrics"]["value"]
    assert seen["pid"] == 2  # pid 1 of its namespace is its own init (G)
    assert seen["signalled"] == []
    # the sandbox's /proc shows bwrap, the zygote, G (and C, where clone3 is refused) and the next child by
    # number: their memory, environment, open files and folders stay shut (the zygote and its forks are not
    # dumpable)
    assert len(seen["visible"]) >= 4 and seen["reached"] == {}, seen


def test_concurrent_candidates_do_not_see_each_other():
    pool = ForkPool(sandbox.select("bwrap")[0], 2)
    hold = "import time\ndef main():\n    time.sleep(1.5)\n    return 1\n"
    look = ("import os\ndef main():\n    return [p for p in os.listdir('/proc') if p.isdigit() and "
            "b'sleep' in open(f'/proc/{p}/cmdline', 'rb').read()]\n")

    async def main():
        slow = asyncio.ensure_future(pool.run(_spec(hold)))
        await asyncio.sleep(0.5)
        seen = await pool.run(_spec(look))
        return await slow, seen

    try:
        slow, seen = asyncio.run(main())
    finally:
        pool.close()
    assert slow.status == "ok" and seen.status == "ok", (slow.error, seen.error)
    assert seen.result["metrics"]["value"] == []


def test_each_child_has_its_own_limits(pool):
    async def main():
        fat = await pool.run(_spec("def main():\n    return len(bytearray(600_000_000))\n", memory_mb=256))
        fine = await pool.run(_spec("def main():\n    return len(bytearray(100_000_000))\n", memory_mb=1024))
        spin = await pool.run(_spec("def main():\n    while True:\n        pass\n", cpu_s=1, wall_s=20))
        after = await pool.run(_spec("def main():\n    return 1\n", cpu_s=1, wall_s=20))
        return fat, fine, spin, after

    fat, fine, spin, after = asyncio.run(main())
    assert fat.status == "oom" and fine.status == "ok", (fat.status, fine.status, fine.error)
    assert spin.status == "timeout" and "CPU" in spin.error
    assert after.status == "ok" and after.cpu_s < 1  # the CPU limit counts each child's own time
    assert not pool.broken


def test_an_evaluator_that_cannot_be_forked_runs_one_sandbox_each(pool, tmp_path):
    evaluator = tmp_path / "threaded.py"
    evaluator.write_text("import threading, time\n"
                         "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                         "from evaluators.common import load_candidate\n\n"
                         "def evaluate(program_path, workload):\n"
                         "    return {'metrics': {'value': load_candidate(program_path).main()}, 'artifacts': {}}\n")
    os.chmod(evaluator, 0o644)

    async def main():
        return [await pool.run(_spec("def main():\n    return 7\n", str(evaluator))) for _ in range(2)]

    results = asyncio.run(main())
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert [r.result["metrics"]["value"] for r in results] == [7, 7]
    [why] = pool.broken.values()
    assert "thread" in why


def test_what_the_evaluator_prints_on_import_stays_out_of_the_runs(pool, tmp_path):
    evaluator = tmp_path / "chatty.py"
    evaluator.write_text("import sys\nprint('loading the evaluator')\nprint('warming up', file=sys.stderr)\n"
                         "from evaluators.common import load_candidate\n\n"
                         "def evaluate(program_path, workload):\n"
                         "    return {'metrics': {'value': load_candidate(program_path).main()}, 'artifacts': {}}\n")
    os.chmod(evaluator, 0o644)

    async def main():
        return [await pool.run(_spec("def main():\n    print('mine')\n    return 1\n", str(evaluator)))
                for _ in range(2)]

    for res in asyncio.run(main()):
        assert res.status == "ok", res.error
        assert res.stdout == "mine\n" and "warming" not in res.stderr


def test_a_zygote_that_dies_mid_run_ends_that_run_only(pool):
    import signal

    async def main():
        first = asyncio.ensure_future(pool.run(_spec("import time\ndef main():\n    time.sleep(30)\n    return 1\n")))
        await asyncio.sleep(1.0)
        [busy] = [z for z in _live_zygotes(pool)]
        os.killpg(busy.started.spawned.proc.pid, signal.SIGKILL)  # bwrap, the zygote and the child with it
        killed = await first
        after = await pool.run(_spec("def main():\n    return 2\n"))
        return killed, after

    killed, after = asyncio.run(main())
    assert killed.status == "killed" and killed.wall_s < 20, (killed.status, killed.error)
    assert after.status == "ok" and after.result["metrics"]["value"] == 2


def _live_zygotes(pool: ForkPool) -> list:
    """Zygotes of this pool (its backend's: other tests' pools may still be alive in the process) that are
    running a job (not idle), found through the module's objects."""
    import gc
    from sandbox.forkserver import Zygote
    idle = {id(z) for z in _zygotes(pool)}
    return [z for z in gc.get_objects()
            if isinstance(z, Zygote) and z.backend is pool.backend and id(z) not in idle and z.alive()]


def test_without_nested_user_namespaces_runs_go_one_sandbox_each():
    """Where a child cannot have namespaces of its own (here: bwrap --disable-userns), the pool says why
    and runs every evaluation of the template in a fresh sandbox instead, with the same results."""
    from sandbox.bwrap import BwrapBackend

    class NoUserns(BwrapBackend):
        def command(self, spec, path):
            argv, env = super().command(spec, path)
            return [argv[0], "--disable-userns", *argv[1:]], env

    pool = ForkPool(NoUserns(), 1)

    async def main():
        return [await pool.run(_spec("def main():\n    return 5\n")) for _ in range(2)]

    try:
        results = asyncio.run(main())
    finally:
        pool.close()
    assert [r.status for r in results] == ["ok", "ok"], [r.error + r.stderr for r in results]
    assert [r.result["metrics"]["value"] for r in results] == [5, 5]
    [why] = pool.broken.values()
    assert "isolating the child failed" in why and "unshare" in why


NEXT = '''
import ctypes, os, time

def status(pid):
    try:
        return dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
    except OSError:
        return {}

def main():
    libc = ctypes.CDLL(None, use_errno=True)
    mine = int(os.readlink("/proc/self"))
    chain = [mine]
    while chain[-1] > 1:
        chain.append(int(status(chain[-1]).get("PPid", "0").strip()))
    zygote = chain[-2]  # [..., the zygote, bwrap (1)]
    for _ in range(200):  # the next child, forked as this job was handed over, and what it forked
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        kids = {p: int(status(p).get("PPid", "0").strip() or 0) for p in pids}
        spare = [p for p, parent in kids.items() if p not in chain and (parent == zygote or kids.get(parent) == zygote)]
        if len(spare) >= 2:
            break
        time.sleep(0.01)
    reached = {}
    for pid in spare:
        for name in ("mem", "environ", "maps"):
            fd = libc.open(f"/proc/{pid}/{name}".encode(), os.O_RDONLY)
            if fd >= 0:
                reached.setdefault(pid, []).append(name)
                os.close(fd)
    return {"spare": spare, "reached": reached}
'''


def test_the_next_child_is_out_of_reach_while_it_waits(pool):
    """The next child exists while this job runs (it isolates itself meanwhile): its memory, environment
    and maps are shut to the candidate, as its own user namespace owns them."""
    res = asyncio.run(pool.run(_spec(NEXT)))
    assert res.status == "ok", res.error + res.stderr
    seen = res.result["metrics"]["value"]
    assert len(seen["spare"]) >= 2 and seen["reached"] == {}, seen


@pytest.mark.parametrize("name, fake", [("zip", "lambda *a: iter(())"), ("sorted", "lambda *a, **k: []"),
                                        ("len", "lambda x: 0"), ("set", "lambda *a: {-1}"),
                                        ("range", "lambda *a: iter(())")])
def test_replacing_a_builtin_the_guard_uses_does_not_blind_it(pool, name, fake):
    code = f"import builtins, json\ndef main():\n    json.dumps = lambda *a, **k: 'forged'\n" \
           f"    builtins.{name} = {fake}\n    return 1\n"
    res = asyncio.run(pool.run(_spec(code)))
    assert res.status == "invalid_result", (res.status, res.error)
    assert f"replaced builtins.{name}" in res.error and "replaced json.dumps" in res.error, res.error


def test_a_fresh_sandbox_guard_is_not_blinded_either():
    """Without a fork server the guard compares its whole snapshot, counted with len and range."""
    code = "import builtins, json\ndef main():\n    json.dumps = lambda *a, **k: 'forged'\n" \
           "    builtins.len = lambda x: 0\n    builtins.range = lambda *a: iter(())\n    return 1\n"
    res = asyncio.run(sandbox.select("bwrap")[0].run(_spec(code)))
    assert res.status == "invalid_result" and "replaced json.dumps" in res.error, (res.status, res.error)
