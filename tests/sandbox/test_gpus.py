"""GPU counting, `sandbox.gpus: auto`, and one evaluation per device (with a fake device count)."""
import asyncio

import pytest

import sandbox
from sandbox import gpus
from evolve.executor import LocalExecutor
from evolve.problem import load_problem
from tests.conftest import write_problem


def test_count_override(monkeypatch):
    monkeypatch.setenv(gpus.COUNT_ENV, "3")
    assert gpus.detect() == 3
    monkeypatch.setenv(gpus.COUNT_ENV, "many")
    with pytest.raises(ValueError, match="EVOLVE_GPU_COUNT"):
        gpus.detect()


def test_resolve_auto_and_too_many():
    assert gpus.resolve("auto", 0, "p.yaml") == 0
    assert gpus.resolve("auto", 4, "p.yaml") == 1
    assert gpus.resolve(2, 4, "p.yaml") == 2
    with pytest.raises(gpus.GpuError, match=r"p.yaml: key 'sandbox.gpus'.*no GPU.*auto"):
        gpus.resolve(1, 0, "p.yaml")


def test_pool_gives_each_evaluation_its_own_device():
    async def main():
        pool = gpus.DevicePool(2)
        held, peak, seen = set(), [0], []

        async def job():
            async with pool.devices(1) as devs:
                assert not held & set(devs)
                held.update(devs)
                seen.append(devs)
                peak[0] = max(peak[0], len(held))
                await asyncio.sleep(0.01)
                held.difference_update(devs)

        await asyncio.gather(*(job() for _ in range(8)))
        return peak[0], seen

    peak, seen = asyncio.run(main())
    assert peak == 2 and {d for devs in seen for d in devs} == {0, 1}


def _problem(tmp_path, gpus_value):
    folder = write_problem(tmp_path / "p")
    text = (folder / "problem.yaml").read_text().replace("memory_mb: 1024}", f"memory_mb: 1024, gpus: {gpus_value}}}")
    (folder / "problem.yaml").write_text(text)
    return load_problem(folder)


def test_executor_refuses_gpus_on_a_cpu_machine(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="problem.yaml: key 'sandbox.gpus' asks for 1 GPU"):
        LocalExecutor(_problem(tmp_path, 1), 2, gpu_count=0)


def test_executor_auto_without_gpu_tells_the_evaluator(tmp_path):
    ex = LocalExecutor(_problem(tmp_path, "auto"), 2, gpu_count=0)
    spec = ex._spec("x = 1", "evaluate", {})
    assert ex.gpus_per_run == 0 and spec.gpus == ()
    from sandbox.workdir import environment
    env = environment(spec, "/w")
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["EVOLVE_GPUS"] == "0"


def test_executor_assigns_distinct_devices(tmp_path, monkeypatch):
    ex = LocalExecutor(_problem(tmp_path, "auto"), 8, gpu_count=3)
    assert ex.gpus_per_run == 1
    seen, live, peak = [], set(), [0]

    class Fake:
        name = "fake"

        async def run(self, spec):
            assert not live & set(spec.gpus)
            live.update(spec.gpus)
            peak[0] = max(peak[0], len(live))
            seen.append(spec.gpus)
            await asyncio.sleep(0.01)
            live.difference_update(spec.gpus)
            from sandbox.spec import RunResult
            return RunResult("ok", 0, result={"metrics": {"valid": True, "closeness": 0.0}})

    ex.backend = Fake()

    async def main():
        await asyncio.gather(*(ex.evaluate("x = 1") for _ in range(9)))

    asyncio.run(main())
    assert peak[0] == 3 and sorted({g for s in seen for g in s}) == [0, 1, 2]
    assert all(len(s) == 1 for s in seen)


def test_bwrap_exposes_only_the_assigned_device_nodes(monkeypatch):
    from sandbox import bwrap
    from sandbox.spec import RunSpec

    present = {"/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"}
    real_exists = bwrap.os.path.exists
    monkeypatch.setattr(bwrap.os.path, "exists", lambda p: p in present or real_exists(p))
    argv = bwrap.command(RunSpec(argv=["python"], gpus=(1,)), "/tmp/work")
    binds = {argv[i + 1] for i, a in enumerate(argv) if a == "--dev-bind"}
    assert "/dev/nvidia1" in binds and "/dev/nvidiactl" in binds and "/dev/nvidia0" not in binds
    env = dict(zip(argv[argv.index("--clearenv") + 2::3], argv[argv.index("--clearenv") + 3::3]))
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    no_gpu = bwrap.command(RunSpec(argv=["python"]), "/tmp/work")
    assert "--dev-bind" not in no_gpu and "--unshare-net" in no_gpu


def test_timing_problem_without_gpu_runs_one_evaluation_at_a_time(tmp_path):
    folder = write_problem(tmp_path / "p")
    text = (folder / "problem.yaml").read_text().replace("memory_mb: 1024}", "memory_mb: 1024, timing: true}")
    (folder / "problem.yaml").write_text(text)
    quiet = LocalExecutor(load_problem(folder), 4, gpu_count=0)
    busy = LocalExecutor(_problem(tmp_path / "q", 0), 4, gpu_count=0)
    assert quiet.slots._value == 1 and busy.slots._value == 4


def test_bad_gpus_value_names_the_key(tmp_path):
    from evolve.problem import ProblemError
    with pytest.raises(ProblemError, match="sandbox.gpus"):
        _problem(tmp_path, "many")


def test_process_backend_grants_only_the_assigned_device_nodes(monkeypatch):
    from sandbox import confine, landlock, view
    from sandbox.spec import RunSpec
    present = {"/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"}
    real_exists = view.os.path.exists
    monkeypatch.setattr(view.os.path, "exists", lambda p: p in present or real_exists(p))
    granted = dict(confine.rules(RunSpec(argv=["python"], gpus=(1,)), "/tmp/work").paths)
    assert granted["/dev/nvidia1"] == granted["/dev/nvidiactl"] == landlock.DEVICE
    assert "/dev/nvidia0" not in granted and "/sys" in granted
    no_gpu = dict(confine.rules(RunSpec(argv=["python"]), "/tmp/work").paths)
    assert not any(p.startswith("/dev/nvidia") for p in no_gpu) and "/sys" not in no_gpu
    assert no_gpu["/tmp/work"] == landlock.WRITE and no_gpu["/dev/null"] == landlock.DEVICE
