"""Warm sandboxes: started ahead, used once; a candidate never sees the one before it."""
from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from sandbox import request
from sandbox.warm import WarmPool

RUN_IT = str(Path(__file__).resolve().parent / "evaluators" / "run_it.py")

FIRST = '''
import os, subprocess
def main():
    open("left-behind.txt", "w").write("secret")
    try:
        open("/tmp/left-behind.txt", "w").write("secret")
    except OSError:  # the process backend under Landlock: the host's /tmp is not writable
        pass
    os.environ["LEFT_BEHIND"] = "1"
    import evaluators
    evaluators.LEFT_BEHIND = True
    subprocess.Popen(["sleep", "30.4321"], start_new_session=True)  # a sleep no other process on the host runs
    return sorted(os.listdir("."))
'''

SECOND = '''
import os
def main():
    import evaluators
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()
              and open(f"/proc/{p}/cmdline", "rb").read().split(bytes([0]))[:2] == [b"sleep", b"30.4321"]]
    return {"files": sorted(os.listdir(".")), "tmp": os.path.exists("/tmp/left-behind.txt"),
            "env": "LEFT_BEHIND" in os.environ, "module": hasattr(evaluators, "LEFT_BEHIND"),
            "sleepers": others}
'''


def _spec(code: str):
    return request.evaluation(RUN_IT, "evaluate", textwrap.dedent(code), {}, wall_s=20, cpu_s=20, memory_mb=1024)


def test_each_warm_sandbox_serves_one_candidate_only(backend):
    if not hasattr(backend, "start"):
        pytest.skip("a fork pool, not a warm one: tests/sandbox/test_fork_isolation.py")
    pool = WarmPool(backend, 1)

    async def main():
        first = await pool.run(_spec(FIRST))
        for _ in range(500):  # the next sandbox starts in the background
            if any(pool.ready.values()):
                break
            await asyncio.sleep(0.01)
        waiting = [s for group in pool.ready.values() for s in group]
        second = await pool.run(_spec(SECOND))
        return first, second, waiting

    try:
        first, second, waiting = asyncio.run(main())
    finally:
        pool.close()
        if backend.name == "process":  # it shares the host's /tmp
            Path("/tmp/left-behind.txt").unlink(missing_ok=True)
    assert first.status == "ok", first.error
    assert "left-behind.txt" in first.result["metrics"]["value"]
    assert second.status == "ok", second.error
    seen = second.result["metrics"]["value"]
    if backend.hides_files:  # bwrap: a private /tmp; process: Landlock keeps it out of the host's
        assert seen["tmp"] is False
    assert seen == {**seen, "files": ["candidate.py"], "env": False, "module": False, "sleepers": []}
    assert len(waiting) == 1 and waiting[0].spawned.proc.returncode is not None  # used, then gone
    assert _containers(backend) == []  # docker: every warm container removed, the one left waiting too


def _containers(backend) -> list:
    """This process's docker containers still there ([] for the other backends)."""
    if backend.name != "docker":
        return []
    from sandbox import container, owner
    return container._client().containers.list(all=True, filters={"label": f"{container.LABEL}={owner.tag()}"})


def test_warm_and_cold_give_the_same_result(backend):
    if not hasattr(backend, "start"):
        pytest.skip("a fork pool, not a warm one: tests/sandbox/test_fork_isolation.py")
    code = "def main():\n    import random\n    return random.random()\n"
    pool = WarmPool(backend, 1)
    try:
        warm = [asyncio.run(pool.run(_spec(code))) for _ in range(2)]
    finally:
        pool.close()
    cold = asyncio.run(backend.run(_spec(code)))
    assert cold.status == "ok" and all(w.status == "ok" for w in warm)
    assert {str(w.result) for w in warm} == {str(cold.result)}
